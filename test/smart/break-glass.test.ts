// Emergency access (break-glass, 45 CFR 164.312(a)(2)(ii)) end to end over real TLS: a
// practitioner with the permission, signed in with a second factor, asks for a patient outside
// their panel with a reason. The token lives breakglass.token_ttl_seconds, has no refresh token,
// carries purpose_of_use ETREAT (token, response, introspection); the ledger flags it, the webhook
// hears of it, and the access stays open for review. Refusals: no permission, no second factor,
// no or short reason, a malformed patient id. Minimum necessary: user/ scopes become patient/
// scopes of the emergency patient and write permissions are dropped (unless unsafe.breakglass_write),
// and the gateway holds the token to that.
import { openAccessText } from '../../src/breakglass/sealed-text.js';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { decodeJwt } from 'jose';
import { searchEvents } from '../../src/audit/search.js';
import { Browser, formAction, hiddenCsrf, type Step } from '../support/browserless.js';
import { authorizationUrl, introspect, relyingParty, type Rp } from '../support/flows.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { PASSWORD, codeFor, createUser, errorText, exchange, manualSecret } from '../identity/support.js';

let stack: TestStack;
let rp: Rp;
let webhook: Server;
const received: Array<{ body: string; headers: IncomingMessage['headers'] }> = [];
let clock = Math.floor(Date.now() / 30_000) * 30_000 + 10_000;
const SCOPE = 'openid offline_access launch/patient patient/Observation.rs';
/** An app asking for every patient's records, with write access. */
const USER_SCOPE = 'openid launch/patient user/Observation.cruds user/Patient.rs';

beforeAll(async () => {
  webhook = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => { received.push({ body, headers: req.headers }); res.writeHead(204).end(); });
  });
  await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
  const port = (webhook.address() as { port: number }).port;
  stack = await startTestStack({
    context: { now: () => clock },
    configure: (c) => {
      c.breakglass.webhook_url = `http://127.0.0.1:${port}/breakglass`;
      c.login.max_failures_per_address = 1000;
      c.resources[0]!.scopes.push('user/Observation.cruds', 'user/Patient.rs');
    },
  });
  rp = await relyingParty(stack);
  const app = (await stack.ctx.storage.clients.get(stack.demo.client_id))!;
  await stack.ctx.storage.clients.upsert({ ...app, scope: `${app.scope} launch/patient user/Observation.cruds user/Patient.rs` });
});
afterAll(async () => {
  await stack?.close();
  webhook?.close();
});

/** Signs a practitioner in with password and a freshly enrolled TOTP; resolves the consent page. */
async function signInWithTotp(username: string, scope = SCOPE): Promise<{ browser: Browser; consent: Step; verifier: string }> {
  const origin = new URL(stack.issuer).origin;
  const browser = new Browser(rp.dispatcher);
  const req = await authorizationUrl(rp, { scope });
  const login = await browser.follow(req.url.href, origin);
  const enrol = await browser.follow(formAction(login), origin, { form: { csrf: hiddenCsrf(login), username, password: PASSWORD } });
  expect(enrol.url).toBe(`${origin}/login/mfa/enroll`);
  const codes = await browser.follow(new URL('/login/mfa/enroll/totp', origin).href, new URL(stack.issuer).origin, { form: { csrf: hiddenCsrf(enrol), code: codeFor(manualSecret(enrol), clock) } });
  expect(codes.status).toBe(200);
  const href = /<a class="button primary" href="([^"]+)"/.exec(codes.body)![1]!;
  const consent = await browser.follow(new URL(href, origin).href, origin);
  expect(consent.body).toContain('name="decision"');
  return { browser, consent, verifier: req.verifier };
}

const breakGlassForm = (consent: Step, patient: string, reason: string) => ({
  csrf: hiddenCsrf(consent), decision: 'breakglass', bg_patient: patient, bg_reason: reason,
});

/** A new practitioner with the permission takes emergency access to demo-3 for an app asking `scope`. */
async function emergencyAccess(username: string, scope: string) {
  const user = await createUser(stack, username, 'practitioner');
  await stack.ctx.storage.users.setBreakGlass(user.id, true);
  const { browser, consent, verifier } = await signInWithTotp(username, scope);
  const redirect = await browser.request(formAction(consent), { form: breakGlassForm(consent, 'demo-3', 'Anaphylaxis in the ED, allergy list needed') });
  expect(redirect.status).toBe(303);
  const tokens = await exchange(rp, redirect, verifier);
  expect(tokens.status).toBe(200);
  return { user, consent, tokens };
}

