// SMART App Launch 2.2 launch modes end to end over real TLS: the EHR launch API and the `launch`
// parameter (redeemed once, for its client, before expiry), the standalone patient context of a
// patient user, the practitioner's patient picker, scopes ∩ role, v1/v2 scope matching against the
// client registration, and the launch context in the token response and in introspection.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { decodeJwt } from 'jose';
import { addClient } from '../../src/admin/clients.js';
import { searchEvents } from '../../src/audit/search.js';
import { issueUserTokens } from '../../src/oauth/grants/issue.js';
import { LAUNCH_API_SCOPE } from '../../src/smart/launch-endpoint.js';
import { Browser, formAction, hiddenCsrf, patientChoices } from '../support/browserless.js';
import { authorizationUrl, codeFlow, frontChannel, introspect, post, refresh, relyingParty, type Rp } from '../support/flows.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { PASSWORD, createUser, exchange } from '../identity/support.js';

let stack: TestStack;
let rp: Rp;
let clock = Date.now();
let ehr: { id: string; secret: string };
let fhirBase: string;

const APP_SCOPES = 'openid fhirUser offline_access launch launch/patient launch/encounter patient/*.read user/*.rs';

beforeAll(async () => {
  stack = await startTestStack({
    context: { now: () => clock },
    configure: (c) => {
      c.mfa.required_roles = [];
      c.smart.style_url = 'https://ehr.example/smart-style.json';
      c.resources[0]!.scopes!.push('user/*.rs');
    },
  });
  rp = await relyingParty(stack);
  fhirBase = stack.demo.resource;
  // The demo app may also ask for launch context, fhirUser and (v1) patient/*.read.
  const app = (await stack.ctx.storage.clients.get(stack.demo.client_id))!;
  await stack.ctx.storage.clients.upsert({ ...app, scope: `${app.scope} ${APP_SCOPES}` });
  const deps = { storage: stack.ctx.storage, audit: stack.ctx.audit, now: stack.ctx.now, actor: 'test', masterKey: stack.ctx.masterKey };
  const created = await addClient(deps, {
    client_id: 'ehr-launcher', name: 'EHR', grant_types: ['client_credentials'], redirect_uris: [], scope: LAUNCH_API_SCOPE,
    resources: [fhirBase], token_endpoint_auth_method: 'client_secret_basic',
  }, [fhirBase]);
  ehr = { id: 'ehr-launcher', secret: created.secret! };
});
afterAll(async () => stack?.close());

const launchEndpoint = () => `${stack.issuer}/smart/launch`;

async function createLaunch(form: Record<string, string>, auth: { id: string; secret: string } | null = ehr) {
  return post(rp, launchEndpoint(), { target_client_id: stack.demo.client_id, ...form }, auth);
}

async function signInAndConsent(username: string, o: { scope: string; extra?: Record<string, string>; patient?: string }) {
  return codeFlow(rp, { scope: o.scope, username, password: PASSWORD, extra: o.extra, patient: o.patient });
}

