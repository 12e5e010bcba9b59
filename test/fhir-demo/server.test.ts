// The demo FHIR R4 server: deterministic synthetic data and the REST interactions the gateway
// fronts (read, vread, search, create, update, delete, $everything, batch).
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { generateDemoData, startDemoFhirServer, type DemoFhirServer } from '../../src/fhir-demo/index.js';

let server: DemoFhirServer;
beforeAll(async () => {
  server = await startDemoFhirServer({ port: 0 });
});
afterAll(() => server?.close());

async function get(path: string, init: RequestInit = {}) {
  const res = await fetch(`${server.url}${path}`, init);
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : undefined };
}

describe('synthetic data', () => {
  test('is the same on every run, with 20 patients and their resources', () => {
    const a = generateDemoData();
    expect(generateDemoData()).toEqual(a);
    const patients = a.filter((r) => r.resourceType === 'Patient');
    expect(patients.map((p) => p.id)).toEqual(Array.from({ length: 20 }, (_, i) => `demo-${i + 1}`));
    for (const type of ['Observation', 'Condition', 'MedicationRequest', 'Encounter']) {
      const ofType = a.filter((r) => r.resourceType === type);
      expect(ofType.length, type).toBeGreaterThanOrEqual(40);
      expect(ofType.every((r) => /^Patient\/demo-\d+$/.test((r.subject as { reference: string }).reference))).toBe(true);
    }
    expect(generateDemoData(7)).not.toEqual(a);
  });
});

describe('REST interactions', () => {
  test('metadata is a CapabilityStatement', async () => {
    const r = await get('/metadata');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/fhir+json; charset=utf-8');
    expect(r.json).toMatchObject({ resourceType: 'CapabilityStatement', fhirVersion: '4.0.1' });
  });

  test('read and vread; unknown ids and types are OperationOutcomes', async () => {
    expect((await get('/Patient/demo-1')).json).toMatchObject({ resourceType: 'Patient', id: 'demo-1', meta: { versionId: '1' } });
    expect((await get('/Observation/obs-1-1/_history/1')).json).toMatchObject({ id: 'obs-1-1' });
    const missing = await get('/Patient/nope');
    expect(missing.status).toBe(404);
    expect(missing.json.resourceType).toBe('OperationOutcome');
    expect((await get('/Practitioner/x')).status).toBe(404);
  });

  test('search by patient, subject and _id returns searchset Bundles; no parameter returns everything', async () => {
    const byPatient = await get('/Observation?patient=demo-2');
    expect(byPatient.json).toMatchObject({ resourceType: 'Bundle', type: 'searchset', total: 4 });
    expect(byPatient.json.entry[0].fullUrl).toBe(`${server.url}/Observation/obs-2-1`);
    expect((await get('/Condition?subject=Patient/demo-2')).json.total).toBe(2);
    expect((await get('/Patient?_id=demo-3,demo-4')).json.total).toBe(2);
    expect((await get('/Encounter')).json.total).toBe(40);
    const post = await get('/MedicationRequest/_search', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'patient=demo-5' });
    expect(post.json.total).toBe(2);
  });

  test('create, update (new version) and delete in memory', async () => {
    const created = await get('/Observation', { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify({ resourceType: 'Observation', status: 'final', subject: { reference: 'Patient/demo-9' } }) });
    expect(created.status).toBe(201);
    const id = created.json.id as string;
    expect(created.headers.get('location')).toBe(`${server.url}/Observation/${id}/_history/1`);
    const updated = await get(`/Observation/${id}`, { method: 'PUT', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify({ resourceType: 'Observation', id, status: 'amended', subject: { reference: 'Patient/demo-9' } }) });
    expect(updated.json.meta.versionId).toBe('2');
    expect((await get(`/Observation/${id}/_history/1`)).json.status).toBe('final');
    expect((await get(`/Observation/${id}/_history`)).json.total).toBe(2);
    const stale = await get(`/Observation/${id}`, { method: 'DELETE', headers: { 'if-match': 'W/"1"' } });
    expect(stale.status).toBe(412);
    expect((await get(`/Observation/${id}`, { method: 'DELETE', headers: { 'if-match': 'W/"2"' } })).status).toBe(204);
    expect((await get(`/Observation/${id}`)).status).toBe(410);
  });

  test('Patient/$everything returns the patient and every resource that references them', async () => {
    const r = await get('/Patient/demo-6/$everything');
    expect(r.json.entry[0].resource.id).toBe('demo-6');
    expect(r.json.entry.slice(1).every((e: any) => e.resource.subject.reference === 'Patient/demo-6')).toBe(true);
    expect(r.json.total).toBe(11);
  });

  test('batch Bundles are processed entry by entry', async () => {
    const r = await get('/', {
      method: 'POST', headers: { 'content-type': 'application/fhir+json' },
      body: JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: 'Patient/demo-7' } }, { request: { method: 'GET', url: 'Patient/none' } }] }),
    });
    expect(r.json.type).toBe('batch-response');
    expect(r.json.entry[0].resource.id).toBe('demo-7');
    expect(r.json.entry[1].response.status).toBe('404');
  });

  test('refuses to listen beyond loopback', async () => {
    await expect(startDemoFhirServer({ host: '0.0.0.0' })).rejects.toThrowError(/loopback only/);
  });
});
