// The account page as the SMART management_endpoint: one entry per app and patient however many
// times it was authorised (scopes, the patient named where the user may see them, when authorised,
// when last used), emergency access marked apart, ended access aged out into a short history, and
// revoking an entry (303 back to the page, which says so once). Over real TLS on SQLite with a
// frozen clock. The page in a real browser is test/browser/account-apps.test.ts.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fetch } from 'undici';
import { addUser } from '../../src/admin/users.js';
import { searchEvents } from '../../src/audit/search.js';
import { accountPage, type AccessCard } from '../../src/interaction/account-page.js';
import { groupAccess } from '../../src/interaction/account-access.js';
import { describeScope } from '../../src/interaction/scope-descriptions.js';
import { escapeHtml } from '../../src/http/html.js';
import type { ConsentRecord, GrantRecord } from '../../src/storage/types.js';
import { Browser, formAction, hiddenCsrf, type Step } from '../support/browserless.js';
import { codeFlow, introspect, refresh, relyingParty, type Rp } from '../support/flows.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { codeFor, manualSecret } from '../identity/support.js';

const PASSWORD = 'correct horse battery staple';

let stack: TestStack;
let rp: Rp;
// Whole minutes, so the page's minute-precision times are exact.
let clock = Math.floor(Date.now() / 60_000) * 60_000;

beforeAll(async () => {
  stack = await startTestStack({ context: { now: () => clock } });
  rp = await relyingParty(stack);
});
afterAll(async () => stack?.close());

const shown = (ms: number) => `<time datetime="${new Date(ms).toISOString()}">${new Date(ms).toISOString().replace('T', ' ').slice(0, 16)} UTC</time>`;
const demoUserId = async () => (await stack.ctx.storage.users.getByUsername(stack.demo.username))!.id;

/** The demo user authorises the demo app (a fresh consent) and exchanges the code; the browser stays signed in. */
async function authorise(browser = new Browser(rp.dispatcher)) {
  const flow = await codeFlow(rp, { browser, extra: { prompt: 'consent' } });
  const userId = await demoUserId();
  const consent = (await stack.ctx.storage.consents.listByUser(userId))[0]!;
  const grants = (await stack.ctx.storage.grants.listByUser(userId)).filter((g) => g.consentId === consent.id);
  expect(grants).toHaveLength(1);
  return { browser, flow, userId, consent, grant: grants[0]! };
}

/** Revokes every active consent of the demo user, so each test starts from an empty page. */
async function revokeAll() {
  const userId = await demoUserId();
  for (const c of await stack.ctx.storage.consents.listByUser(userId)) if (c.revokedAt === null) await stack.ctx.storage.consents.revoke(c.id, clock);
}

/** The <li> of one entry on the account page, by its newest consent. */
function card(page: Step, consentId: string): string {
  const start = page.body.indexOf(`aria-labelledby="app-${consentId}">`);
  if (start < 0) throw new Error(`no card for consent ${consentId} on ${page.url}`);
  return page.body.slice(start, page.body.indexOf('</form>\n</li>', start));
}

const cardCount = (page: Step) => page.body.match(/<li class="app[^"]*" aria-labelledby=/g)?.length ?? 0;

