// The audit HTTP API over real TLS (test/support/stack.ts): the public signed checkpoint and
// verifier key; the admin endpoints admit only client_credentials tokens for `${issuer}/audit`
// with the audit.read scope (RFC 6750 §3 challenges otherwise); every admin read is recorded as an
// audit.read event before the answer, and fails closed with 503 when it cannot be.
import { fetch, type Dispatcher } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addClient } from '../../src/admin/clients.js';
import { openCheckpoint, searchEvents, verifyConsistencyProof, verifyInclusionProof, type AuditEvent, type AuditSink, type ConsistencyProof, type InclusionProof } from '../../src/audit/index.js';
import { startTestStack, trustingDispatcher, type TestStack } from '../support/stack.js';

let stack: TestStack;
let dispatcher: Dispatcher;
let auditApi: string;
/** When set, the ledger refuses audit.read events (as a full disk or a lost database would). */
let refuseAuditReads = false;
const secrets = new Map<string, string>();

beforeAll(async () => {
  stack = await startTestStack({
    configure: (c) => {
      c.resources.push({ uri: `${c.issuer}/audit`, name: 'Caduceus audit API', scopes: [] });
    },
    context: {
      wrapAudit: (ledger: AuditSink): AuditSink => ({
        record: (event) => (refuseAuditReads && event.type === 'audit.read' ? Promise.reject(new Error('ledger down')) : ledger.record(event)),
      }),
    },
  });
  dispatcher = trustingDispatcher(stack.ca);
  auditApi = `${stack.issuer}/audit`;
  const deps = { storage: stack.ctx.storage, masterKey: stack.ctx.masterKey, audit: stack.ctx.audit, now: stack.ctx.now, actor: 'test' };
  const resources = stack.ctx.config.resources.map((r) => r.uri);
  for (const [id, scope] of [['auditor', 'audit.read'], ['no-scope', 'system/Patient.rs']] as const) {
    const { secret } = await addClient(deps, {
      client_id: id, name: id, grant_types: ['client_credentials'], redirect_uris: [], scope, resources: [auditApi],
      token_endpoint_auth_method: 'client_secret_basic',
    }, resources);
    secrets.set(id, secret!);
  }
  secrets.set(stack.demo.cc_client_id, stack.demo.cc_client_secret);
});
afterAll(() => stack?.close());

async function token(clientId: string): Promise<string> {
  const res = await fetch(`${stack.issuer}/token`, {
    method: 'POST',
    dispatcher,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${clientId}:${secrets.get(clientId)}`).toString('base64')}`,
    },
    body: new URLSearchParams({ grant_type: 'client_credentials' }).toString(),
  });
  const body = (await res.json()) as { access_token?: string };
  expect(res.status, JSON.stringify(body)).toBe(200);
  return body.access_token!;
}

async function get(path: string, bearer?: string) {
  const res = await fetch(`${stack.issuer}${path}`, { dispatcher, headers: bearer ? { authorization: `Bearer ${bearer}` } : {} });
  const text = await res.text();
  let json: any;
  try { json = JSON.parse(text); } catch { /* text */ }
  return { status: res.status, headers: res.headers, text, json };
}

async function latestAuditRead(): Promise<AuditEvent | undefined> {
  return (await searchEvents(stack.ctx.storage.sql, { type: 'audit.read', limit: 1 }))[0];
}

describe('public checkpoint and key', () => {
  it('GET /audit/checkpoint serves the latest signed checkpoint, whose signature verifies with GET /audit/key', async () => {
    let res = await get('/audit/checkpoint');
    // The ledger signs within checkpoint_interval_ms (1 s) of the dev stack's first events.
    for (let i = 0; i < 50 && res.status === 404; i++) {
      await new Promise((r) => setTimeout(r, 100));
      res = await get('/audit/checkpoint');
    }
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    const key = await get('/audit/key');
    expect(key.status).toBe(200);
    const origin = `${new URL(stack.issuer).host}/audit`;
    expect(key.text).toMatch(new RegExp(`^${origin.replace(/[.]/g, '\\.')}\\+[0-9a-f]{8}\\+[A-Za-z0-9+/]{44}\\n$`));
    const opened = openCheckpoint(res.text, key.text.trim(), { origin });
    expect(opened.size).toBeGreaterThan(0);
    const stored = await stack.ctx.storage.sql.get<{ root_hash: Buffer }>('SELECT root_hash FROM audit_checkpoints WHERE tree_size = $1', [opened.size]);
    expect(Buffer.from(stored!.root_hash).equals(opened.rootHash)).toBe(true);
    // A forged note does not verify with that key.
    const forged = res.text.replace(/\n\d+\n/, `\n${opened.size + 1}\n`);
    expect(() => openCheckpoint(forged, key.text.trim())).toThrow(/does not verify/);
  });
});

