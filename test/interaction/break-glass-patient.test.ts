// Emergency access finds its patient by name and date of birth or by MRN, and only a patient who
// exists and is not on the practitioner's panel gets an emergency grant (45 CFR 164.312(a)(2)(ii)):
// a typo, a made-up id or a panel patient gets no token, no review item, no webhook call and no
// consent. Every search result and the final check are read as the practitioner and recorded in
// the ledger. An error keeps what was typed and sits next to its field. Over real TLS against the
// demo FHIR server, with a frozen clock.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createServer, type Server } from 'node:http';
import { searchEvents } from '../../src/audit/search.js';
import { generateDemoData } from '../../src/fhir-demo/data.js';
import { Browser, formAction, hiddenCsrf, patientChoices, type Step } from '../support/browserless.js';
import { authorizationUrl, relyingParty, type Rp } from '../support/flows.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { PASSWORD, codeFor, createUser, exchange, manualSecret } from '../identity/support.js';

let stack: TestStack;
let rp: Rp;
let webhook: Server;
const received: string[] = [];
let clock = Math.floor(Date.now() / 30_000) * 30_000 + 10_000;
const SCOPE = 'openid launch/patient patient/Observation.rs';
const REASON = 'Unconscious in the ED, allergy list needed';

// The demo FHIR server's synthetic patients (fixed seed): demo-3 is "Cedar Fixture", born 1973-09-01, MRN DEMO-000003.
const demo3 = generateDemoData().find((r) => r.id === 'demo-3')!;
const DEMO3 = { family: (demo3.name as Array<{ family: string }>)[0]!.family, birthDate: demo3.birthDate as string, mrn: 'DEMO-000003' };

beforeAll(async () => {
  webhook = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => { received.push(body); res.writeHead(204).end(); });
  });
  await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
  const port = (webhook.address() as { port: number }).port;
  stack = await startTestStack({
    context: { now: () => clock },
    configure: (c) => {
      c.breakglass.webhook_url = `http://127.0.0.1:${port}/breakglass`;
      c.login.max_failures_per_address = 1000;
    },
  });
  rp = await relyingParty(stack);
  const app = (await stack.ctx.storage.clients.get(stack.demo.client_id))!;
  await stack.ctx.storage.clients.upsert({ ...app, scope: `${app.scope} launch/patient` });
});
afterAll(async () => {
  await stack?.close();
  webhook?.close();
});

/** A practitioner with the break-glass permission and demo-1 on their panel, signed in with a TOTP; resolves the consent page. */
async function emergencyConsent(username: string, o: { breakGlass?: boolean } = {}) {
  const user = await createUser(stack, username, 'practitioner');
  if (o.breakGlass !== false) await stack.ctx.storage.users.setBreakGlass(user.id, true);
  const origin = new URL(stack.issuer).origin;
  const browser = new Browser(rp.dispatcher);
  const req = await authorizationUrl(rp, { scope: SCOPE });
  const login = await browser.follow(req.url.href, origin);
  const enrol = await browser.follow(formAction(login), origin, { form: { csrf: hiddenCsrf(login), username, password: PASSWORD } });
  clock += 30_000;
  const codes = await browser.follow(new URL('/login/mfa/enroll/totp', origin).href, new URL(stack.issuer).origin, { form: { csrf: hiddenCsrf(enrol), code: codeFor(manualSecret(enrol), clock) } });
  const href = /<a class="button primary" href="([^"]+)"/.exec(codes.body)![1]!;
  const consent = await browser.follow(new URL(href, origin).href, origin);
  expect(consent.body.includes('Emergency access to another patient')).toBe(o.breakGlass !== false);
  return { user, browser, consent, verifier: req.verifier };
}

const post = (browser: Browser, consent: Step, form: Record<string, string>) =>
  browser.request(formAction(consent), { form: { csrf: hiddenCsrf(consent), ...form } });

/** The patient ids the emergency search offers (radio buttons named bg_patient). */
const emergencyChoices = (page: Step) => [...page.body.matchAll(/type="radio" id="bg-patient-\d+" name="bg_patient" value="([^"]+)"/g)].map((m) => m[1]!);

/** The error shown under a field: the element the field's aria-describedby names. */
function fieldError(page: Step, fieldId: string): string | undefined {
  const field = new RegExp(`<(?:input|textarea|fieldset)[^>]*id="${fieldId}"[^>]*>`).exec(page.body)?.[0]
    ?? new RegExp(`<fieldset class="picker"[^>]*aria-describedby="${fieldId}-error"[^>]*>`).exec(page.body)?.[0];
  const describedBy = /aria-describedby="([^"]+)"/.exec(field ?? '')?.[1];
  if (!describedBy) return undefined;
  // A field says it is invalid; a group of choices says it by its description.
  if (!field!.startsWith('<fieldset')) expect(field).toContain('aria-invalid="true"');
  return new RegExp(`<div class="field-message" id="${describedBy}"><p class="error" role="alert">([^<]+)</p>`).exec(page.body)?.[1];
}

