// patient/ scopes reach only the token's patient compartment (SMART App Launch 2.2, "Scopes for
// requesting context data"; docs/SECURITY.md "PHI gateway: patient/ scopes reach only the patient
// in context"): direct reads of another patient, guessed ids (IDOR), searches for another patient,
// writes into another patient's record, and an upstream that answers with another patient's data.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { call, mintToken, outcomeOf, startGatewayStack, startStubUpstream, type GatewayStack, type StubUpstream } from './harness.js';

let stack: GatewayStack;
let hostile: StubUpstream;
/** What the hostile upstream answers next, keyed by path (without query). */
const hostileAnswers = new Map<string, unknown>();

beforeAll(async () => {
  hostile = await startStubUpstream((req) => {
    const body = hostileAnswers.get(req.url.split('?')[0]!);
    return body === undefined ? { status: 404, body: { resourceType: 'OperationOutcome', issue: [] } } : { body };
  });
  stack = await startGatewayStack({
    gateway: (upstream, audience) => ({
      routes: [
        { prefix: '/fhir', upstream, audience, type: 'fhir' },
        // Same audience, an upstream that ignores the patient parameter and lies about ids.
        { prefix: '/hostile', upstream: hostile.url, audience, type: 'fhir' },
      ],
    }),
  });
});
afterAll(async () => {
  await stack?.close();
  await hostile?.close();
});

const DEMO_1 = 'demo-1';
const patientToken = async (scope = 'patient/*.cruds', patient: string | null = DEMO_1) => (await mintToken(stack, { scope, ...(patient ? { patient } : {}) })).token;
const upstreamCalls = (fragment: string) => stack.upstreamSeen.filter((r) => r.url.includes(fragment)).length;
const observation = (id: string | undefined, patient: string) => ({ resourceType: 'Observation', ...(id ? { id } : {}), status: 'final', code: { text: 'test' }, subject: { reference: `Patient/${patient}` } });

function expectCompartmentDenial(r: Awaited<ReturnType<typeof call>>, reason = 'ERR_PATIENT_COMPARTMENT') {
  expect(r.status).toBe(403);
  expect(outcomeOf(r.json).error).toBe('access_denied');
  expect(r.event).toMatchObject({ type: 'phi.denied', outcome: 'denied', reason });
  // Nothing of another patient's record leaves: no identifiers, names or values of demo-2.
  expect(r.text).not.toMatch(/demo-2|DEMO-000002|valueQuantity/);
  // RFC 9728 §5.1: the 403 points to the resource's metadata, with no error code of RFC 6750.
  expect(r.headers.get('www-authenticate')).toMatch(/^Bearer realm="[^"]+", resource_metadata="[^"]+\/\.well-known\/oauth-protected-resource\/[^"]+"$/);
}

