// user/ scopes reach only the patients a practitioner may reach: their panel (minimum necessary,
// 45 CFR 164.502(b); src/gateway/user-reach.ts). Reads of a patient off the panel, guessed ids,
// searches, writes that would reach or move data off the panel, $everything and batch entries;
// a subject that is not a stored account reaches nobody; system/ scopes are not limited; a panel
// change reaches the gateway within the cache time.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { releaseFhirBody } from '../../src/gateway/fhir-release.js';
import { REACH_CACHE_MS } from '../../src/gateway/user-reach.js';
import { call, mintToken, outcomeOf, startGatewayStack, startStubUpstream, type GatewayStack, type StubUpstream } from './harness.js';

let stack: GatewayStack;
let notes: StubUpstream;
let clock = Date.now();
const DOCTOR = 'user-panel-doctor';

beforeAll(async () => {
  notes = await startStubUpstream((req) => ({ type: 'application/json', body: { ok: true, path: req.url } }));
  stack = await startGatewayStack({
    context: { now: () => clock },
    gateway: (upstream, audience) => ({
      routes: [
        { prefix: '/fhir', upstream, audience, type: 'fhir' },
        { prefix: '/notes-api', upstream: notes.url, audience, type: 'http', rules: [{ method: 'GET', path: '/patients/:pid/notes', scopes: ['user/DocumentReference.r'], patient_param: 'pid' }] },
      ],
    }),
  });
  await stack.ctx.storage.users.create({
    id: DOCTOR, username: 'dr.panel', passwordHash: 'unused', disabled: false, fhirUser: null, createdAt: clock, role: 'practitioner',
    patientPanel: ['demo-1', 'demo-2'], breakGlass: false,
  });
});
afterAll(async () => {
  await stack?.close();
  await notes?.close();
});

const doctorToken = async (scope = 'user/*.cruds') => (await mintToken(stack, { scope, subject: DOCTOR })).token;
const upstreamCalls = (fragment: string) => stack.upstreamSeen.filter((r) => r.url.includes(fragment)).length;
const observation = (id: string | undefined, patient: string) => ({ resourceType: 'Observation', ...(id ? { id } : {}), status: 'final', code: { text: 'test' }, subject: { reference: `Patient/${patient}` } });

function expectOffPanel(r: Awaited<ReturnType<typeof call>>) {
  expect(r.status).toBe(403);
  expect(outcomeOf(r.json)).toEqual({ error: 'access_denied', description: 'user scopes reach only the patients on your panel' });
  expect(r.event).toMatchObject({ type: 'phi.denied', outcome: 'denied', reason: 'ERR_NOT_ON_PANEL' });
}

const patientsOf = (bundle: any): string[] => (bundle.entry ?? []).map((e: any) => e.resource.resourceType === 'Patient' ? e.resource.id : e.resource.subject.reference.replace('Patient/', ''));

