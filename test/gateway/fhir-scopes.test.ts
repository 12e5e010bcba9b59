// SMART scope × FHIR interaction at the gateway (SMART App Launch 2.2, "Scopes for requesting FHIR
// Resources"; docs/SECURITY.md "PHI gateway: deny by default, SMART scope per interaction": the
// gateway derives the required SMART scope from FHIR REST semantics). user/ scopes here, so no
// compartment is in play: only the permission letters, types, wildcards, v1 mapping and
// deny-by-default.
import { resourceMetadataUrl } from '../../src/oauth/endpoints/protected-resource-metadata.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { call, mintToken, outcomeOf, startGatewayStack, type GatewayStack } from './harness.js';
import type { Permission } from '../../src/smart/scopes.js';

let stack: GatewayStack;
beforeAll(async () => {
  stack = await startGatewayStack();
});
afterAll(() => stack?.close());

const token = async (scope: string) => (await mintToken(stack, { scope })).token;
const observation = (id: string | undefined, patient: string) => ({ resourceType: 'Observation', ...(id ? { id } : {}), status: 'final', code: { text: 'test' }, subject: { reference: `Patient/${patient}` } });

interface Case {
  name: string;
  letter: Permission;
  method: string;
  path: string;
  body?: unknown;
  headers?: Record<string, string>;
}

const CASES: Case[] = [
  { name: 'read', letter: 'r', method: 'GET', path: '/Observation/obs-3-1' },
  { name: 'vread', letter: 'r', method: 'GET', path: '/Observation/obs-3-1/_history/1' },
  { name: 'instance history', letter: 'r', method: 'GET', path: '/Observation/obs-3-1/_history' },
  { name: 'type search (GET)', letter: 's', method: 'GET', path: '/Observation?patient=demo-3' },
  { name: 'type search (POST _search)', letter: 's', method: 'POST', path: '/Observation/_search', body: 'patient=demo-3', headers: { 'content-type': 'application/x-www-form-urlencoded' } },
  { name: 'type history', letter: 's', method: 'GET', path: '/Observation/_history' },
  { name: 'create', letter: 'c', method: 'POST', path: '/Observation', body: observation(undefined, 'demo-3') },
  { name: 'update', letter: 'u', method: 'PUT', path: '/Observation/obs-3-2', body: observation('obs-3-2', 'demo-3') },
  { name: 'patch', letter: 'u', method: 'PATCH', path: '/Observation/obs-3-2', body: [{ op: 'replace', path: '/status', value: 'amended' }], headers: { 'content-type': 'application/json-patch+json' } },
  { name: 'delete', letter: 'd', method: 'DELETE', path: '/Observation/obs-3-4' },
];

describe('each SMART v2 permission letter allows exactly its interactions', () => {
  for (const granted of ['c', 'r', 'u', 'd', 's'] as const) {
    test(`user/Observation.${granted}`, async () => {
      const t = await token(`user/Observation.${granted}`);
      for (const c of CASES) {
        const r = await call(stack, c.path, { method: c.method, token: t, ...(c.body !== undefined ? { body: c.body } : {}), ...(c.headers ? { headers: c.headers } : {}) });
        if (c.letter === granted) {
          expect(r.status, `${c.name} with .${granted}`).not.toBe(403);
          expect(r.event, c.name).toMatchObject({ type: 'phi.accessed', scopes: { used: `user/Observation.${granted}` } });
        } else {
          expect(r.status, `${c.name} with .${granted}`).toBe(403);
          expect(r.headers.get('www-authenticate'), c.name).toBe(
            `Bearer realm="${stack.fhirBase}", error="insufficient_scope", error_description="the access token does not carry a scope that allows this request", scope="user/Observation.${c.letter}", resource_metadata="${resourceMetadataUrl(stack.fhirBase)}"`,
          );
          expect(outcomeOf(r.json)).toEqual({ error: 'insufficient_scope', description: 'the access token does not carry a scope that allows this request' });
          expect(r.event, c.name).toMatchObject({ type: 'phi.denied', outcome: 'denied', reason: 'ERR_INSUFFICIENT_SCOPE' });
          expect(r.event.scopes).toBeUndefined();
        }
      }
    });
  }
});

