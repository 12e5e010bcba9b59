// The account page as the SMART management_endpoint: the apps a user has authorised (scopes,
// patient in context, when authorised, when last used) and revoking one, over real TLS on SQLite
// with a frozen clock. The page in a real browser is test/browser/account-apps.test.ts.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fetch } from 'undici';
import { addUser } from '../../src/admin/users.js';
import { searchEvents } from '../../src/audit/search.js';
import { accountPage, type AuthorisedApp } from '../../src/interaction/pages.js';
import { describeScope } from '../../src/interaction/scope-descriptions.js';
import { escapeHtml } from '../../src/http/html.js';
import { Browser, hiddenCsrf, type Step } from '../support/browserless.js';
import { codeFlow, introspect, refresh, relyingParty, type Rp } from '../support/flows.js';
import { startTestStack, type TestStack } from '../support/stack.js';

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
async function authorise() {
  const browser = new Browser(rp.dispatcher);
  const flow = await codeFlow(rp, { browser, extra: { prompt: 'consent' } });
  const userId = await demoUserId();
  const consent = (await stack.ctx.storage.consents.listByUser(userId))[0]!;
  const grants = (await stack.ctx.storage.grants.listByUser(userId)).filter((g) => g.consentId === consent.id);
  expect(grants).toHaveLength(1);
  return { browser, flow, userId, consent, grant: grants[0]! };
}

/** The <li> of one consent on the account page. */
function card(page: Step, consentId: string): string {
  const start = page.body.indexOf(`<li class="app" aria-labelledby="app-${consentId}">`);
  if (start < 0) throw new Error(`no card for consent ${consentId} on ${page.url}`);
  return page.body.slice(start, page.body.indexOf('</form>\n</li>', start));
}

describe('the list of authorised apps', () => {
  test('each app shows its name, scopes with their descriptions, the patient, when it was authorised and when a token was last issued', async () => {
    const authorisedAt = clock;
    const { browser, flow, consent, grant, userId } = await authorise();
    // The demo user is linked to Patient/demo-1, so the flow's grant has that patient in context.
    expect(grant.launchContext?.patient).toBe('demo-1');
    // A later grant under the same consent with another patient in context (as an EHR launch
    // would make): the page lists every patient of the consent's grants, oldest first, ids only.
    clock += 60_000;
    await stack.ctx.storage.grants.create({
      grantId: `g_test_${consent.id}`, clientId: consent.clientId, userId, consentId: consent.id, createdAt: clock,
      revokedAt: null, revokedReason: null, launchContext: { patient: '123' },
    });

    clock += 7 * 60_000;
    const refreshed = await refresh(rp, flow.tokens.refresh_token!);
    expect(refreshed.status).toBe(200);
    expect((await stack.ctx.storage.grants.listByUser(userId)).find((g) => g.grantId === grant.grantId)!.lastUsedAt).toBe(clock);

    const page = await browser.request(`${stack.issuer}/account`);
    expect(page.status).toBe(200);
    const app = card(page, consent.id);
    expect(app).toContain('<h2 id="app-' + consent.id + '">Demo Patient App</h2>');
    for (const scope of consent.scopesGranted) {
      expect(app).toContain(`<span class="scope-name">${scope}</span>`);
      expect(app).toContain(escapeHtml(describeScope(scope)));
    }
    expect(consent.scopesGranted).toContain('patient/Patient.rs');
    expect(app).toContain('<dt>Data from</dt><dd>Demo FHIR server</dd>');
    expect(app).toContain(`<dt>Authorised</dt><dd>${shown(authorisedAt)}</dd>`);
    expect(app).toContain(`<dt>Last used</dt><dd>${shown(clock)}</dd>`);
    expect(app).toContain('<dt>Patient</dt><dd>Patient demo-1, Patient 123</dd>');
    // Ids only: no demographics are fetched for the page.
    expect(page.body).not.toMatch(/birthDate|family|given/i);
  });

  test('the page is not shown without a sign-in; it asks for one', async () => {
    const res = await fetch(`${stack.issuer}/account`, { dispatcher: rp.dispatcher });
    const body = await res.text();
    expect(res.status).toBe(200);
    expect(body).toContain('<h1>Sign in</h1>');
    expect(body).toContain('action="/account/login"');
    expect(body).toContain('Sign in to see and manage the apps connected to your account.');
    expect(body).not.toContain('is asking to connect');
    expect(body).not.toContain('Demo Patient App');
  });
});