describe('the list of authorised apps', () => {
  test('an entry shows the app, scopes with their descriptions, the patient by name (read as the user, audited), when authorised and last used', async () => {
    await revokeAll();
    const authorisedAt = clock;
    const { browser, flow, consent, grant, userId } = await authorise();
    // The demo user is linked to Patient/demo-1, so the flow's grant has that patient in context.
    expect(grant.launchContext?.patient).toBe('demo-1');
    clock += 7 * 60_000;
    const refreshed = await refresh(rp, flow.tokens.refresh_token!);
    expect(refreshed.status).toBe(200);

    const since = clock;
    const page = await browser.request(`${stack.issuer}/account`);
    expect(page.status).toBe(200);
    const app = card(page, consent.id);
    expect(app).toContain(`<h3 id="app-${consent.id}">Demo Patient App</h3>`);
    for (const scope of consent.scopesGranted) {
      expect(app).toContain(`<span class="scope-name">${scope}</span>`);
      expect(app).toContain(escapeHtml(describeScope(scope)));
    }
    expect(app).toContain('<dt>Data from</dt><dd>Demo FHIR server</dd>');
    expect(app).toContain(`<dt>Authorised</dt><dd>${shown(authorisedAt)}</dd>`);
    expect(app).toContain(`<dt>Last used</dt><dd>${shown(clock)}</dd>`);
    // The patient's name and birth date, read from the FHIR server as this user (their own record in context)...
    expect(app).toMatch(/<dt>Patient<\/dt><dd>Alder Synthetic \(born \d{4}-\d\d-\d\d\) <span class="scope-name">\(Patient demo-1\)<\/span><\/dd>/);
    // ...and that read is in the ledger before the page was sent.
    const reads = (await searchEvents(stack.ctx.storage.sql, { type: 'phi.accessed', actor: userId, since, limit: 10 })).filter((e) => e.details?.purpose === 'account_page');
    expect(reads).toHaveLength(1);
    expect(reads[0]).toMatchObject({ patient: 'Patient/demo-1', outcome: 'success' });
    // The times are localised by the page script, which this page loads under a CSP that allows same-origin script only.
    expect(page.body).toContain('<script src="/static/caduceus.js" defer></script>');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(page.headers.get('content-security-policy')).not.toMatch(/unsafe-inline|nonce-/);
  });

  test('eleven authorisations of one app are one entry that says so; revoking it revokes them all', async () => {
    await revokeAll();
    const browser = new Browser(rp.dispatcher);
    let latest!: Awaited<ReturnType<typeof authorise>>;
    const first = clock;
    for (let i = 0; i < 11; i++) {
      latest = await authorise(browser);
      clock += 60_000;
    }
    const page = await browser.request(`${stack.issuer}/account`);
    expect(cardCount(page)).toBe(1);
    const app = card(page, latest.consent.id);
    expect(app).toContain(`<dt>Authorised</dt><dd>11 times, most recently ${shown(latest.consent.createdAt)}</dd>`);
    expect(first).toBeLessThan(latest.consent.createdAt);

    const since = clock;
    const res = await browser.request(`${stack.issuer}/account/consents/${latest.consent.id}/revoke`, { form: { csrf: hiddenCsrf(page) } });
    expect(res.status).toBe(303);
    expect(res.location).toBe(`${stack.issuer}/account`);
    const events = await searchEvents(stack.ctx.storage.sql, { type: 'consent.revoked', actor: latest.userId, since, limit: 20 });
    expect(events).toHaveLength(11);
    expect((await stack.ctx.storage.consents.listByUser(latest.userId)).filter((c) => c.revokedAt === null)).toEqual([]);
    expect((await introspect(rp, latest.flow.tokens.access_token)).json).toEqual({ active: false });
  });
});