describe('EHR launch', () => {
  test('an EHR creates a launch; the app redeems it; the token response and introspection carry the context', async () => {
    const doctor = await createUser(stack, 'dr.ehr', 'practitioner');
    await stack.ctx.storage.users.setPatientPanel(doctor.id, ['demo-1', 'demo-2']);
    const created = await createLaunch({
      patient: 'Patient/demo-2', encounter: 'enc-77', fhirContext: JSON.stringify([{ reference: 'Appointment/5' }]),
      need_patient_banner: 'false', smart_style_url: 'https://ehr.example/style-ehr.json',
    });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ expires_in: 300, iss: fhirBase });
    expect(created.json.launch).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const flow = await signInAndConsent('dr.ehr', { scope: 'openid fhirUser launch patient/Observation.rs', extra: { launch: created.json.launch } });
    // The patient came from the EHR: no picker was shown.
    expect(flow.pages.some((p) => patientChoices(p).length > 0)).toBe(false);
    expect(flow.pages.at(-1)!.body).toContain('Patient demo-2');
    const body = flow.tokens as unknown as Record<string, unknown>;
    expect(body).toMatchObject({
      patient: 'demo-2', encounter: 'enc-77', fhirContext: [{ reference: 'Appointment/5' }], need_patient_banner: false,
      smart_style_url: 'https://ehr.example/style-ehr.json',
    });
    // The access token carries the patient's id only: no encounter, no names, no launch details.
    const claims = decodeJwt(flow.tokens.access_token);
    expect(claims.patient).toBe('demo-2');
    expect(Object.keys(claims).sort()).toEqual(['aud', 'client_id', 'exp', 'iat', 'iss', 'jti', 'patient', 'scope', 'sub']);

    const info = await introspect(rp, flow.tokens.access_token);
    expect(info.status).toBe(200);
    expect(info.json).toMatchObject({
      active: true, iss: stack.issuer, sub: claims.sub, patient: 'demo-2', encounter: 'enc-77', fhirContext: [{ reference: 'Appointment/5' }],
      need_patient_banner: false, smart_style_url: 'https://ehr.example/style-ehr.json',
    });
    // A practitioner has no FHIR resource here, so no fhirUser.
    expect(info.json.fhirUser).toBeUndefined();

    const [event] = await searchEvents(stack.ctx.storage.sql, { type: 'launch.created', limit: 1 });
    expect(event).toMatchObject({ actor: { clientId: 'ehr-launcher' }, patient: 'Patient/demo-2', details: { target_client_id: stack.demo.client_id } });
  });

  test('the launched patient must be one the signed-in account may access: not another patient, not off the panel', async () => {
    await createUser(stack, 'dr.offpanel', 'practitioner');
    const offPanel = await createLaunch({ patient: 'demo-7' });
    const fc = await frontChannel(rp, { scope: 'launch patient/Observation.rs', username: 'dr.offpanel', password: PASSWORD, extra: { launch: offPanel.json.launch } });
    const back = new URL(fc.final.location!);
    expect([back.searchParams.get('error'), back.searchParams.get('error_description')]).toEqual(['access_denied', 'the launched patient is not one this account may access']);

    await createUser(stack, 'pat.otherlaunch', 'patient');
    const other = await createLaunch({ patient: 'demo-2' });
    const fc2 = await frontChannel(rp, { scope: 'launch patient/Observation.rs', username: 'pat.otherlaunch', password: PASSWORD, extra: { launch: other.json.launch } });
    expect(new URL(fc2.final.location!).searchParams.get('error')).toBe('access_denied');
    const [denied] = await searchEvents(stack.ctx.storage.sql, { type: 'authz.denied', limit: 1 });
    expect(denied).toMatchObject({ reason: 'no_patient_context', outcome: 'denied' });
  });

  test('a launch made for one account (user) is redeemed by that account only; an unknown user is refused at the launch API', async () => {
    const alice = await createUser(stack, 'dr.bound', 'practitioner');
    const bob = await createUser(stack, 'dr.notbound', 'practitioner');
    for (const doctor of [alice, bob]) await stack.ctx.storage.users.setPatientPanel(doctor.id, ['demo-1']);
    const forAlice = await createLaunch({ patient: 'demo-1', user: 'dr.bound' });
    expect(forAlice.status).toBe(201);
    // Bob has the patient on his panel too, but the launch was made for Alice.
    const fc = await frontChannel(rp, { scope: 'launch patient/Observation.rs', username: 'dr.notbound', password: PASSWORD, extra: { launch: forAlice.json.launch } });
    const back = new URL(fc.final.location!);
    expect([back.searchParams.get('error'), back.searchParams.get('error_description')]).toEqual(['access_denied', 'the launch was made for another account']);
    const [denied] = await searchEvents(stack.ctx.storage.sql, { type: 'authz.denied', limit: 1 });
    expect(denied).toMatchObject({ actor: { userId: bob.id }, reason: 'no_patient_context', outcome: 'denied' });

    const again = await createLaunch({ patient: 'demo-1', user: 'dr.bound' });
    const flow = await signInAndConsent('dr.bound', { scope: 'openid launch patient/Observation.rs', extra: { launch: again.json.launch } });
    expect(flow.tokens).toMatchObject({ patient: 'demo-1' });
    expect(flow.tokens).not.toHaveProperty('forUser');
    const [created] = await searchEvents(stack.ctx.storage.sql, { type: 'launch.created', limit: 1 });
    expect(created).toMatchObject({ details: { for_user: alice.id } });

    for (const user of ['nobody.here']) {
      const refused = await createLaunch({ patient: 'demo-1', user });
      expect([refused.status, refused.json.error, refused.json.error_description]).toEqual([400, 'invalid_request', 'user must be the username of an active account: the one the app is launched for']);
    }
  });

  test('a launch pushed through PAR is redeemed at the push and its context reaches the token response', async () => {
    await createUser(stack, 'pat.par', 'patient');
    const created = await createLaunch({ patient: 'demo-1', encounter: 'enc-par' });
    const verifier = 'v'.repeat(50);
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const pushed = await post(rp, `${stack.issuer}/par`, {
      response_type: 'code', client_id: stack.demo.client_id, redirect_uri: stack.demo.redirect_uri, scope: 'launch patient/Observation.rs',
      code_challenge: challenge, code_challenge_method: 'S256', resource: fhirBase, launch: created.json.launch, state: 'par-state',
    });
    expect(pushed.status).toBe(201);
    // Redeemed at the push: the same launch value cannot be used again.
    const again = await post(rp, `${stack.issuer}/par`, {
      response_type: 'code', client_id: stack.demo.client_id, redirect_uri: stack.demo.redirect_uri, scope: 'launch patient/Observation.rs',
      code_challenge: challenge, code_challenge_method: 'S256', resource: fhirBase, launch: created.json.launch,
    });
    expect([again.status, again.json.error, again.json.error_description]).toEqual([400, 'invalid_request', 'launch was already used; launch the app again from the EHR']);

    const origin = new URL(stack.issuer).origin;
    const browser = new Browser(rp.dispatcher);
    const authorize = new URL(rp.as.authorization_endpoint!);
    authorize.searchParams.set('client_id', stack.demo.client_id);
    authorize.searchParams.set('request_uri', pushed.json.request_uri);
    const login = await browser.follow(authorize.href, origin);
    const consent = await browser.follow(formAction(login), origin, { form: { csrf: hiddenCsrf(login), username: 'pat.par', password: PASSWORD } });
    expect(consent.body).toContain('Patient demo-1');
    const redirect = await browser.request(formAction(consent), { form: { csrf: hiddenCsrf(consent), scope: ['launch', 'patient/Observation.rs'], decision: 'allow' } });
    const tokens = await exchange(rp, redirect, verifier);
    expect(tokens.status).toBe(200);
    expect(tokens.json).toMatchObject({ patient: 'demo-1', encounter: 'enc-par' });
  });

  test('a launch value is redeemed once: the second authorization request gets invalid_request', async () => {
    const created = await createLaunch({ patient: 'demo-1' });
    const first = await authorizationUrl(rp, { scope: 'launch patient/Observation.rs', extra: { launch: created.json.launch } });
    const browser = new Browser(rp.dispatcher);
    const ok = await browser.request(first.url.href);
    expect(ok.status).toBe(303);
    expect(ok.location).toMatch(/\/interaction\//);
    const second = await authorizationUrl(rp, { scope: 'launch patient/Observation.rs', extra: { launch: created.json.launch } });
    const replay = await browser.request(second.url.href);
    expect(replay.status).toBe(303);
    const back = new URL(replay.location!);
    expect(back.searchParams.get('error')).toBe('invalid_request');
    expect(back.searchParams.get('error_description')).toBe('launch was already used; launch the app again from the EHR');
  });

  test('a launch for another client, an expired launch, an unknown value and a launch without the launch scope are refused', async () => {
    const deps = { storage: stack.ctx.storage, audit: stack.ctx.audit, now: stack.ctx.now, actor: 'test', masterKey: stack.ctx.masterKey };
    await addClient(deps, {
      client_id: 'other-launch-app', name: 'Other', grant_types: ['authorization_code'], redirect_uris: ['https://other.example/cb'],
      scope: 'launch patient/*.rs', resources: [fhirBase], token_endpoint_auth_method: 'none',
    }, [fhirBase]);
    const forOther = await post(rp, launchEndpoint(), { target_client_id: 'other-launch-app', patient: 'demo-1' }, ehr);
    expect(forOther.status).toBe(201);
    const errorFor = async (scope: string, launch: string) => {
      const req = await authorizationUrl(rp, { scope, extra: { launch } });
      const r = await new Browser(rp.dispatcher).request(req.url.href);
      const back = new URL(r.location!);
      return [back.searchParams.get('error'), back.searchParams.get('error_description')];
    };
    expect(await errorFor('launch patient/*.rs', forOther.json.launch)).toEqual(['invalid_request', 'launch was issued for another application']);

    const withoutScope = await createLaunch({ patient: 'demo-1' });
    expect(await errorFor('patient/*.rs', withoutScope.json.launch)).toEqual(['invalid_request', 'the launch parameter needs the "launch" scope']);
    expect(await errorFor('launch patient/*.rs', 'A'.repeat(43))).toEqual(['invalid_request', 'launch is not a value issued by this server']);

    const old = await createLaunch({ patient: 'demo-1' });
    clock += 301_000;
    try {
      expect(await errorFor('launch patient/*.rs', old.json.launch)).toEqual(['invalid_request', 'launch has expired; launch the app again from the EHR']);
    } finally {
      clock -= 301_000;
    }
  });

  test('the launch API requires an authenticated client with the caduceus:launch scope and valid context', async () => {
    expect((await createLaunch({ patient: 'demo-1' }, null)).json.error).toBe('invalid_client');
    const noScope = await createLaunch({ patient: 'demo-1' }, { id: stack.demo.client_id, secret: stack.demo.client_secret });
    expect([noScope.status, noScope.json.error]).toEqual([400, 'unauthorized_client']);
    const badPatient = await createLaunch({ patient: 'Patient/<script>' });
    expect([badPatient.status, badPatient.json.error]).toEqual([400, 'invalid_request']);
    expect(badPatient.json.error_description).toMatch(/^patient must be a FHIR Patient id/);
    const badContext = await createLaunch({ patient: 'demo-1', fhirContext: '{"reference":"x"}' });
    expect([badContext.status, badContext.json.error]).toEqual([400, 'invalid_request']);
    const empty = await createLaunch({});
    expect([empty.status, empty.json.error_description]).toEqual([400, 'a launch needs a patient, an encounter or a fhirContext']);
    const unknownTarget = await post(rp, launchEndpoint(), { target_client_id: 'nobody', patient: 'demo-1' }, ehr);
    expect([unknownTarget.status, unknownTarget.json.error]).toEqual([400, 'invalid_request']);
    const notLaunchable = await post(rp, launchEndpoint(), { target_client_id: 'ehr-launcher', patient: 'demo-1' }, ehr);
    expect([notLaunchable.status, notLaunchable.json.error]).toEqual([400, 'invalid_request']);
  });
});