describe('reads', () => {
  test('the patient in context reads their own Patient and Observation', async () => {
    const t = await patientToken();
    const p = await call(stack, '/Patient/demo-1', { token: t });
    expect(p.status).toBe(200);
    expect(p.event).toMatchObject({ type: 'phi.accessed', patient: 'Patient/demo-1', scopes: { used: 'patient/*.cruds' } });
    const o = await call(stack, '/Observation/obs-1-2', { token: t });
    expect(o.status).toBe(200);
    expect(o.json.subject.reference).toBe('Patient/demo-1');
    expect(o.event).toMatchObject({ type: 'phi.accessed', patient: 'Patient/demo-1', resource: 'Observation/obs-1-2', action: 'read' });
  });

  test('Patient/{other} is refused before the upstream is asked', async () => {
    const before = upstreamCalls('/Patient/demo-2');
    const r = await call(stack, '/Patient/demo-2', { token: await patientToken() });
    expectCompartmentDenial(r);
    expect(r.event.patient).toBe('Patient/demo-2');
    expect(upstreamCalls('/Patient/demo-2')).toBe(before);
  });

  test('a guessed Observation id of another patient is withheld after the upstream answers (IDOR)', async () => {
    const r = await call(stack, '/Observation/obs-2-1', { token: await patientToken() });
    expectCompartmentDenial(r);
    // Recorded against the patient whose record it is, with the upstream status.
    expect(r.event).toMatchObject({ patient: 'Patient/demo-2', resource: 'Observation/obs-2-1', details: { upstream_status: 200, status: 403 } });
  });

  test('vread and instance history of another patient\'s resource are refused too', async () => {
    const t = await patientToken();
    expectCompartmentDenial(await call(stack, '/Observation/obs-2-1/_history/1', { token: t }));
    expectCompartmentDenial(await call(stack, '/Observation/obs-2-1/_history', { token: t }));
    expect((await call(stack, '/Observation/obs-1-1/_history', { token: t })).status).toBe(200);
  });

  test('patient scopes without a patient in the token are refused', async () => {
    const r = await call(stack, '/Observation/obs-1-1', { token: await patientToken('patient/Observation.rs', null) });
    expect(r.status).toBe(403);
    expect(outcomeOf(r.json).description).toBe('patient scopes need a patient in context, and this token has none');
    expect(r.event.reason).toBe('ERR_NO_PATIENT_CONTEXT');
  });

  test('a type outside the patient compartment is not reachable with patient scopes', async () => {
    const r = await call(stack, '/Practitioner/pr-1', { token: await patientToken('patient/*.rs') });
    expect(r.status).toBe(403);
    expect(r.event.reason).toBe('ERR_NOT_IN_COMPARTMENT_TYPES');
  });

  test('a user/ scope next to a patient/ scope is not bound to the compartment (scopes are a union)', async () => {
    const r = await call(stack, '/Patient/demo-2', { token: await patientToken('patient/*.rs user/Patient.r') });
    expect(r.status).toBe(200);
    expect(r.event).toMatchObject({ type: 'phi.accessed', patient: 'Patient/demo-2', scopes: { used: 'user/Patient.r' } });
  });

  test('a missing permission under a patient scope names the patient scope needed', async () => {
    const r = await call(stack, '/Condition/cond-1-1', { token: await patientToken('patient/Observation.rs') });
    expect(r.status).toBe(403);
    expect(r.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
    expect(r.headers.get('www-authenticate')).toContain('scope="patient/Condition.r"');
  });
});

describe('searches', () => {
  test('a search without a patient parameter gets the token\'s patient added', async () => {
    const r = await call(stack, '/Observation', { token: await patientToken() });
    expect(r.status).toBe(200);
    expect(r.json.entry).toHaveLength(4);
    expect(r.json.entry.every((e: any) => e.resource.subject.reference === 'Patient/demo-1')).toBe(true);
    expect(stack.upstreamSeen.at(-1)!.url).toBe('/Observation?patient=demo-1');
    expect(r.event).toMatchObject({ type: 'phi.accessed', action: 'search', resource: 'Observation', patient: 'Patient/demo-1' });
  });

  test('a Patient search is pinned to the patient by _id', async () => {
    const r = await call(stack, '/Patient', { token: await patientToken() });
    expect(r.json.entry.map((e: any) => e.resource.id)).toEqual(['demo-1']);
    expect(stack.upstreamSeen.at(-1)!.url).toBe('/Patient?_id=demo-1');
  });

  test('patient= and subject= naming the patient in context are accepted in both forms', async () => {
    const t = await patientToken();
    for (const q of ['patient=demo-1', 'subject=Patient/demo-1', 'patient=Patient%2Fdemo-1']) {
      const r = await call(stack, `/Observation?${q}`, { token: t });
      expect(r.status, q).toBe(200);
      expect(r.json.entry, q).toHaveLength(4);
    }
  });

  test('a search naming another patient is refused without asking the upstream', async () => {
    const t = await patientToken();
    for (const q of ['patient=demo-2', 'subject=Patient/demo-2', 'patient=demo-1,demo-2', 'patient=demo-1&patient=demo-2', 'subject:Patient=demo-2', 'patient.name=x', 'subject=Group/1']) {
      const before = stack.upstreamSeen.length;
      const r = await call(stack, `/Observation?${q}`, { token: t });
      expectCompartmentDenial(r, 'ERR_SEARCH_PATIENT_PARAM');
      expect(stack.upstreamSeen.length, q).toBe(before);
    }
    expectCompartmentDenial(await call(stack, '/Patient?_id=demo-2', { token: t }), 'ERR_SEARCH_PATIENT_PARAM');
    expectCompartmentDenial(await call(stack, '/Patient?_id=demo-1,demo-2', { token: t }), 'ERR_SEARCH_PATIENT_PARAM');
  });

  test('a guessed _id of another patient\'s Observation finds nothing (the patient is still added)', async () => {
    const r = await call(stack, '/Observation?_id=obs-2-1', { token: await patientToken() });
    expect(r.status).toBe(200);
    expect(r.json.entry).toEqual([]);
  });

  test('POST _search is constrained the same way, in the form body', async () => {
    const t = await patientToken();
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const ok = await call(stack, '/Observation/_search', { method: 'POST', token: t, body: 'code=8867-4', headers: form });
    expect(ok.status).toBe(200);
    expect(stack.upstreamSeen.at(-1)).toMatchObject({ method: 'POST', url: '/Observation/_search', body: 'code=8867-4&patient=demo-1' });
    expect(ok.json.entry.every((e: any) => e.resource.subject.reference === 'Patient/demo-1')).toBe(true);
    expectCompartmentDenial(await call(stack, '/Observation/_search?patient=demo-1', { method: 'POST', token: t, body: 'patient=demo-2', headers: form }), 'ERR_SEARCH_PATIENT_PARAM');
  });

  test('system search and type history are refused under patient scopes', async () => {
    const t = await patientToken();
    expect((await call(stack, '/?_type=Observation', { token: t })).event.reason).toBe('ERR_INTERACTION_NOT_ALLOWED');
    expect((await call(stack, '/Observation/_history', { token: t })).event.reason).toBe('ERR_INTERACTION_NOT_ALLOWED');
  });

  test('$everything returns the patient\'s own record only, limited to the types the token may read', async () => {
    const all = await call(stack, '/Patient/demo-1/$everything', { token: await patientToken('patient/*.rs') });
    expect(all.status).toBe(200);
    expect(all.json.entry).toHaveLength(11);
    expect(all.event).toMatchObject({ type: 'phi.accessed', action: 'operation:$everything', patient: 'Patient/demo-1' });
    const some = await call(stack, '/Patient/demo-1/$everything', { token: await patientToken('patient/Patient.rs patient/Observation.rs') });
    expect(new Set(some.json.entry.map((e: any) => e.resource.resourceType))).toEqual(new Set(['Patient', 'Observation']));
    expect(some.event.details).toMatchObject({ filtered_entries: 6 });
    expect(some.json.total).toBeUndefined();
    expectCompartmentDenial(await call(stack, '/Patient/demo-2/$everything', { token: await patientToken('patient/*.rs') }));
  });
});

describe('writes', () => {
  test('create for the patient in context is allowed; for another patient it is refused', async () => {
    const t = await patientToken();
    const ok = await call(stack, '/Observation', { method: 'POST', token: t, body: observation(undefined, DEMO_1) });
    expect(ok.status).toBe(201);
    expect(ok.headers.get('location')).toMatch(new RegExp(`^${stack.fhirBase}/Observation/new-\\d+/_history/1$`));
    expect(ok.event).toMatchObject({ type: 'phi.accessed', action: 'create', patient: 'Patient/demo-1' });
    const before = stack.upstreamSeen.length;
    expectCompartmentDenial(await call(stack, '/Observation', { method: 'POST', token: t, body: observation(undefined, 'demo-2') }));
    expectCompartmentDenial(await call(stack, '/Patient', { method: 'POST', token: t, body: { resourceType: 'Patient' } }));
    expect(stack.upstreamSeen.length).toBe(before);
  });

  test('updating another patient\'s Observation is refused after a pre-read, and the PUT never reaches the upstream', async () => {
    const t = await patientToken();
    // The body claims demo-1, but obs-2-2 belongs to demo-2.
    const r = await call(stack, '/Observation/obs-2-2', { method: 'PUT', token: t, body: observation('obs-2-2', DEMO_1) });
    expectCompartmentDenial(r);
    expect(stack.upstreamSeen.some((s) => s.method === 'PUT' && s.url === '/Observation/obs-2-2')).toBe(false);
    expect(stack.fhir.store.current('Observation', 'obs-2-2')).toMatchObject({ subject: { reference: 'Patient/demo-2' } });
    const own = await call(stack, '/Observation/obs-1-3', { method: 'PUT', token: t, body: observation('obs-1-3', DEMO_1) });
    expect(own.status).toBe(200);
    // The write is bound to the version that was checked (If-Match), so it cannot race a change.
    expect(stack.upstreamSeen.filter((s) => s.method === 'PUT' && s.url === '/Observation/obs-1-3').at(-1)!.headers['if-match']).toBe('W/"1"');
    // Moving one's own Observation to another patient is refused too.
    expectCompartmentDenial(await call(stack, '/Observation/obs-1-3', { method: 'PUT', token: t, body: observation('obs-1-3', 'demo-2') }));
  });

  test('deleting another patient\'s resource is refused; one\'s own is allowed', async () => {
    const t = await patientToken();
    expectCompartmentDenial(await call(stack, '/Condition/cond-2-1', { method: 'DELETE', token: t }));
    expect(stack.fhir.store.current('Condition', 'cond-2-1')).toBeTruthy();
    expect((await call(stack, '/Condition/cond-1-2', { method: 'DELETE', token: t })).status).toBe(204);
  });

  test('patch is refused under patient scopes (its result cannot be checked first)', async () => {
    const r = await call(stack, '/Observation/obs-1-1', { method: 'PATCH', token: await patientToken(), body: [{ op: 'replace', path: '/status', value: 'amended' }], headers: { 'content-type': 'application/json-patch+json' } });
    expect(r.status).toBe(403);
    expect(r.event.reason).toBe('ERR_INTERACTION_NOT_ALLOWED');
  });
});

describe('batch and transaction Bundles are checked entry by entry', () => {
  const batch = (type: 'batch' | 'transaction', entries: Array<{ method: string; url: string; resource?: unknown }>) => ({
    resourceType: 'Bundle', type, entry: entries.map((e) => ({ request: { method: e.method, url: e.url }, ...(e.resource ? { resource: e.resource } : {}) })),
  });

  test('allowed entries go through, searches get the patient added', async () => {
    const r = await call(stack, '/', {
      method: 'POST', token: await patientToken(),
      body: batch('batch', [{ method: 'GET', url: 'Patient/demo-1' }, { method: 'GET', url: 'Observation' }, { method: 'POST', url: 'Observation', resource: observation(undefined, DEMO_1) }]),
    });
    expect(r.status).toBe(200);
    expect(r.json.type).toBe('batch-response');
    expect(r.json.entry[0].resource.id).toBe('demo-1');
    expect(r.json.entry[1].resource.entry.length).toBeGreaterThanOrEqual(4);
    expect(r.json.entry[1].resource.entry.every((e: any) => e.resource.subject.reference === 'Patient/demo-1')).toBe(true);
    expect(r.json.entry[2].response.status).toBe('201');
    const sent = JSON.parse(stack.upstreamSeen.filter((s) => s.method === 'POST' && s.url === '/').at(-1)!.body!);
    expect(sent.entry[1].request.url).toBe('Observation?patient=demo-1');
    expect(r.event).toMatchObject({ type: 'phi.accessed', action: 'batch', resource: 'Bundle', patient: 'Patient/demo-1', scopes: { used: 'patient/*.cruds' } });
  });

  test('one entry for another patient refuses the whole Bundle, and it never reaches the upstream', async () => {
    const before = stack.upstreamSeen.length;
    const r = await call(stack, '/', {
      method: 'POST', token: await patientToken(),
      body: batch('transaction', [{ method: 'GET', url: 'Patient/demo-1' }, { method: 'GET', url: 'Patient/demo-2' }]),
    });
    expectCompartmentDenial(r);
    expect(outcomeOf(r.json).description).toMatch(/^entry 1: /);
    expect(r.event.details).toMatchObject({ entry: 1 });
    expect(stack.upstreamSeen.length).toBe(before);
  });

  test('a guessed id inside a batch is withheld from that entry only', async () => {
    const r = await call(stack, '/', {
      method: 'POST', token: await patientToken(),
      body: batch('batch', [{ method: 'GET', url: 'Observation/obs-1-1' }, { method: 'GET', url: 'Observation/obs-2-1' }]),
    });
    expect(r.status).toBe(200);
    expect(r.json.entry[0].resource.id).toBe('obs-1-1');
    expect(r.json.entry[1]).toEqual({ response: { status: '403 Forbidden' } });
    expect(r.text).not.toContain('demo-2');
    expect(r.event.details).toMatchObject({ filtered_entries: 1 });
  });

  test('update and delete entries are refused under patient scopes; scopes are checked per entry', async () => {
    const t = await patientToken('patient/Patient.rs patient/Observation.rs');
    const del = await call(stack, '/', { method: 'POST', token: await patientToken(), body: batch('transaction', [{ method: 'DELETE', url: 'Observation/obs-1-1' }]) });
    expect(del.event.reason).toBe('ERR_INTERACTION_NOT_ALLOWED');
    const scope = await call(stack, '/', { method: 'POST', token: t, body: batch('batch', [{ method: 'GET', url: 'Patient/demo-1' }, { method: 'GET', url: 'Condition/cond-1-1' }]) });
    expect(scope.status).toBe(403);
    expect(scope.headers.get('www-authenticate')).toContain('scope="patient/Condition.r"');
    const nested = await call(stack, '/', { method: 'POST', token: t, body: batch('batch', [{ method: 'GET', url: 'https://elsewhere.example/Patient/demo-1' }]) });
    expect(nested.event.reason).toBe('ERR_BATCH_ENTRY');
  });
});

describe('an upstream that answers with another patient\'s data', () => {
  const obs = (id: string, patient: string) => ({ resourceType: 'Observation', id, status: 'final', subject: { reference: `Patient/${patient}` }, valueQuantity: { value: 1 } });

  test('a search Bundle carrying other patients\' resources is filtered before release', async () => {
    hostileAnswers.set('/Observation', {
      resourceType: 'Bundle', type: 'searchset', total: 4,
      link: [{ relation: 'self', url: `${hostile.url}/Observation?patient=demo-1` }],
      entry: [
        { fullUrl: `${hostile.url}/Observation/a`, resource: obs('a', 'demo-1'), search: { mode: 'match' } },
        { fullUrl: `${hostile.url}/Observation/b`, resource: obs('b', 'demo-2'), search: { mode: 'match' } },
        { resource: { resourceType: 'Observation', id: 'c', subject: { reference: 'Group/g1' } }, search: { mode: 'match' } },
        { resource: { resourceType: 'Practitioner', id: 'p' }, search: { mode: 'include' } },
        { resource: { resourceType: 'OperationOutcome', issue: [] }, search: { mode: 'outcome' } },
      ],
    });
    const r = await call(stack, `${stack.issuer}/hostile/Observation`, { token: await patientToken('patient/Observation.rs') });
    expect(r.status).toBe(200);
    expect(r.json.entry.map((e: any) => e.resource.id ?? e.resource.resourceType)).toEqual(['a', 'OperationOutcome']);
    expect(r.json.total).toBeUndefined();
    expect(r.event.details).toMatchObject({ filtered_entries: 3 });
    // Upstream URLs are rewritten to the gateway's public base.
    expect(r.json.link[0].url).toBe(`${stack.fhirBase}/Observation?patient=demo-1`);
    expect(r.json.entry[0].fullUrl).toBe(`${stack.fhirBase}/Observation/a`);
    expect(r.text).not.toContain(hostile.url);
    expect(hostile.seen.at(-1)!.url).toBe('/Observation?patient=demo-1');
  });

  test('a read answered with another id, or another type, is a 502 and nothing is released', async () => {
    hostileAnswers.set('/Observation/obs-1-1', obs('obs-9-9', 'demo-1'));
    const r = await call(stack, `${stack.issuer}/hostile/Observation/obs-1-1`, { token: await patientToken('patient/Observation.rs') });
    expect(r.status).toBe(502);
    expect(r.event).toMatchObject({ type: 'phi.denied', outcome: 'error', reason: 'ERR_UPSTREAM_MISMATCH' });
    expect(r.text).not.toContain('obs-9-9');
  });

  test('a read whose subject is not a Patient reference fails closed', async () => {
    hostileAnswers.set('/Observation/obs-1-2', { resourceType: 'Observation', id: 'obs-1-2', subject: { reference: 'Group/g1' } });
    expectCompartmentDenial(await call(stack, `${stack.issuer}/hostile/Observation/obs-1-2`, { token: await patientToken('patient/Observation.rs') }));
    hostileAnswers.set('/Observation/obs-1-3', { resourceType: 'Observation', id: 'obs-1-3' });
    expectCompartmentDenial(await call(stack, `${stack.issuer}/hostile/Observation/obs-1-3`, { token: await patientToken('patient/Observation.rs') }));
  });

  test('a non-JSON answer is a 502', async () => {
    hostileAnswers.set('/Patient/demo-1', '<Patient/>');
    const r = await call(stack, `${stack.issuer}/hostile/Patient/demo-1`, { token: await patientToken() });
    expect(r.status).toBe(502);
    expect(r.event.reason).toBe('ERR_UPSTREAM_FORMAT');
  });
});