describe('revoking an entry', () => {
  test('303 back to the page, which says what was done once; a reload does not repeat the POST; tokens stop working', async () => {
    await revokeAll();
    const { browser, flow, consent, userId } = await authorise();
    const extra = `g_test2_${consent.id}`;
    await stack.ctx.storage.grants.create({ grantId: extra, clientId: consent.clientId, userId, consentId: consent.id, createdAt: clock, revokedAt: null, revokedReason: null });
    expect((await introspect(rp, flow.tokens.access_token)).json.active).toBe(true);

    clock += 60_000;
    const account = await browser.request(`${stack.issuer}/account`);
    const res = await browser.request(`${stack.issuer}/account/consents/${consent.id}/revoke`, { form: { csrf: hiddenCsrf(account) } });
    expect(res.status).toBe(303);
    expect(res.location).toBe(`${stack.issuer}/account`);
    expect(res.body).toBe('');
    const after = await browser.request(res.location!);
    expect(after.body).toContain('<p class="notice" role="status">Access revoked for Demo Patient App. The app can no longer use the tokens it had.</p>');
    expect(after.body).not.toContain(`/account/consents/${consent.id}/revoke`);
    expect(after.body).toContain(`<h2>Ended access</h2>\n<ul class="revoked"><li><strong>Demo Patient App</strong>`);
    expect(after.body).toContain(`Revoked ${shown(clock)}`);
    // The notice was for that one page: a reload shows the page without it.
    const reload = await browser.request(`${stack.issuer}/account`);
    expect(reload.body).not.toContain('Access revoked for');

    expect((await introspect(rp, flow.tokens.access_token)).json).toEqual({ active: false });
    const again = await refresh(rp, flow.tokens.refresh_token!);
    expect(again.status).toBe(400);
    expect((await stack.ctx.storage.grants.get(extra))!).toMatchObject({ revokedAt: clock, revokedReason: 'consent_revoked' });
    const events = await searchEvents(stack.ctx.storage.sql, { type: 'consent.revoked', actor: userId, since: clock, limit: 10 });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ outcome: 'success', consentId: consent.id, actor: { userId, clientId: consent.clientId }, details: { grants_revoked: 2 } });
  });

  test('another user cannot revoke a consent that is not theirs: 404, and the consent and its tokens stay active', async () => {
    const { flow, consent } = await authorise();
    await addUser({ storage: stack.ctx.storage, audit: stack.ctx.audit, now: stack.ctx.now, actor: 'test' }, { username: 'pat.other', password: PASSWORD, role: 'patient' });
    const other = new Browser(rp.dispatcher);
    const login = await other.request(`${stack.issuer}/account`);
    const signedIn = await other.request(`${stack.issuer}/account/login`, { form: { csrf: hiddenCsrf(login), username: 'pat.other', password: PASSWORD } });
    expect(signedIn.location).toBe(`${stack.issuer}/account`);
    const own = await other.request(`${stack.issuer}/account`);
    expect(own.body).toContain('No app has access to your information.');
    expect(own.body).not.toContain(consent.id);

    const res = await other.request(`${stack.issuer}/account/consents/${consent.id}/revoke`, { form: { csrf: hiddenCsrf(own) } });
    expect(res.status).toBe(404);
    expect(res.body).toContain('There is no such consent.');
    expect((await stack.ctx.storage.consents.get(consent.id))!.revokedAt).toBeNull();
    expect((await introspect(rp, flow.tokens.access_token)).json.active).toBe(true);
  });

  test('a revocation without the page\'s CSRF token is refused with 403 and revokes nothing', async () => {
    const { browser, consent } = await authorise();
    const res = await browser.request(`${stack.issuer}/account/consents/${consent.id}/revoke`, { form: { csrf: 'forged' } });
    expect(res.status).toBe(403);
    expect(res.body).toContain('The form could not be verified.');
    expect((await stack.ctx.storage.consents.get(consent.id))!.revokedAt).toBeNull();
  });

  test('the page is not shown without a sign-in; it asks for one', async () => {
    const res = await fetch(`${stack.issuer}/account`, { dispatcher: rp.dispatcher });
    const body = await res.text();
    expect(res.status).toBe(200);
    expect(body).toContain('<h1>Sign in</h1>');
    expect(body).toContain('action="/account/login"');
    expect(body).not.toContain('Demo Patient App');
  });
});

