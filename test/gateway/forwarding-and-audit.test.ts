// What crosses the gateway: only allow-listed headers and identity headers go upstream (RFC 9700
// §4.13), masked elements never come back, upstream failures are 502 and audited, and a ledger that
// cannot write stops every response (503, no PHI): "no audit, no access".
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { AuditSink } from '../../src/audit/events.js';
import { gatewayIdentityKey, verifyIdentityHeaders } from '../../src/gateway/index.js';
import { freePort } from '../support/stack.js';
import { searchEvents } from '../../src/audit/search.js';
import { verifyLedger } from '../../src/audit/verify.js';
import { call, mintToken, outcomeOf, PHI_EVENTS, startGatewayStack, startStubUpstream, type GatewayStack, type StubUpstream } from './harness.js';

let stack: GatewayStack;
let notes: StubUpstream;
let silent: Server;
let ledgerDown = false;

beforeAll(async () => {
  notes = await startStubUpstream((req) => ({ type: 'application/json', body: { ok: true, path: req.url }, headers: { 'set-cookie': 'upstream=1', server: 'notes/1.0', location: '/notes/9' } }));
  silent = createServer(() => { /* never answers */ });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const silentUrl = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
  const downUrl = `http://127.0.0.1:${await freePort()}`;
  const wrapAudit = (ledger: AuditSink): AuditSink => ({
    record: async (e) => {
      if (ledgerDown) throw new Error('ledger unavailable');
      return ledger.record(e);
    },
  });
  stack = await startGatewayStack({
    context: { wrapAudit },
    gateway: (upstream, audience) => ({
      routes: [
        {
          prefix: '/fhir', upstream, audience, type: 'fhir', identity: { header_prefix: 'x-caduceus-', sign: true },
          mask: [{ path: 'Patient.identifier', unless_scope: 'phi.identifiers' }, { path: 'Patient.telecom' }],
        },
        { prefix: '/down', upstream: downUrl, audience, type: 'fhir' },
        { prefix: '/private', upstream, audience, type: 'fhir', public_metadata: false },
        { prefix: '/slow', upstream: silentUrl, audience, type: 'fhir', timeout_ms: 300 },
        {
          prefix: '/notes-api', upstream: notes.url, audience, type: 'http', body_limit_bytes: 1024,
          rules: [
            { method: 'GET', path: '/patients/:pid/notes', scopes: ['patient/DocumentReference.r', 'notes.read'], patient_param: 'pid' },
            { method: 'POST', path: '/notes', scopes: ['notes.write'] },
            { method: 'GET', path: '/stats', scopes: ['patient/DocumentReference.r'] },
          ],
        },
      ],
    }),
  });
});
afterAll(async () => {
  await stack?.close();
  await notes?.close();
  silent?.close();
});

const token = async (scope: string, patient?: string) => (await mintToken(stack, { scope, ...(patient ? { patient } : {}) })).token;

describe('request headers', () => {
  test('only allow-listed headers reach the upstream; Authorization, Cookie and X-Forwarded-For never do', async () => {
    const t = await token('patient/*.rs', 'demo-1');
    const r = await call(stack, '/Observation?patient=demo-1', {
      token: t,
      headers: {
        cookie: 'session=abc', 'x-forwarded-for': '203.0.113.9', 'x-real-ip': '203.0.113.9', forwarded: 'for=203.0.113.9',
        'x-caduceus-patient': 'demo-2', 'x-caduceus-subject': 'admin', 'user-agent': 'secret-agent/1.0',
        prefer: 'handling=strict', 'if-none-match': 'W/"1"', accept: 'application/fhir+xml', 'x-custom': 'nope',
      },
    });
    expect(r.status).toBe(200);
    const seen = stack.upstreamSeen.at(-1)!;
    const headers = seen.headers;
    for (const name of ['authorization', 'cookie', 'x-forwarded-for', 'x-real-ip', 'forwarded', 'x-custom']) expect(headers[name], name).toBeUndefined();
    expect(JSON.stringify(headers)).not.toContain(t);
    expect(JSON.stringify(headers)).not.toContain('secret-agent');
    expect(headers).toMatchObject({
      prefer: 'handling=strict', 'if-none-match': 'W/"1"', accept: 'application/fhir+json',
      'x-caduceus-patient': 'demo-1', 'x-caduceus-subject': 'user-test-1', 'x-caduceus-client-id': stack.demo.client_id, 'x-caduceus-scope': 'patient/*.rs',
    });
  });

  test('signed identity headers verify with the derived key, and not once altered', async () => {
    await call(stack, '/Patient/demo-1', { token: await token('patient/*.rs', 'demo-1') });
    const seen = stack.upstreamSeen.at(-1)!;
    const key = gatewayIdentityKey(stack.ctx.masterKey);
    const request = { method: seen.method, pathAndQuery: seen.url };
    const identity = verifyIdentityHeaders(seen.headers, request, key, { now: stack.ctx.now() });
    expect(identity).toMatchObject({ subject: 'user-test-1', clientId: stack.demo.client_id, patient: 'demo-1', scopes: ['patient/*.rs'] });
    expect(verifyIdentityHeaders({ ...seen.headers, 'x-caduceus-patient': 'demo-2' }, request, key, { now: stack.ctx.now() })).toBeUndefined();
    expect(verifyIdentityHeaders(seen.headers, { ...request, pathAndQuery: '/Patient/demo-2' }, key, { now: stack.ctx.now() })).toBeUndefined();
    expect(verifyIdentityHeaders(seen.headers, request, key, { now: stack.ctx.now() + 120_000 })).toBeUndefined();
  });

  test('the audit event holds identifiers only: no search values, no token', async () => {
    const t = await token('user/Observation.rs');
    const r = await call(stack, '/Observation?patient=demo-3&code=http://loinc.org|8867-4&value-quantity=gt100', { token: t });
    expect(r.status).toBe(200);
    const text = JSON.stringify(r.event);
    for (const secret of ['8867-4', 'gt100', 'loinc', t]) expect(text).not.toContain(secret);
    expect(r.event).toMatchObject({ patient: 'Patient/demo-3', resource: 'Observation', action: 'search' });
  });
});