async function nothingGranted(userId: string) {
  expect((await stack.ctx.storage.breakGlass.listOpen()).filter((a) => a.userId === userId)).toEqual([]);
  expect(await stack.ctx.storage.consents.listByUser(userId)).toEqual([]);
  expect(await searchEvents(stack.ctx.storage.sql, { type: 'breakglass.granted', actor: userId, limit: 5 })).toEqual([]);
  expect(await searchEvents(stack.ctx.storage.sql, { type: 'consent.granted', actor: userId, limit: 5 })).toEqual([]);
}

const reads = async (userId: string, purpose: string) =>
  (await searchEvents(stack.ctx.storage.sql, { type: 'phi.accessed', actor: userId, limit: 100 })).filter((e) => e.details?.purpose === purpose);

describe('finding the patient', () => {
  test('by family name and date of birth: the match is offered with name, birth date and MRN, and its read is in the ledger', async () => {
    const { user, browser, consent } = await emergencyConsent('dr.find.name');
    const found = await post(browser, consent, { decision: 'breakglass_search', bg_family: DEMO3.family.toLowerCase().slice(0, 4), bg_birthdate: DEMO3.birthDate, bg_mrn: '' });
    expect(found.status).toBe(200);
    expect(emergencyChoices(found)).toEqual(['demo-3']);
    expect(found.body).toContain(`Cedar ${DEMO3.family} (born ${DEMO3.birthDate})<br><span class="scope-name">MRN DEMO-000003 · Patient demo-3</span>`);
    // The disclosure is open again, with what was typed kept, and the request step (reason, button) now shown.
    expect(found.body).toContain('<details class="break-glass" id="emergency" open>');
    expect(found.body).toContain(`name="bg_birthdate" value="${DEMO3.birthDate}"`);
    expect(found.body).toContain('value="breakglass" class="danger">Request emergency access</button>');
    const [read] = await reads(user.id, 'breakglass_search');
    expect(read).toMatchObject({ patient: 'Patient/demo-3', action: 'search-type', outcome: 'success', actor: { userId: user.id, clientId: stack.demo.client_id } });
    // Only the patient shown was recorded, and no name or birth date went into the ledger.
    expect(await reads(user.id, 'breakglass_search')).toHaveLength(1);
    expect(JSON.stringify(read)).not.toMatch(new RegExp(`${DEMO3.family}|${DEMO3.birthDate}`, 'i'));
  });

  test('by MRN; a patient on the panel is listed as such and cannot be chosen for emergency access', async () => {
    const { browser, consent } = await emergencyConsent('dr.find.mrn');
    const found = await post(browser, consent, { decision: 'breakglass_search', bg_family: '', bg_birthdate: '', bg_mrn: DEMO3.mrn });
    expect(emergencyChoices(found)).toEqual(['demo-3']);
    const own = await post(browser, consent, { decision: 'breakglass_search', bg_mrn: 'DEMO-000001' });
    expect(own.status).toBe(200);
    expect(emergencyChoices(own)).toEqual([]);
    expect(own.body).toContain('On your patient list: choose them in the list above. Emergency access is not needed.');
    expect(own.body).not.toContain('Request emergency access</button>');
  });

  test('nothing found, or criteria missing: the error is next to the field and what was typed stays; nothing is read', async () => {
    const { user, browser, consent } = await emergencyConsent('dr.find.none');
    const none = await post(browser, consent, { decision: 'breakglass_search', bg_family: 'Nosuchname', bg_birthdate: '1901-01-01' });
    expect(none.status).toBe(200);
    expect(fieldError(none, 'bg-family')).toBe('No patient matches this family name and date of birth. Check the spelling and the date, or search by MRN.');
    expect(none.body).toContain('name="bg_family" value="Nosuchname"');
    const partial = await post(browser, consent, { decision: 'breakglass_search', bg_family: 'Fix', bg_birthdate: '' });
    expect(partial.status).toBe(400);
    expect(fieldError(partial, 'bg-birthdate')).toBe('Enter the date of birth as well as the name.');
    expect(partial.body).toContain('name="bg_family" value="Fix"');
    // The error is not a banner at the top of the page.
    expect(partial.body.indexOf('class="error"')).toBeGreaterThan(partial.body.indexOf('<details class="break-glass" id="emergency" open>'));
    expect(await reads(user.id, 'breakglass_search')).toEqual([]);
  });

  test('only an account with emergency access permission may search: 403, nothing read', async () => {
    // Without the permission the form is not offered; the search is posted as a forged form.
    const { user, browser, consent } = await emergencyConsent('dr.find.nopermission', { breakGlass: false });
    const forged = await post(browser, consent, { decision: 'breakglass_search', bg_mrn: DEMO3.mrn });
    expect(forged.status).toBe(403);
    expect(forged.body).toContain('Your account does not have emergency access permission.');
    expect(forged.body).not.toContain('demo-3');
    expect(await reads(user.id, 'breakglass_search')).toEqual([]);
  });
});