describe('emergency access on the account page', () => {
  test('is marked and listed first while it lasts, then ages out into the history (and its patient is no longer named)', async () => {
    const doctor = await addUser({ storage: stack.ctx.storage, audit: stack.ctx.audit, now: stack.ctx.now, actor: 'test' }, { username: 'dr.account', password: PASSWORD, role: 'practitioner' });
    await stack.ctx.storage.users.setPatientPanel(doctor.id, ['demo-1']);
    // The practitioner signs in on /account (second step enrolled on the way).
    const browser = new Browser(rp.dispatcher);
    const origin = new URL(stack.issuer).origin;
    const login = await browser.request(`${stack.issuer}/account`);
    const enrol = await browser.follow(formAction(login), origin, { form: { csrf: hiddenCsrf(login), username: 'dr.account', password: PASSWORD } });
    const codes = await browser.follow(`${origin}/login/mfa/enroll/totp`, new URL(stack.issuer).origin, { form: { csrf: hiddenCsrf(enrol), code: codeFor(manualSecret(enrol), clock) } });
    expect(codes.status).toBe(200);
    // An emergency grant for demo-3 and an ordinary one for demo-1, as the consent page records them.
    const consent = (id: string): ConsentRecord => ({
      id, userId: doctor.id, clientId: stack.demo.client_id, scopesGranted: ['patient/Observation.rs'], scopesDenied: [], resource: stack.demo.resource,
      createdAt: clock, clientAddress: '127.0.0.1', userAgent: 'test', textVersion: 'v1', revokedAt: null,
    });
    await stack.ctx.storage.consents.create(consent('c_ordinary'));
    await stack.ctx.storage.grants.create({ grantId: 'g_ordinary', clientId: stack.demo.client_id, userId: doctor.id, consentId: 'c_ordinary', createdAt: clock, revokedAt: null, revokedReason: null, launchContext: { patient: 'demo-1' } });
    clock += 1000;
    await stack.ctx.storage.consents.create({ ...consent('c_emergency'), createdAt: clock });
    await stack.ctx.storage.grants.create({
      grantId: 'g_emergency', clientId: stack.demo.client_id, userId: doctor.id, consentId: 'c_emergency', createdAt: clock, revokedAt: null, revokedReason: null,
      launchContext: { patient: 'demo-3', purposeOfUse: 'ETREAT', breakGlassId: 'bg_test' },
    });

    const during = await browser.request(`${stack.issuer}/account`);
    expect(during.body.indexOf('<h2>Emergency access</h2>')).toBeGreaterThan(0);
    expect(during.body.indexOf('<h2>Emergency access</h2>')).toBeLessThan(during.body.indexOf('<h2>Apps</h2>'));
    const emergency = card(during, 'c_emergency');
    expect(during.body).toContain('<li class="app emergency" aria-labelledby="app-c_emergency">');
    expect(emergency).toContain('<span class="emergency-badge">Emergency access</span> Demo Patient App');
    // Named while the emergency access lasts (the practitioner may see that patient now).
    expect(emergency).toMatch(/<dd>Cedar Fixture \(born 1973-09-01\) <span class="scope-name">\(Patient demo-3\)<\/span><\/dd>/);
    // The code was never redeemed: it can be until authorization_code_ttl, and that is when the access ends.
    expect(emergency).toContain(`<dt>Ends</dt><dd>${shown(clock + stack.ctx.config.tokens.authorization_code_ttl * 1000)}</dd>`);
    expect(emergency).toContain('aria-label="End emergency access for Demo Patient App for Cedar Fixture (born 1973-09-01)">End emergency access</button>');

    clock += 5 * 60_000;
    const later = await browser.request(`${stack.issuer}/account`);
    expect(later.body).not.toContain('<h2>Emergency access</h2>');
    expect(later.body).not.toContain('app-c_emergency');
    expect(later.body).toMatch(/<h2>Ended access<\/h2>\n<ul class="revoked"><li><strong>Emergency access: Demo Patient App<\/strong><br>Patient demo-3<br>/);
    expect(later.body).toContain(`Ended ${shown(clock - 5 * 60_000 + stack.ctx.config.tokens.authorization_code_ttl * 1000)}`);
    // The ordinary authorisation's code was never redeemed either, and the newer emergency consent is
    // never reused: it aged out too. Its patient is on the panel, so still named.
    expect(cardCount(later)).toBe(0);
    expect(later.body).toMatch(/<li><strong>Demo Patient App<\/strong><br>Alder Synthetic \(born \d{4}-\d\d-\d\d\) <span class="scope-name">\(Patient demo-1\)<\/span>/);
  });
});