/** A FHIR request through the gateway; resolves the status, the body and the WWW-Authenticate challenge. */
async function fhir(token: string, path: string, o: { method?: string; body?: unknown } = {}) {
  const res = await fetch(`${stack.issuer}/fhir${path}`, {
    method: o.method ?? 'GET',
    headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json', ...(o.body !== undefined ? { 'content-type': 'application/fhir+json' } : {}) },
    ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}),
    dispatcher: rp.dispatcher,
  });
  const text = await res.text();
  const json = text ? JSON.parse(text) : undefined;
  return { status: res.status, json, challenge: res.headers.get('www-authenticate'), issue: { error: json?.issue?.[0]?.diagnostics, description: json?.issue?.[0]?.details?.text } };
}

const observation = (patient: string, id?: string) => ({
  resourceType: 'Observation', ...(id ? { id } : {}), status: 'final', code: { text: 'emergency note' }, subject: { reference: `Patient/${patient}` },
});
const latestDenial = async (userId: string) => (await searchEvents(stack.ctx.storage.sql, { type: 'phi.denied', actor: userId, limit: 1 }))[0];

describe('break-glass', () => {
  test('an emergency access gives a 15-minute token without refresh, marked ETREAT, flagged in the ledger and sent to the webhook', async () => {
    const user = await createUser(stack, 'dr.emergency', 'practitioner');
    await stack.ctx.storage.users.setBreakGlass(user.id, true);
    const { browser, consent, verifier } = await signInWithTotp('dr.emergency');
    expect(consent.body).toContain('Emergency access to another patient');

    const redirect = await browser.request(formAction(consent), { form: breakGlassForm(consent, 'Patient/demo-3', 'Unconscious in the ED, no panel physician on call') });
    expect(redirect.status).toBe(303);
    const tokens = await exchange(rp, redirect, verifier);
    expect(tokens.status).toBe(200);
    expect(tokens.json).toMatchObject({ patient: 'demo-3', purpose_of_use: 'ETREAT', expires_in: 900, need_patient_banner: true });
    // offline_access was granted, yet no refresh token: emergency access is never renewed.
    expect(tokens.json.scope).toContain('offline_access');
    expect(tokens.json.refresh_token).toBeUndefined();
    const claims = decodeJwt(tokens.json.access_token);
    expect(claims).toMatchObject({ patient: 'demo-3', purpose_of_use: 'ETREAT' });
    expect(claims.exp! - claims.iat!).toBe(900);
    expect((await introspect(rp, tokens.json.access_token)).json).toMatchObject({ active: true, patient: 'demo-3', purpose_of_use: 'ETREAT' });

    const [open] = (await stack.ctx.storage.breakGlass.listOpen()).filter((a) => a.userId === user.id);
    expect(open).toMatchObject({ patient: 'demo-3', clientId: stack.demo.client_id, reviewedAt: null });
    // The reason is sealed at rest (it may describe the patient's condition) and opens for this access only.
    expect(open!.reason).not.toContain('Unconscious');
    expect(openAccessText(stack.ctx.masterKey, open!.id, 'reason', open!.reason)).toBe('Unconscious in the ED, no panel physician on call');
    expect(() => openAccessText(stack.ctx.masterKey, 'bg_other', 'reason', open!.reason)).toThrow();
    expect(open!.expiresAt - open!.createdAt).toBe(900_000);

    const [granted] = await searchEvents(stack.ctx.storage.sql, { type: 'breakglass.granted', actor: user.id, limit: 1 });
    expect(granted).toMatchObject({ patient: 'Patient/demo-3', grantId: open!.grantId, details: { breakglass_id: open!.id, purpose_of_use: 'ETREAT' } });
    // The reason is evidence for the reviewer, kept out of the ledger and the webhook.
    expect(JSON.stringify(granted)).not.toContain('Unconscious');
    const [issued] = await searchEvents(stack.ctx.storage.sql, { type: 'token.issued', actor: user.id, limit: 1 });
    expect(issued).toMatchObject({ patient: 'Patient/demo-3', details: { break_glass: true, purpose_of_use: 'ETREAT' } });

    // Every use through the gateway is flagged on its ledger event.
    const read = await fetch(`${stack.issuer}/fhir/Observation?patient=demo-3`, {
      headers: { authorization: `Bearer ${tokens.json.access_token}`, accept: 'application/fhir+json' }, dispatcher: rp.dispatcher,
    });
    expect(read.status).toBe(200);
    await read.arrayBuffer();
    const [used] = await searchEvents(stack.ctx.storage.sql, { type: 'phi.accessed', actor: user.id, limit: 1 });
    expect(used).toMatchObject({ patient: 'Patient/demo-3', details: { break_glass: true, purpose_of_use: 'ETREAT' } });

    await expect.poll(() => received.length).toBeGreaterThan(0);
    const payload = JSON.parse(received.at(-1)!.body);
    expect(payload).toMatchObject({ type: 'breakglass.granted', id: open!.id, user_id: user.id, patient: 'Patient/demo-3' });
    expect(received.at(-1)!.body).not.toContain('Unconscious');
    expect(received.at(-1)!.headers['x-caduceus-signature']).toMatch(/^sha256=[0-9a-f]{64}$/);
  });

  test('without the permission, without a second factor, without a reason or with a bad patient id, it is refused', async () => {
    // No permission: the form is not offered, and a forged post gets 403.
    await createUser(stack, 'dr.nopermission', 'practitioner');
    const plain = await signInWithTotp('dr.nopermission');
    expect(plain.consent.body).not.toContain('Emergency access');
    const forged = await plain.browser.request(formAction(plain.consent), { form: breakGlassForm(plain.consent, 'demo-3', 'A long enough reason here') });
    expect(forged.status).toBe(403);
    expect(errorText(forged)).toBe('Your account does not have emergency access permission.');

    const user = await createUser(stack, 'dr.careless', 'practitioner');
    await stack.ctx.storage.users.setBreakGlass(user.id, true);
    const { browser, consent } = await signInWithTotp('dr.careless');
    const short = await browser.request(formAction(consent), { form: breakGlassForm(consent, 'demo-3', 'urgent') });
    expect(short.status).toBe(400);
    expect(errorText(short)).toBe('State the reason for emergency access (10 to 1000 characters).');
    const badId = await browser.request(formAction(consent), { form: breakGlassForm(consent, 'demo 3; drop', 'A long enough reason here') });
    expect(badId.status).toBe(400);
    expect(errorText(badId)).toBe('Enter the patient record id: letters, digits, hyphens and dots only.');
    expect((await stack.ctx.storage.breakGlass.listOpen()).filter((a) => a.userId === user.id)).toHaveLength(0);

    // An app that asks only to write gets nothing from a read-only emergency access: refused, nothing recorded.
    const writerUser = await createUser(stack, 'dr.writeonly', 'practitioner');
    await stack.ctx.storage.users.setBreakGlass(writerUser.id, true);
    const writer = await signInWithTotp('dr.writeonly', 'openid launch/patient user/Observation.cud');
    const writeOnly = await writer.browser.request(formAction(writer.consent), { form: breakGlassForm(writer.consent, 'demo-3', 'A long enough reason here') });
    expect(writeOnly.status).toBe(400);
    expect(errorText(writeOnly)).toBe('Emergency access is read-only, and this app asked for no access to read patient data.');
    expect((await stack.ctx.storage.breakGlass.listOpen()).filter((a) => a.userId === writerUser.id)).toHaveLength(0);

    // Password only (the practitioner role's MFA requirement lifted): emergency access still needs a second factor.
    stack.ctx.config.mfa.required_roles = [];
    try {
      const pwOnly = await createUser(stack, 'dr.passwordonly', 'practitioner');
      await stack.ctx.storage.users.setBreakGlass(pwOnly.id, true);
      const origin = new URL(stack.issuer).origin;
      const b = new Browser(rp.dispatcher);
      const req = await authorizationUrl(rp, { scope: SCOPE });
      const login = await b.follow(req.url.href, origin);
      const page = await b.follow(formAction(login), origin, { form: { csrf: hiddenCsrf(login), username: 'dr.passwordonly', password: PASSWORD } });
      const refused = await b.request(formAction(page), { form: breakGlassForm(page, 'demo-3', 'A long enough reason here') });
      expect(refused.status).toBe(403);
      expect(errorText(refused)).toBe('Emergency access needs two-step verification. Sign in again with your authenticator or passkey.');
    } finally {
      stack.ctx.config.mfa.required_roles = ['practitioner', 'administrator'];
    }
  });
  test('an app asking for user/ and write scopes gets read-only patient/ scopes for the emergency patient, and the gateway holds it to them', async () => {
    const { user, consent, tokens } = await emergencyAccess('dr.readonly', USER_SCOPE);
    expect(consent.body).toContain('Emergency access is read-only and limited to that patient.');
    const narrowed = 'openid launch/patient patient/Observation.rs patient/Patient.rs';
    expect(tokens.json).toMatchObject({ scope: narrowed, patient: 'demo-3', purpose_of_use: 'ETREAT' });
    expect(decodeJwt(tokens.json.access_token).scope).toBe(narrowed);
    expect((await introspect(rp, tokens.json.access_token)).json).toMatchObject({ active: true, scope: narrowed, patient: 'demo-3' });

    // The consent record, the grant's code and every ledger event show what was granted, not what was asked.
    const record = await stack.ctx.storage.consents.findActive(user.id, stack.demo.client_id, stack.demo.resource);
    expect(record).toMatchObject({ scopesGranted: narrowed.split(' '), scopesDenied: ['user/Observation.cruds', 'user/Patient.rs'] });
    const scopes = { requested: USER_SCOPE.split(' '), granted: narrowed.split(' ') };
    for (const type of ['consent.granted', 'breakglass.granted', 'authz.code_issued'] as const) {
      const [event] = await searchEvents(stack.ctx.storage.sql, { type, actor: user.id, limit: 1 });
      expect(event, type).toMatchObject({ consentId: record!.id, scopes });
    }
    const [issued] = await searchEvents(stack.ctx.storage.sql, { type: 'token.issued', actor: user.id, limit: 1 });
    expect(issued!.scopes).toEqual({ granted: narrowed.split(' ') });

    const token = tokens.json.access_token;
    // Writes: no c or u letter was granted, so the gateway refuses before the upstream is asked.
    const created = await fhir(token, '/Observation', { method: 'POST', body: observation('demo-3') });
    expect(created.status).toBe(403);
    expect(created.issue).toEqual({ error: 'insufficient_scope', description: 'the access token does not carry a scope that allows this request' });
    expect(created.challenge).toContain('error="insufficient_scope"');
    expect(created.challenge).toContain('scope="patient/Observation.c"');
    expect(await latestDenial(user.id)).toMatchObject({ reason: 'ERR_INSUFFICIENT_SCOPE', action: 'create', details: { break_glass: true, purpose_of_use: 'ETREAT' } });
    const updated = await fhir(token, '/Observation/obs-3-1', { method: 'PUT', body: observation('demo-3', 'obs-3-1') });
    expect(updated.status).toBe(403);
    expect(updated.issue.error).toBe('insufficient_scope');
    expect(updated.challenge).toContain('scope="patient/Observation.u"');

    // Another patient: user/Patient.rs would have reached them; patient/Patient.rs does not.
    const other = await fhir(token, '/Patient/demo-4');
    expect(other.status).toBe(403);
    expect(other.issue).toEqual({ error: 'access_denied', description: 'patient scopes reach only the patient in context' });
    expect(await latestDenial(user.id)).toMatchObject({ reason: 'ERR_PATIENT_COMPARTMENT', patient: 'Patient/demo-4' });
    const otherSearch = await fhir(token, '/Observation?patient=demo-4');
    expect(otherSearch.status).toBe(403);
    expect(otherSearch.issue.error).toBe('access_denied');

    // The emergency patient's record reads.
    const own = await fhir(token, '/Patient/demo-3');
    expect(own.status).toBe(200);
    expect(own.json).toMatchObject({ resourceType: 'Patient', id: 'demo-3' });
    const ownObservation = await fhir(token, '/Observation/obs-3-1');
    expect(ownObservation.status).toBe(200);
    expect(ownObservation.json.subject.reference).toBe('Patient/demo-3');
  });

  test('with unsafe.breakglass_write the write permission is kept, still only for the emergency patient', async () => {
    stack.ctx.config.unsafe.breakglass_write = true;
    try {
      const { user, consent, tokens } = await emergencyAccess('dr.writer', USER_SCOPE);
      expect(consent.body).toContain('Emergency access is limited to that patient.');
      expect(consent.body).not.toContain('read-only');
      expect(tokens.json.scope).toBe('openid launch/patient patient/Observation.cruds patient/Patient.rs');

      const token = tokens.json.access_token;
      const created = await fhir(token, '/Observation', { method: 'POST', body: observation('demo-3') });
      expect(created.status).toBe(201);
      expect(created.json.subject.reference).toBe('Patient/demo-3');
      const elsewhere = await fhir(token, '/Observation', { method: 'POST', body: observation('demo-4') });
      expect(elsewhere.status).toBe(403);
      expect(elsewhere.issue).toEqual({ error: 'access_denied', description: 'patient scopes can only create resources for the patient in context' });
      expect(await latestDenial(user.id)).toMatchObject({ reason: 'ERR_PATIENT_COMPARTMENT', action: 'create' });
      expect((await fhir(token, '/Patient/demo-4')).status).toBe(403);
    } finally {
      stack.ctx.config.unsafe.breakglass_write = false;
    }
  });
});