describe('requesting emergency access', () => {
  test('a patient found by the search: 303 and a 15-minute ETREAT token, after a check read in the ledger', async () => {
    const { user, browser, consent, verifier } = await emergencyConsent('dr.grant');
    const found = await post(browser, consent, { decision: 'breakglass_search', bg_family: DEMO3.family, bg_birthdate: DEMO3.birthDate });
    const granted = await post(browser, found, {
      decision: 'breakglass', bg_family: DEMO3.family, bg_birthdate: DEMO3.birthDate, bg_patient: emergencyChoices(found)[0]!, bg_reason: REASON,
    });
    expect(granted.status).toBe(303);
    const tokens = await exchange(rp, granted, verifier);
    expect(tokens.json).toMatchObject({ patient: 'demo-3', purpose_of_use: 'ETREAT', expires_in: 900 });
    const [open] = (await stack.ctx.storage.breakGlass.listOpen()).filter((a) => a.userId === user.id);
    expect(open).toMatchObject({ patient: 'demo-3' });
    const [check] = await reads(user.id, 'breakglass_check');
    expect(check).toMatchObject({ patient: 'Patient/demo-3', outcome: 'success' });
  });

  test('a patient id that does not exist gets no emergency access: 400 next to the patient field, no record, no consent, no webhook call', async () => {
    const { user, browser, consent } = await emergencyConsent('dr.typo');
    const before = received.length;
    const typo = await post(browser, consent, { decision: 'breakglass', bg_patient: 'demo-999', bg_reason: REASON });
    expect(typo.status).toBe(400);
    expect(typo.body).toMatch(/<div class="field-message" id="bg-patient-error"><p class="error" role="alert">No patient with this record was found\. Search again by name and date of birth, or by MRN\.<\/p>/);
    // The reason typed is kept.
    expect(typo.body).toContain(`>${REASON}</textarea>`);
    await nothingGranted(user.id);
    expect(await reads(user.id, 'breakglass_check')).toEqual([]);
    await new Promise((r) => setTimeout(r, 200));
    expect(received.length).toBe(before);
  });

  test('a patient on the panel is sent to the ordinary picker: 409, chosen there, no emergency access recorded', async () => {
    const { user, browser, consent } = await emergencyConsent('dr.panel');
    const panel = await post(browser, consent, { decision: 'breakglass', bg_mrn: 'DEMO-000001', bg_patient: 'demo-1', bg_reason: REASON });
    expect(panel.status).toBe(409);
    expect(patientChoices(panel)).toEqual(['demo-1']);
    expect(panel.body).toMatch(/id="patient-0" name="patient" value="demo-1" checked/);
    expect(panel.body).toContain('<p class="notice" role="status">This patient is on your patient list, so they are chosen here: allow access as usual. Emergency access is not needed.</p>');
    expect(fieldError(panel, 'bg-patient')).toBe('This patient is on your patient list: choose them above. Emergency access is not needed.');
    await nothingGranted(user.id);
  });

  test('a short reason after a search: the error is next to the reason, and the search, the chosen patient and the reason stay', async () => {
    const { user, browser, consent } = await emergencyConsent('dr.short');
    const found = await post(browser, consent, { decision: 'breakglass_search', bg_mrn: DEMO3.mrn });
    const short = await post(browser, found, { decision: 'breakglass', bg_mrn: DEMO3.mrn, bg_patient: 'demo-3', bg_reason: 'urgent' });
    expect(short.status).toBe(400);
    expect(fieldError(short, 'bg-reason')).toBe('State the reason for emergency access (10 to 1000 characters).');
    expect(short.body).toContain('>urgent</textarea>');
    expect(short.body).toContain(`name="bg_mrn" value="${DEMO3.mrn}"`);
    expect(short.body).toMatch(/name="bg_patient" value="demo-3" checked/);
    await nothingGranted(user.id);
  });

  test('when the FHIR server cannot be asked, nothing is granted (503): the patient could not be checked', async () => {
    const { user, browser, consent } = await emergencyConsent('dr.offline.bg');
    const route = stack.ctx.config.gateway.routes[0]!;
    const upstream = route.upstream;
    route.upstream = 'http://127.0.0.1:9';
    try {
      const refused = await post(browser, consent, { decision: 'breakglass', bg_patient: 'demo-3', bg_reason: REASON });
      expect(refused.status).toBe(503);
      expect(refused.body).toContain('The patient records could not be checked just now, so emergency access was not granted.');
      await nothingGranted(user.id);
    } finally {
      route.upstream = upstream;
    }
  });
});