describe('admin endpoints', () => {
  it('GET /audit/events without a token is 401 with a Bearer challenge and no error code (RFC 6750 §3.1)', async () => {
    const res = await get('/audit/events');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(`Bearer realm="${auditApi}", scope="audit.read"`);
    expect(res.json).toEqual({ error: 'invalid_token', error_description: 'a bearer access token with the audit.read scope is required' });
    expect(res.text).not.toContain('"events"');
  });

  it('an unknown, or a refresh-token-shaped, or a foreign-audience token is 401 invalid_token', async () => {
    const garbage = await get('/audit/events', 'not-a-token');
    expect(garbage.status).toBe(401);
    expect(garbage.headers.get('www-authenticate')).toMatch(/^Bearer realm="[^"]+", error="invalid_token", error_description="the access token is not active"$/);
    // The demo backend's token is for the FHIR server: RFC 9068 §4 audience check.
    const fhirToken = await token(stack.demo.cc_client_id);
    const foreign = await get('/audit/events', fhirToken);
    expect(foreign.status).toBe(401);
    expect(foreign.json).toEqual({ error: 'invalid_token', error_description: `the access token is not for the audit API (its audience must be ${auditApi})` });
  });

  it('a token for the audit API without the audit.read scope is 403 insufficient_scope, and the attempt is recorded', async () => {
    const res = await get('/audit/events', await token('no-scope'));
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toBe(`Bearer realm="${auditApi}", error="insufficient_scope", error_description="the access token lacks the audit.read scope", scope="audit.read"`);
    expect(res.json).toEqual({ error: 'insufficient_scope', error_description: 'the access token lacks the audit.read scope' });
    expect(await latestAuditRead()).toMatchObject({ actor: { clientId: 'no-scope' }, outcome: 'denied', reason: 'insufficient_scope' });
  });

  it('with audit.read, GET /audit/events answers 200 with the matching events and records an audit.read first', async () => {
    const bearer = await token('auditor');
    const res = await get('/audit/events?type=client.changed&limit=2', bearer);
    expect(res.status, res.text).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const events = res.json.events as AuditEvent[];
    expect(events).toHaveLength(2);
    expect(events.every((e) => e.type === 'client.changed')).toBe(true);
    expect(res.json.next_before_seq).toBe(events[1]!.seq);
    const read = await latestAuditRead();
    expect(read).toMatchObject({
      type: 'audit.read', outcome: 'success', action: 'search', actor: { clientId: 'auditor' }, resource: '/audit/events',
      scopes: { used: 'audit.read' }, details: { filters: 'type,limit', results: 2 }, sourceAddress: '127.0.0.1',
    });
    expect(typeof read!.jti).toBe('string');
    expect(read!.seq).toBeGreaterThan(events[0]!.seq);
    // The read itself is now searchable, and the patient filter is kept as the event's patient.
    const again = await get('/audit/events?type=audit.read&patient=Patient%2Fp-9&since=2020-01-01', bearer);
    expect(again.status).toBe(200);
    expect(await latestAuditRead()).toMatchObject({ patient: 'Patient/p-9', details: { filters: 'patient,type,since', results: 0 } });
  });

  it('refuses unknown or malformed parameters with 400 invalid_request naming the parameter', async () => {
    const bearer = await token('auditor');
    const cases: [string, RegExp][] = [
      ['/audit/events?patient_id=1', /unknown parameter "patient_id"/],
      ['/audit/events?since=yesterday', /since must be an ISO 8601 date/],
      ['/audit/events?type=nope', /type: not an audit event type/],
      ['/audit/events?limit=0', /limit must be an integer from 1 to 10000/],
      ['/audit/events?outcome=a&outcome=b', /parameter outcome is repeated/],
      ['/audit/proof', /parameter seq is required/],
      ['/audit/proof?seq=999999', /seq must be an integer from 0 to \d+/],
      ['/audit/consistency?from=1&to=999999', /to must be an integer from 0 to \d+/],
    ];
    for (const [path, message] of cases) {
      const res = await get(path, bearer);
      expect(res.status, path).toBe(400);
      expect(res.json.error, path).toBe('invalid_request');
      expect(res.json.error_description, path).toMatch(message);
    }
  });

  it('serves inclusion and consistency proofs that verify, each read recorded', async () => {
    const bearer = await token('auditor');
    const noToken = await get('/audit/proof?seq=0');
    expect(noToken.status).toBe(401);
    const proof = await get('/audit/proof?seq=1&size=3', bearer);
    expect(proof.status, proof.text).toBe(200);
    const inclusion = proof.json as InclusionProof;
    expect(inclusion).toMatchObject({ leaf_index: 1, tree_size: 3 });
    expect(verifyInclusionProof(inclusion)).toEqual({ ok: true });
    expect(await latestAuditRead()).toMatchObject({ action: 'inclusion_proof', details: { seq: 1, tree_size: 3 } });
    const consistency = await get('/audit/consistency?from=2&to=5', bearer);
    expect(consistency.status, consistency.text).toBe(200);
    const c = consistency.json as ConsistencyProof;
    expect(c).toMatchObject({ first: 2, second: 5 });
    expect(verifyConsistencyProof(c)).toEqual({ ok: true });
    expect(c.second_hash).not.toBe(inclusion.root_hash);
    expect(await latestAuditRead()).toMatchObject({ action: 'consistency_proof', details: { first: 2, second: 5 } });
  });

  it('fails closed with 503 and discloses nothing when the ledger cannot record the read', async () => {
    const bearer = await token('auditor');
    refuseAuditReads = true;
    try {
      const res = await get('/audit/events?type=client.changed', bearer);
      expect(res.status).toBe(503);
      expect(res.json).toEqual({ error: 'temporarily_unavailable', error_description: 'the service cannot record this request right now; try again later' });
      expect(res.text).not.toContain('client.changed');
      expect((await get('/audit/proof?seq=0', bearer)).status).toBe(503);
    } finally {
      refuseAuditReads = false;
    }
    expect((await get('/audit/events?type=client.changed', bearer)).status).toBe(200);
  });
});