describe('masking (minimum necessary)', () => {
  test('masked elements are removed unless the token carries the named scope', async () => {
    const plain = await call(stack, '/Patient/demo-1', { token: await token('patient/Patient.rs', 'demo-1') });
    expect(plain.json.identifier).toBeUndefined();
    expect(plain.json.telecom).toBeUndefined();
    expect(plain.json.name).toBeDefined();
    expect(plain.text).not.toContain('DEMO-000001');
    expect(plain.event.details).toMatchObject({ masked_elements: 2 });
    const privileged = await call(stack, '/Patient/demo-1', { token: await token('patient/Patient.rs phi.identifiers', 'demo-1') });
    expect(privileged.json.identifier[0].value).toBe('DEMO-000001');
    expect(privileged.json.telecom).toBeUndefined();
  });

  test('masking reaches every Patient in a Bundle', async () => {
    const r = await call(stack, '/Patient?_id=demo-4,demo-5', { token: await token('user/Patient.rs') });
    expect(r.json.entry).toHaveLength(2);
    for (const e of r.json.entry) {
      expect(e.resource.identifier).toBeUndefined();
      expect(e.resource.telecom).toBeUndefined();
    }
    expect(r.event.details).toMatchObject({ masked_elements: 4 });
  });
});

describe('upstream failures', () => {
  test('an unreachable upstream is 502, audited as phi.denied with outcome error', async () => {
    const r = await call(stack, `${stack.issuer}/down/Patient/demo-1`, { token: await token('user/Patient.rs') });
    expect(r.status).toBe(502);
    expect(outcomeOf(r.json)).toEqual({ error: 'bad_gateway', description: 'the upstream server is not reachable' });
    expect(r.event).toMatchObject({ type: 'phi.denied', outcome: 'error', reason: 'ERR_UPSTREAM_UNAVAILABLE', resource: 'Patient/demo-1', patient: 'Patient/demo-1' });
  });

  test('an upstream that does not answer in time is 504, audited', async () => {
    const r = await call(stack, `${stack.issuer}/slow/Patient/demo-1`, { token: await token('user/Patient.rs') });
    expect(r.status).toBe(504);
    expect(r.event).toMatchObject({ type: 'phi.denied', outcome: 'error', reason: 'ERR_UPSTREAM_TIMEOUT' });
  });
});