describe('v1 scopes are mapped to v2', () => {
  const expectations: Array<[string, Permission[]]> = [
    ['user/Observation.read', ['r', 's']],
    ['user/Observation.write', ['c', 'u', 'd']],
    ['user/Observation.*', ['c', 'r', 'u', 'd', 's']],
    ['user/*.read', ['r', 's']],
  ];
  for (const [scope, allowed] of expectations) {
    test(`${scope} allows ${allowed.join('')}`, async () => {
      const t = await token(scope);
      for (const c of CASES) {
        const r = await call(stack, c.path, { method: c.method, token: t, ...(c.body !== undefined ? { body: c.body } : {}), ...(c.headers ? { headers: c.headers } : {}) });
        expect(r.status === 403, `${c.name} with ${scope}`).toBe(!allowed.includes(c.letter));
        if (r.status !== 403) expect(r.event.scopes?.used).toBe(scope);
      }
    });
  }
});

describe('types and wildcards', () => {
  test('a scope for one type does not reach another type', async () => {
    const r = await call(stack, '/Condition/cond-3-1', { token: await token('user/Observation.rs') });
    expect(r.status).toBe(403);
    expect(r.headers.get('www-authenticate')).toContain('scope="user/Condition.r"');
  });

  test('a "*" scope reaches every type, and the answer is the upstream one', async () => {
    const t = await token('user/*.rs');
    for (const path of ['/Condition/cond-3-1', '/MedicationRequest/medreq-3-1', '/Encounter/enc-3-1', '/Patient/demo-3']) {
      const r = await call(stack, path, { token: t });
      expect(r.status, path).toBe(200);
      expect(`/${r.json.resourceType}/${r.json.id}`).toBe(path);
      expect(r.event).toMatchObject({ type: 'phi.accessed', scopes: { used: 'user/*.rs' }, patient: 'Patient/demo-3', resource: path.slice(1) });
    }
  });

  test('system search and system history need a "*" scope', async () => {
    const typed = await token('user/Observation.rs');
    expect((await call(stack, '/?_type=Observation', { token: typed })).status).toBe(403);
    expect((await call(stack, '/_history', { token: typed })).status).toBe(403);
    const wildcard = await call(stack, '/_history', { token: await token('user/*.s') });
    expect(wildcard.status).not.toBe(403);
    expect(wildcard.event).toMatchObject({ type: 'phi.accessed', action: 'history', resource: '*', scopes: { used: 'user/*.s' } });
  });

  test('system/ scopes work like user/ scopes without a user', async () => {
    const { token: t } = await mintToken(stack, { scope: 'system/Observation.rs', subject: stack.demo.cc_client_id, clientId: stack.demo.cc_client_id });
    const r = await call(stack, '/Observation?patient=demo-4', { token: t });
    expect(r.status).toBe(200);
    expect(r.json.entry).toHaveLength(4);
    expect(r.event).toMatchObject({ type: 'phi.accessed', actor: { clientId: stack.demo.cc_client_id }, patient: 'Patient/demo-4', scopes: { used: 'system/Observation.rs' } });
    expect(r.event.actor.userId).toBeUndefined();
  });

  test('identity-only scopes (openid, fhirUser, launch) authorise nothing', async () => {
    const r = await call(stack, '/Patient/demo-1', { token: await token('openid fhirUser launch/patient offline_access') });
    expect(r.status).toBe(403);
    expect(r.event.reason).toBe('ERR_INSUFFICIENT_SCOPE');
  });

  test('a granular scope allows only searches carrying its constraint', async () => {
    const t = await token('user/Observation.rs?category=vital-signs');
    const constrained = await call(stack, '/Observation?patient=demo-5&category=vital-signs', { token: t });
    expect(constrained.status).toBe(200);
    expect(constrained.event.scopes?.used).toBe('user/Observation.rs?category=vital-signs');
    expect((await call(stack, '/Observation?patient=demo-5', { token: t })).status).toBe(403);
    expect((await call(stack, '/Observation?patient=demo-5&category=laboratory', { token: t })).status).toBe(403);
    // A read cannot be checked against a search constraint: refused.
    expect((await call(stack, '/Observation/obs-5-1', { token: t })).status).toBe(403);
  });
});