describe('DPoP-bound reader tokens', () => {
  it('needs a proof of possession: the bound token as plain Bearer is refused, with a proof it reads', async () => {
    const { dpopKey, proof } = await import('../dpop/proofs.js');
    const { createHash } = await import('node:crypto');
    const key = await dpopKey();
    const tokenUrl = `${stack.issuer}/token`;
    const res = await fetch(tokenUrl, {
      method: 'POST', dispatcher,
      headers: {
        'content-type': 'application/x-www-form-urlencoded', dpop: await proof(key, 'POST', tokenUrl),
        authorization: `Basic ${Buffer.from(`auditor:${secrets.get('auditor')}`).toString('base64')}`,
      },
      body: new URLSearchParams({ grant_type: 'client_credentials' }).toString(),
    });
    const body = (await res.json()) as { access_token: string; token_type: string };
    expect(res.status).toBe(200);
    expect(body.token_type).toBe('DPoP');
    const asBearer = await get('/audit/events?type=client.changed', body.access_token);
    expect(asBearer.status).toBe(401);
    const url = `${stack.issuer}/audit/events`;
    const ath = createHash('sha256').update(body.access_token).digest('base64url');
    const withProof = await fetch(`${url}?type=client.changed`, {
      dispatcher, headers: { authorization: `DPoP ${body.access_token}`, dpop: await proof(key, 'GET', url, { ath }) },
    });
    expect(withProof.status).toBe(200);
  });
});