describe('revoking an app', () => {
  test('revoking kills the access and refresh tokens of every grant of the consent, is audited, and moves the app to Revoked', async () => {
    const { browser, flow, consent, userId } = await authorise();
    const extra = `g_test2_${consent.id}`;
    await stack.ctx.storage.grants.create({ grantId: extra, clientId: consent.clientId, userId, consentId: consent.id, createdAt: clock, revokedAt: null, revokedReason: null });
    expect((await introspect(rp, flow.tokens.access_token)).json.active).toBe(true);

    clock += 60_000;
    const account = await browser.request(`${stack.issuer}/account`);
    const res = await browser.request(`${stack.issuer}/account/consents/${consent.id}/revoke`, { form: { csrf: hiddenCsrf(account) } });
    expect(res.status).toBe(200);
    expect(res.body).toContain('<p class="notice" role="status">Access revoked for Demo Patient App. The app can no longer use the tokens it had.</p>');
    expect(res.body).not.toContain(`/account/consents/${consent.id}/revoke`);
    expect(res.body).toContain(`<h2>Revoked access</h2>\n<ul class="revoked"><li><strong>Demo Patient App</strong><br><span class="muted">Authorised ${shown(consent.createdAt)}<br>Revoked ${shown(clock)}</span></li>`);

    expect((await introspect(rp, flow.tokens.access_token)).json).toEqual({ active: false });
    const again = await refresh(rp, flow.tokens.refresh_token!);
    expect(again.status).toBe(400);
    expect(again.json.error).toBe('invalid_grant');
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
});

describe('accountPage (rendering)', () => {
  const base: AuthorisedApp = {
    consentId: 'c1', appName: 'Fitness <Tracker>', scopes: ['openid', 'patient/Observation.rs'], resourceName: null, patients: [],
    authorisedAt: Date.UTC(2026, 10, 1, 9, 30, 15), lastUsedAt: null, revokedAt: null,
  };

  test('an app never used says Never, one without a patient says None, and names are escaped', () => {
    const body = accountPage({ csrf: 'x', apps: [base] });
    expect(body).toContain('<dt>Last used</dt><dd>Never</dd>');
    expect(body).toContain('<dt>Patient</dt><dd>None</dd>');
    expect(body).toContain('<dt>Authorised</dt><dd><time datetime="2026-11-01T09:30:15.000Z">2026-11-01 09:30 UTC</time></dd>');
    expect(body).toContain('<h2 id="app-c1">Fitness &lt;Tracker&gt;</h2>');
    expect(body).toContain('aria-label="Revoke access for Fitness &lt;Tracker&gt;"');
    expect(body).not.toContain('Data from');
    expect(body).not.toContain('<h2>Revoked access</h2>');
  });

  test('with no apps the page says so; revoked apps are listed apart, newest ten only', () => {
    const revoked = Array.from({ length: 12 }, (_, i) => ({ ...base, consentId: `r${i}`, appName: `App ${i}`, revokedAt: base.authorisedAt + 1000 }));
    const body = accountPage({ csrf: 'x', apps: revoked });
    expect(body).toContain('<p>No app has access to your information.</p>');
    expect(body).not.toContain('/revoke"');
    expect(body.match(/<li><strong>App \d+<\/strong>/g)).toHaveLength(10);
    expect(body).not.toContain('App 10');
  });
});