describe('dev stack', () => {
  test('seeds an EHR client that can create launches and a practitioner with a panel and break-glass', async () => {
    const created = await createLaunch({ patient: 'demo-4' }, { id: stack.demo.ehr_client_id!, secret: stack.demo.ehr_client_secret! });
    expect(created.status).toBe(201);
    const practitioner = await stack.ctx.storage.users.getByUsername(stack.demo.practitioner_username!);
    expect(practitioner).toMatchObject({ role: 'practitioner', patientPanel: ['demo-1', 'demo-2', 'demo-3', 'demo-4', 'demo-5'], breakGlass: true });
    const app = await stack.ctx.storage.clients.get(stack.demo.client_id);
    expect(app!.scope.split(' ')).toEqual(expect.arrayContaining(['launch', 'launch/patient', 'fhirUser']));
  });
});

describe('standalone launch', () => {
  test('a patient user gets their own record as context, a banner and the configured style; fhirUser in the ID token and introspection', async () => {
    await createUser(stack, 'pat.standalone', 'patient');
    const flow = await signInAndConsent('pat.standalone', { scope: 'openid fhirUser offline_access launch/patient patient/Observation.rs' });
    expect(flow.tokens).toMatchObject({ patient: 'demo-1', need_patient_banner: true, smart_style_url: 'https://ehr.example/smart-style.json' });
    expect((flow.tokens as unknown as Record<string, unknown>).encounter).toBeUndefined();
    const info = await introspect(rp, flow.tokens.access_token);
    expect(info.json).toMatchObject({ active: true, patient: 'demo-1', fhirUser: `${fhirBase}/Patient/demo-1`, need_patient_banner: true });
    // The refresh token keeps the context, and introspection of it says so too.
    const refreshed = await refresh(rp, flow.tokens.refresh_token!);
    expect(refreshed.status).toBe(200);
    expect(refreshed.json).toMatchObject({ patient: 'demo-1', need_patient_banner: true });
    expect((await introspect(rp, refreshed.json.refresh_token)).json).toMatchObject({ active: true, patient: 'demo-1' });
  });

  test('a grant from before launch contexts were stored keeps its patient user\'s record on refresh', async () => {
    const user = await createUser(stack, 'pat.legacy', 'patient');
    const client = (await stack.ctx.storage.clients.get(stack.demo.client_id))!;
    const data = { userId: user.id, scope: 'patient/Observation.rs', resource: fhirBase, consentId: null, authTime: clock };
    const legacy = await issueUserTokens(stack.ctx, { client, grantId: 'g_legacy_test', data, scopes: ['patient/Observation.rs'], withIdToken: false, launch: null });
    expect(legacy.response.patient).toBe('demo-1');
    expect(decodeJwt(legacy.response.access_token).patient).toBe('demo-1');
    const noPatientScope = await issueUserTokens(stack.ctx, { client, grantId: 'g_legacy_test', data, scopes: ['openid'], withIdToken: false, launch: null });
    expect(noPatientScope.response.patient).toBeUndefined();
  });

  test('a patient asking for user/ scopes gets them removed (scopes ∩ role), and the page says so', async () => {
    await createUser(stack, 'pat.userscopes', 'patient');
    const flow = await signInAndConsent('pat.userscopes', { scope: 'launch/patient patient/Observation.rs user/*.rs' });
    const consentPage = flow.pages.find((p) => p.body.includes('name="decision"'))!;
    expect(consentPage.body).toContain('Not available to your account, so not granted');
    expect(consentPage.body).not.toContain('value="user/*.rs"');
    expect(flow.tokens.scope).toBe('launch/patient patient/Observation.rs');
  });

  test('a practitioner picks the patient from their panel; a patient outside it is refused with 400', async () => {
    const user = await createUser(stack, 'dr.picker', 'practitioner');
    await stack.ctx.storage.users.setPatientPanel(user.id, ['demo-1', 'demo-2']);
    const req = await authorizationUrl(rp, { scope: 'openid launch/patient patient/Observation.rs' });
    const origin = new URL(stack.issuer).origin;
    const browser = new Browser(rp.dispatcher);
    const login = await browser.follow(req.url.href, origin);
    const consent = await browser.follow(formAction(login), origin, { form: { csrf: hiddenCsrf(login), username: 'dr.picker', password: PASSWORD } });
    expect(patientChoices(consent)).toEqual(['demo-1', 'demo-2']);
    expect(consent.body).toContain('Choose the patient');
    // Each choice shows the patient's name and birth date, read from the FHIR server as this
    // practitioner and recorded in the ledger (one event per patient) before the page is shown.
    for (const id of ['demo-1', 'demo-2']) {
      expect(consent.body).toMatch(new RegExp(`value="${id}"[^>]*>\\s*<span>[^<]+ \\(born \\d{4}-\\d{2}-\\d{2}\\)<br><span class="scope-name">Patient ${id}</span>`));
      const [read] = await searchEvents(stack.ctx.storage.sql, { type: 'phi.accessed', patient: `Patient/${id}`, actor: user.id, limit: 1 });
      expect(read).toMatchObject({ action: 'search-type', details: { purpose: 'patient_picker' } });
    }
    // Break-glass is not offered to an account without the permission.
    expect(consent.body).not.toContain('Emergency access');

    const tampered = await browser.request(formAction(consent), {
      form: { csrf: hiddenCsrf(consent), scope: ['openid', 'launch/patient', 'patient/Observation.rs'], decision: 'allow', patient: 'demo-3' },
    });
    expect(tampered.status).toBe(400);
    expect(tampered.body).toContain('Choose one patient from the list.');
    const none = await browser.request(formAction(consent), { form: { csrf: hiddenCsrf(consent), scope: ['openid', 'patient/Observation.rs'], decision: 'allow' } });
    expect(none.status).toBe(400);

    const chosen = await browser.request(formAction(consent), {
      form: { csrf: hiddenCsrf(consent), scope: ['openid', 'launch/patient', 'patient/Observation.rs'], decision: 'allow', patient: 'demo-2' },
    });
    expect(chosen.status).toBe(303);
    const tokens = await exchange(rp, chosen, req.verifier);
    expect(tokens.status).toBe(200);
    expect(tokens.json).toMatchObject({ patient: 'demo-2', need_patient_banner: true });
    expect(decodeJwt(tokens.json.access_token).patient).toBe('demo-2');
    const [granted] = await searchEvents(stack.ctx.storage.sql, { type: 'consent.granted', limit: 1 });
    expect(granted).toMatchObject({ patient: 'Patient/demo-2' });
  });

  test('when the FHIR server cannot be asked, the picker shows the bare ids and records no read', async () => {
    const user = await createUser(stack, 'dr.offline', 'practitioner');
    const route = stack.ctx.config.gateway.routes[0]!;
    const upstream = route.upstream;
    route.upstream = 'http://127.0.0.1:9';
    try {
      const fc = await frontChannel(rp, { scope: 'launch/patient patient/Observation.rs', username: 'dr.offline', password: PASSWORD, decision: 'deny' });
      const consent = fc.pages.find((p) => patientChoices(p).length > 0)!;
      expect(consent.body).toMatch(/value="demo-1"[^>]*>\s*<span>Patient demo-1<\/span>/);
      expect(await searchEvents(stack.ctx.storage.sql, { type: 'phi.accessed', actor: user.id, limit: 5 })).toEqual([]);
    } finally {
      route.upstream = upstream;
    }
  });

  test('a practitioner without patients (and without break-glass) gets access_denied saying why', async () => {
    await createUser(stack, 'dr.nopanel', 'practitioner');
    const user = await stack.ctx.storage.users.getByUsername('dr.nopanel');
    await stack.ctx.storage.users.setPatientPanel(user!.id, []);
    const fc = await frontChannel(rp, { scope: 'launch/patient patient/Observation.rs', username: 'dr.nopanel', password: PASSWORD });
    const back = new URL(fc.final.location!);
    expect(back.searchParams.get('error')).toBe('access_denied');
    expect(back.searchParams.get('error_description')).toBe('no patients are assigned to your account');
  });

  test('a prior consent is not reused silently when a practitioner must choose the patient', async () => {
    const user = await createUser(stack, 'dr.again', 'practitioner');
    await stack.ctx.storage.users.setPatientPanel(user.id, ['demo-1', 'demo-2']);
    const browser = new Browser(rp.dispatcher);
    await codeFlow(rp, { scope: 'launch/patient patient/Observation.rs', username: 'dr.again', password: PASSWORD, browser });
    const second = await frontChannel(rp, { scope: 'launch/patient patient/Observation.rs', browser, decision: 'deny' });
    expect(second.pages.some((p) => patientChoices(p).length === 2)).toBe(true);
  });
});

describe('scopes against the client registration (v1 and v2)', () => {
  test('a v2 request is allowed under a v1 registration; a wider one is refused; a malformed one is named', async () => {
    await createUser(stack, 'pat.v1v2', 'patient');
    // Registered patient/*.read (v1, = .rs) covers patient/Condition.rs (v2).
    const flow = await signInAndConsent('pat.v1v2', { scope: 'patient/Condition.rs' });
    expect(flow.tokens.scope).toBe('patient/Condition.rs');
    const errorFor = async (scope: string) => {
      const req = await authorizationUrl(rp, { scope });
      const r = await new Browser(rp.dispatcher).request(req.url.href);
      const back = new URL(r.location!);
      return [back.searchParams.get('error'), back.searchParams.get('error_description')];
    };
    expect(await errorFor('patient/Condition.cruds')).toEqual(['invalid_scope', 'scope "patient/Condition.cruds" is not allowed for this client']);
    expect((await errorFor('patient/Observation.dus'))[0]).toBe('invalid_scope');
    expect((await errorFor('patient/Observation.dus'))[1]).toMatch(/^scope "patient\/Observation.dus" is not a valid SMART scope: /);
  });
});