describe('user/ scopes of a practitioner with demo-1 and demo-2 on the panel', () => {
  test('a panel patient is read; Patient/{other} is refused before the upstream is asked, and a guessed id is withheld', async () => {
    const t = await doctorToken();
    const ok = await call(stack, '/Patient/demo-2', { token: t });
    expect(ok.status).toBe(200);
    expect(ok.event).toMatchObject({ type: 'phi.accessed', patient: 'Patient/demo-2', scopes: { used: 'user/*.cruds' } });
    const before = upstreamCalls('/Patient/demo-3');
    expectOffPanel(await call(stack, '/Patient/demo-3', { token: t }));
    expect(upstreamCalls('/Patient/demo-3')).toBe(before);
    // An Observation id guessed from another patient's record: asked, but the answer is withheld.
    const guessed = await call(stack, '/Observation/obs-3-1', { token: t });
    expectOffPanel(guessed);
    expect(guessed.text).not.toContain('demo-3');
    expectOffPanel(await call(stack, '/Observation/obs-3-1/_history', { token: t }));
    expectOffPanel(await call(stack, '/Patient/demo-3/$everything', { token: t }));
  });

  test('searches release only panel patients, whatever they ask for', async () => {
    const t = await doctorToken();
    const all = await call(stack, '/Observation?_count=200', { token: t });
    expect(all.status).toBe(200);
    expect(new Set(patientsOf(all.json))).toEqual(new Set(['demo-1', 'demo-2']));
    expect(all.json.total).toBeUndefined();
    const other = await call(stack, '/Observation?patient=demo-3', { token: t });
    expect([other.status, patientsOf(other.json)]).toEqual([200, []]);
    const patients = await call(stack, '/Patient?_count=200', { token: t });
    expect(patientsOf(patients.json).sort()).toEqual(['demo-1', 'demo-2']);
  });

  test('a search across types (no primary type) keeps panel patients and resources outside the compartment', () => {
    const bundle = {
      resourceType: 'Bundle', type: 'searchset', total: 3,
      entry: [
        { resource: observation('a', 'demo-1') },
        { resource: observation('b', 'demo-3') },
        { resource: { resourceType: 'Practitioner', id: 'pr-1' } },
      ],
    };
    const released = releaseFhirBody(bundle, { kind: 'bundle', primaryLevel: 'user' }, { scopes: ['user/*.rs'], bases: [], userReach: new Set(['demo-1']) });
    expect(released.filtered).toBe(1);
    expect(bundle.entry.map((e) => e.resource.id)).toEqual(['a', 'pr-1']);
    expect(bundle).not.toHaveProperty('total');
  });

  test('writes must stay with panel patients: create, update (checked against the stored version), patch and batch', async () => {
    const t = await doctorToken();
    expectOffPanel(await call(stack, '/Observation', { method: 'POST', token: t, body: observation(undefined, 'demo-3') }));
    expect((await call(stack, '/Observation', { method: 'POST', token: t, body: observation(undefined, 'demo-1') })).status).toBe(201);
    // Moving another patient's Observation onto the panel: the stored version is demo-3's.
    expectOffPanel(await call(stack, '/Observation/obs-3-2', { method: 'PUT', token: t, body: observation('obs-3-2', 'demo-1') }));
    expect(stack.fhir.store.current('Observation', 'obs-3-2')).toMatchObject({ subject: { reference: 'Patient/demo-3' } });
    expectOffPanel(await call(stack, '/Observation/obs-3-3', { method: 'DELETE', token: t }));
    expect(stack.fhir.store.current('Observation', 'obs-3-3')).toBeDefined();
    // A JSON Patch may change the status of a panel patient's Observation, not its subject.
    const patchHeaders = { 'content-type': 'application/json-patch+json' };
    const moved = await call(stack, '/Observation/obs-1-2', { method: 'PATCH', token: t, headers: patchHeaders, body: [{ op: 'replace', path: '/subject/reference', value: 'Patient/demo-3' }] });
    expect([moved.status, moved.event.reason]).toEqual([403, 'ERR_INTERACTION_NOT_ALLOWED']);
    const patches = () => stack.upstreamSeen.filter((r) => r.method === 'PATCH').length;
    const patchesBefore = patches();
    const amended = await call(stack, '/Observation/obs-1-2', { method: 'PATCH', token: t, headers: patchHeaders, body: [{ op: 'replace', path: '/status', value: 'amended' }] });
    // Forwarded (the demo server itself does not implement PATCH).
    expect(amended.status).not.toBe(403);
    expect(patches()).toBe(patchesBefore + 1);
    expectOffPanel(await call(stack, '/Observation/obs-3-2', { method: 'PATCH', token: t, headers: patchHeaders, body: [{ op: 'replace', path: '/status', value: 'amended' }] }));
    expect(stack.fhir.store.current('Observation', 'obs-3-2')).toMatchObject({ status: 'final' });
    // A batch entry that reads an off-panel patient is refused in place; the panel one is released.
    const batch = await call(stack, '/', {
      method: 'POST', token: t,
      body: { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: 'Patient/demo-1' } }, { request: { method: 'GET', url: 'Observation/obs-3-1' } }] },
    });
    expect(batch.status).toBe(200);
    expect(batch.json.entry[0].resource).toMatchObject({ resourceType: 'Patient', id: 'demo-1' });
    expect(batch.json.entry[1]).toEqual({ response: { status: '403 Forbidden' } });
    expect(batch.text).not.toContain('demo-3');
  });
});

describe('user/ scopes on an http route whose rule names the patient', () => {
  test('reach a panel patient only', async () => {
    const t = await doctorToken('user/DocumentReference.rs');
    const url = (pid: string) => `${stack.issuer}/notes-api/patients/${pid}/notes`;
    const own = await call(stack, url('demo-2'), { token: t });
    expect([own.status, own.json]).toEqual([200, { ok: true, path: '/patients/demo-2/notes' }]);
    const before = notes.seen.length;
    const off = await call(stack, url('demo-3'), { token: t });
    expect(off.status).toBe(403);
    expect(off.event).toMatchObject({ type: 'phi.denied', reason: 'ERR_NOT_ON_PANEL' });
    expect(notes.seen.length).toBe(before);
  });
});

describe('who a user/ scope reaches', () => {
  test('a subject that is not a stored, active account reaches nobody; system/ scopes are not limited by any panel', async () => {
    const stranger = (await mintToken(stack, { scope: 'user/*.rs', subject: 'no-such-account' })).token;
    expectOffPanel(await call(stack, '/Patient/demo-1', { token: stranger }));
    const s = await call(stack, '/Observation?_count=200', { token: stranger });
    expect([s.status, patientsOf(s.json)]).toEqual([200, []]);
    const backend = (await mintToken(stack, { scope: 'system/Patient.rs', subject: stack.demo.cc_client_id, clientId: stack.demo.cc_client_id })).token;
    expect((await call(stack, '/Patient/demo-3', { token: backend })).status).toBe(200);
  });

  test('a panel change reaches the gateway within the cache time', async () => {
    const t = await doctorToken('user/Patient.rs');
    expect((await call(stack, '/Patient/demo-2', { token: t })).status).toBe(200);
    await stack.ctx.storage.users.setPatientPanel(DOCTOR, ['demo-1']);
    clock += REACH_CACHE_MS;
    expectOffPanel(await call(stack, '/Patient/demo-2', { token: t }));
    await stack.ctx.storage.users.setPatientPanel(DOCTOR, ['demo-1', 'demo-2']);
    clock += REACH_CACHE_MS;
  });
});