describe('http routes: explicit rules, deny by default', () => {
  const notesUrl = (path: string) => `${stack.issuer}/notes-api${path}`;

  test('a patient scope reaches a rule only for the patient named in its patient param', async () => {
    const t = await token('patient/DocumentReference.rs', 'demo-1');
    const own = await call(stack, notesUrl('/patients/demo-1/notes?since=2025'), { token: t });
    expect(own.status).toBe(200);
    expect(own.json).toEqual({ ok: true, path: '/patients/demo-1/notes?since=2025' });
    expect(own.event).toMatchObject({ type: 'phi.accessed', patient: 'Patient/demo-1', resource: '/notes-api/patients/:pid/notes', scopes: { used: 'patient/DocumentReference.rs' } });
    // Upstream headers are allow-listed on the way back too.
    expect(own.headers.get('set-cookie')).toBeNull();
    expect(own.headers.get('server')).toBeNull();
    const other = await call(stack, notesUrl('/patients/demo-2/notes'), { token: t });
    expect(other.status).toBe(403);
    expect(other.event.reason).toBe('ERR_PATIENT_COMPARTMENT');
    // A rule without a patient param cannot be reached with patient scopes at all.
    expect((await call(stack, notesUrl('/stats'), { token: t })).event.reason).toBe('ERR_PATIENT_COMPARTMENT');
  });

  test('a plain scope authorises its rule; anything unmatched is 403', async () => {
    const t = await token('notes.read notes.write');
    expect((await call(stack, notesUrl('/patients/demo-7/notes'), { token: t })).status).toBe(200);
    const posted = await call(stack, notesUrl('/notes'), { method: 'POST', token: t, body: '{"text":"x"}', headers: { 'content-type': 'application/json' } });
    expect(posted.status).toBe(200);
    expect(notes.seen.at(-1)).toMatchObject({ method: 'POST', url: '/notes', body: '{"text":"x"}' });
    expect(notes.seen.at(-1)!.headers.authorization).toBeUndefined();
    expect(posted.headers.get('location')).toBe('/notes/9');
    for (const [method, path] of [['DELETE', '/notes'], ['GET', '/admin'], ['GET', '/patients/demo-7'], ['GET', '/patients/demo-7/notes/extra']] as const) {
      const r = await call(stack, notesUrl(path), { method, token: t });
      expect(r.status, `${method} ${path}`).toBe(403);
      expect(r.event.reason).toBe('ERR_NO_RULE');
    }
    const encoded = await call(stack, notesUrl('/patients/demo-7%2F..%2Fadmin/notes'), { token: t });
    expect(encoded.event.reason).toBe('ERR_PATH_NOT_ALLOWED');
  });

  test('a missing scope is insufficient_scope naming the rule\'s scopes', async () => {
    const r = await call(stack, notesUrl('/notes'), { method: 'POST', token: await token('notes.read'), body: '{}', headers: { 'content-type': 'application/json' } });
    expect(r.status).toBe(403);
    expect(r.json).toEqual({ error: 'insufficient_scope', error_description: 'the access token does not carry a scope that allows this request' });
    expect(r.headers.get('www-authenticate')).toContain('scope="notes.write"');
  });

  test('a body over the route limit is 413 and audited', async () => {
    const r = await call(stack, notesUrl('/notes'), { method: 'POST', token: await token('notes.write'), body: 'x'.repeat(4096), headers: { 'content-type': 'text/plain' } });
    expect(r.status).toBe(413);
    expect(r.event).toMatchObject({ type: 'phi.denied', reason: 'ERR_BODY_TOO_LARGE' });
  });
});

describe('one ledger event per request', () => {
  test('a mixed run of allowed, refused and failed requests leaves exactly one phi.* event each, and the ledger verifies', async () => {
    const count = async () => (await searchEvents(stack.ctx.storage.sql, { type: PHI_EVENTS, limit: 10_000 })).length;
    const before = await count();
    const t = await token('patient/*.rs', 'demo-1');
    const requests: Array<[string, Record<string, unknown>]> = [
      ['/Patient/demo-1', { token: t }], ['/Patient/demo-2', { token: t }], ['/Observation', { token: t }], ['/Observation?patient=demo-9', { token: t }],
      ['/Observation/obs-4-1', { token: t }], ['/metadata', {}], ['/Patient/demo-1', {}], ['/Patient/demo-1', { token: 'x.y.z' }],
      [`${stack.issuer}/down/Patient/demo-1`, { token: t }], [`${stack.issuer}/private/metadata`, {}], [`${stack.issuer}/private/metadata`, { token: t }],
    ];
    const statuses: number[] = [];
    for (const [path, o] of requests) statuses.push((await call(stack, path, o)).status);
    expect(statuses).toEqual([200, 403, 200, 403, 403, 200, 401, 401, 502, 401, 200]);
    expect(await count()).toBe(before + requests.length);
    expect((await verifyLedger(stack.ctx.storage.sql)).ok).toBe(true);
  });
});

describe('no audit, no access', () => {
  test('when the ledger cannot write, every answer is 503 and no PHI leaves', async () => {
    const t = await token('user/*.cruds');
    ledgerDown = true;
    try {
      const read = await call(stack, '/Patient/demo-1', { token: t, expectEvents: 0 });
      expect(read.status).toBe(503);
      expect(outcomeOf(read.json)).toEqual({ error: 'temporarily_unavailable', description: 'the request cannot be recorded right now; try again later' });
      for (const phi of ['DEMO-000001', 'birthDate', 'demo-1', '"Patient"']) expect(read.text).not.toContain(phi);
      expect(read.headers.get('etag')).toBeNull();
      const created = await call(stack, '/Observation', { method: 'POST', token: t, body: { resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: { reference: 'Patient/demo-1' } }, expectEvents: 0 });
      expect(created.status).toBe(503);
      expect(created.headers.get('location')).toBeNull();
      // Denials too: a refusal that cannot be recorded is a 503 as well.
      expect((await call(stack, '/Patient/demo-1', { expectEvents: 0 })).status).toBe(503);
      expect((await call(stack, '/metadata', { expectEvents: 0 })).status).toBe(503);
    } finally {
      ledgerDown = false;
    }
    expect((await call(stack, '/Patient/demo-1', { token: t })).status).toBe(200);
  });
});