describe('grouping (pure)', () => {
  const policy = { tokens: { access_token_ttl: 300, authorization_code_ttl: 60, refresh_token_idle_ttl: 86_400, refresh_token_absolute_ttl: 2_592_000 }, breakglassTtlSeconds: 900 };
  const T = Date.UTC(2026, 0, 1);
  const consent = (id: string, createdAt: number, o: Partial<ConsentRecord> = {}): ConsentRecord => ({
    id, userId: 'u', clientId: 'app', scopesGranted: ['openid', 'offline_access', 'patient/Observation.rs'], scopesDenied: [], resource: 'https://fhir', createdAt,
    clientAddress: '', userAgent: '', textVersion: 'v1', revokedAt: null, ...o,
  });
  const grant = (id: string, consentId: string, createdAt: number, o: Partial<GrantRecord> = {}): GrantRecord => ({
    grantId: id, clientId: 'app', userId: 'u', consentId, createdAt, revokedAt: null, revokedReason: null, launchContext: { patient: 'p1' }, lastUsedAt: createdAt, ...o,
  });

  test('an older consent whose tokens are all dead ages out; the newest (the one a new authorization reuses) stays', () => {
    const consents = [consent('c2', T + 10 * 86_400_000), consent('c1', T)];
    const grants = [grant('g2', 'c2', T + 10 * 86_400_000), grant('g1', 'c1', T)];
    const { current, ended } = groupAccess(consents, grants, policy, T + 10 * 86_400_000 + 1000);
    expect(current.map((e) => [e.id, e.authorisations])).toEqual([['c2', 1]]);
    expect(ended.map((e) => [e.id, e.ended, e.endsAt])).toEqual([['c1', 'expired', T + 86_400_000 + 300_000]]);
  });

  test('refused consents are not listed; emergency access is never the reusable consent', () => {
    const consents = [consent('refused', T + 2, { scopesGranted: [], revokedAt: T + 2 }), consent('bg', T + 1)];
    const grants = [grant('gb', 'bg', T + 1, { launchContext: { patient: 'p9', purposeOfUse: 'ETREAT' } })];
    const during = groupAccess(consents, grants, policy, T + 1 + 899_000);
    expect(during.current.map((e) => [e.id, e.emergency, e.endsAt])).toEqual([['bg', true, T + 1 + 900_000]]);
    expect(during.ended).toEqual([]);
    const after = groupAccess(consents, grants, policy, T + 1 + 900_000);
    expect(after.current).toEqual([]);
    expect(after.ended.map((e) => [e.id, e.ended])).toEqual([['bg', 'expired']]);
  });
});

describe('accountPage (rendering)', () => {
  const base: AccessCard = {
    id: 'c1', clientId: 'fit', resource: null, emergency: false, patients: [], scopes: ['openid', 'patient/Observation.rs'], authorisations: 1,
    firstAuthorisedAt: Date.UTC(2026, 10, 1, 9, 30, 15), lastAuthorisedAt: Date.UTC(2026, 10, 1, 9, 30, 15), lastUsedAt: null, endsAt: null, consentIds: ['c1'],
    appName: 'Fitness <Tracker>', resourceName: null, agent: false, labels: new Map(),
  };

  test('an app never used says Never, one without a patient says None, and names are escaped', () => {
    const body = accountPage({ csrf: 'x', current: [base], ended: [] });
    expect(body).toContain('<dt>Last used</dt><dd>Never</dd>');
    expect(body).toContain('<dt>Patient</dt><dd>None</dd>');
    expect(body).toContain('<dt>Authorised</dt><dd><time datetime="2026-11-01T09:30:15.000Z">2026-11-01 09:30 UTC</time></dd>');
    expect(body).toContain('<h3 id="app-c1">Fitness &lt;Tracker&gt;</h3>');
    expect(body).toContain('aria-label="Revoke access for Fitness &lt;Tracker&gt;"');
    expect(body).not.toContain('Data from');
    expect(body).not.toContain('<h2>Ended access</h2>');
  });

  test('with no apps the page says so; ended access is listed apart, newest ten only', () => {
    const ended = Array.from({ length: 12 }, (_, i) => ({ ...base, id: `r${i}`, appName: `App ${i}`, ended: 'revoked' as const, endsAt: base.lastAuthorisedAt + 1000 }));
    const body = accountPage({ csrf: 'x', current: [], ended });
    expect(body).toContain('<p>No app has access to your information.</p>');
    expect(body).not.toContain('/revoke"');
    expect(body.match(/<li><strong>App \d+<\/strong>/g)).toHaveLength(10);
    expect(body).not.toContain('App 10');
  });
});