describe('deny by default', () => {
  const paths: Array<[string, string, string, string?]> = [
    ['GET', '', 'the base URL alone'],
    ['GET', '/Observation/obs-3-1/extra', 'an unknown sub-path'],
    ['GET', '/Patient/demo-3/Observation', 'compartment search'],
    ['GET', '/Patient/demo-3/$validate', 'an unknown operation', 'ERR_INTERACTION_NOT_ALLOWED'],
    ['POST', '/$reindex', 'a system operation', 'ERR_INTERACTION_NOT_ALLOWED'],
    ['DELETE', '/Observation?patient=demo-3', 'a conditional delete'],
    ['PUT', '/Observation?patient=demo-3', 'a conditional update'],
    ['GET', '/Observation/obs-3-1%2F..%2F..%2FPatient', 'an encoded slash'],
    ['GET', '/observation/obs-3-1', 'a lower-case type'],
    ['OPTIONS', '/Observation', 'OPTIONS'],
    ['POST', '/', 'a POST to the base that is not a Bundle'],
  ];
  for (const [method, path, what, reason = 'ERR_PATH_NOT_ALLOWED'] of paths) {
    test(`${what} (${method} ${path || '/fhir'}) is refused with 403 and audited`, async () => {
      const r = await call(stack, path, { method, token: await token('user/*.cruds'), ...(method === 'POST' ? { body: { resourceType: 'Patient' } } : {}) });
      expect(r.status).toBe(403);
      expect(outcomeOf(r.json).error).toBe('access_denied');
      expect(r.event).toMatchObject({ type: 'phi.denied', outcome: 'denied', reason });
    });
  }

  test('HEAD is checked like GET and answers without a body', async () => {
    const r = await call(stack, '/Patient/demo-3', { method: 'HEAD', token: await token('user/Patient.r') });
    expect(r.status).toBe(200);
    expect(r.text).toBe('');
    expect(stack.upstreamSeen.at(-1)).toMatchObject({ method: 'GET', url: '/Patient/demo-3' });
    expect(r.event).toMatchObject({ type: 'phi.accessed', action: 'read' });
    expect((await call(stack, '/Patient/demo-3', { method: 'HEAD', token: await token('user/Patient.s') })).status).toBe(403);
  });

  test('GET /metadata is public by default and still audited', async () => {
    const r = await call(stack, '/metadata');
    expect(r.status).toBe(200);
    expect(r.json.resourceType).toBe('CapabilityStatement');
    expect(r.event).toMatchObject({ type: 'phi.accessed', action: 'capabilities', resource: 'CapabilityStatement', actor: {} });
  });

  test('a write body of another type, or an update whose id differs from the URL, is refused', async () => {
    const t = await token('user/*.cruds');
    const wrongType = await call(stack, '/Observation', { method: 'POST', token: t, body: { resourceType: 'Patient' } });
    expect(wrongType.status).toBe(400);
    expect(wrongType.event.reason).toBe('ERR_BODY_INVALID');
    const wrongId = await call(stack, '/Observation/obs-3-2', { method: 'PUT', token: t, body: observation('obs-9-9', 'demo-3') });
    expect(wrongId.status).toBe(400);
    expect(outcomeOf(wrongId.json).description).toBe('the resource id in the body must match the id in the URL');
    const xml = await call(stack, '/Observation', { method: 'POST', token: t, body: '<Observation/>', headers: { 'content-type': 'application/fhir+xml' } });
    expect(xml.status).toBe(415);
  });
});
