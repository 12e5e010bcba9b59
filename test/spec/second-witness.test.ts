// A second, independent test for behaviours that had a single one (issue 16): each drives the
// server the way a client would, over real TLS on SQLite and PostgreSQL, with real tokens from
// the authorization server (not minted by the test), and asserts statuses, error codes and what
// the database then holds.
//
// The first witnesses: test/e2e/endpoints.test.ts (invalid_target at the authorization
// endpoint), test/gateway/token-verification.test.ts (a minted token for another audience),
// test/e2e/lifetimes-and-clients.test.ts (a public client's introspection, body client_id),
// test/e2e/authorization-code.test.ts (code replay, by introspection only),
// test/gateway/forwarding-and-audit.test.ts (a ledger that cannot write, on the gateway harness)
// and test/config/schema.test.ts (access_token_ttl 3600 refused).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fetch } from 'undici';
import * as oauth from 'oauth4webapi';
import { decodeJwt } from 'jose';
import { testAdapters } from '../storage/databases.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { codeFlow, introspect, post, refresh, relyingParty, type Rp } from '../support/flows.js';
import { addClient } from '../../src/admin/clients.js';
import { loadConfigFile } from '../../src/config/load.js';
import { ConfigError } from '../../src/config/schema.js';
import type { AuditSink } from '../../src/audit/events.js';
import { grantIdOfJti, ledgerMark, ledgerRowsAfter } from './ledger-rows.js';

const adapters = await testAdapters();

const adminDeps = (stack: TestStack) => ({ storage: stack.ctx.storage, masterKey: stack.ctx.masterKey, audit: stack.ctx.audit, now: stack.ctx.now, actor: 'test' });

/** A GET through the gateway's /fhir route, as a FHIR client would send it. */
async function fhirGet(stack: TestStack, rp: Rp, path: string, token?: string) {
  const res = await fetch(`${stack.issuer}/fhir/${path}`, {
    headers: { accept: 'application/fhir+json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, dispatcher: rp.dispatcher,
  });
  const text = await res.text();
  let json: any;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, text, json };
}

/** PHI of Patient/demo-1 in the demo FHIR server: none of it may be in a refused answer. */
const DEMO_1_PHI = ['DEMO-000001', 'birthDate', '"resourceType":"Patient"', '"family"'];

describe.each(adapters)('second witnesses on $name', (adapter) => {
  let stack: TestStack;
  let rp: Rp;
  let clock = 1_800_000_000_000;
  let phiLedgerDown = false;
  let otherResource: string;

  beforeAll(async () => {
    // The ledger refuses phi.* events on demand, so the authorization server still issues tokens
    // while the gateway's audit cannot be written.
    const wrapAudit = (ledger: AuditSink): AuditSink => ({
      record: async (e) => {
        if (phiLedgerDown && e.type.startsWith('phi.')) throw new Error('ledger unavailable');
        return ledger.record(e);
      },
    });
    stack = await startTestStack({
      adapter,
      context: { now: () => clock, wrapAudit },
      configure: (c) => {
        // A second resource server the server knows, which the demo backend client is not registered for.
        c.resources.push({ uri: `${c.issuer}/other`, name: 'Other resource server', scopes: ['system/Patient.rs'] });
        c.tokens.access_token_ttl = 900;
      },
    });
    otherResource = `${stack.issuer}/other`;
    rp = await relyingParty(stack);
  });
  afterAll(async () => stack?.close());

  const sql = () => stack.ctx.storage.sql;
  const backend = () => ({ id: stack.demo.cc_client_id, secret: stack.demo.cc_client_secret });

  describe('RFC 8707 §2: client_credentials for a resource not registered for the client', () => {
    test.each([
      ['a resource server of this issuer the client is not registered for', () => otherResource, 'the requested resource is not registered for this client'],
      ['a resource server this issuer does not know', () => 'https://unknown.example/fhir', 'the requested resource is not registered for this client'],
      ['the registered resource with a fragment', () => `${stack.demo.resource}#x`, 'resource must be an absolute URI without a fragment'],
      ['a relative URI', () => '/fhir', 'resource must be an absolute URI without a fragment'],
    ])('%s is 400 invalid_target, issues nothing and is recorded as token.failed', async (_name, resource, description) => {
      const mark = await ledgerMark(sql());
      const res = await post(rp, rp.as.token_endpoint!, { grant_type: 'client_credentials', scope: 'system/Patient.rs', resource: resource() }, backend());
      expect(res.status).toBe(400);
      expect(res.json).toEqual({ error: 'invalid_target', error_description: description });
      expect(res.headers.get('cache-control')).toBe('no-store');
      const rows = await ledgerRowsAfter(sql(), mark);
      expect(rows.map((r) => [r.type, r.outcome])).toEqual([['token.failed', 'denied']]);
      expect(rows[0]!.event).toMatchObject({ reason: 'invalid_target', action: 'client_credentials' });
    });

    test('the same client and scope with its registered resource gets a token for that audience', async () => {
      const res = await post(rp, rp.as.token_endpoint!, { grant_type: 'client_credentials', scope: 'system/Patient.rs', resource: stack.demo.resource }, backend());
      expect(res.status).toBe(200);
      expect(decodeJwt(res.json.access_token)).toMatchObject({ aud: stack.demo.resource, sub: stack.demo.cc_client_id });
    });
  });

  describe('RFC 9068 §4 / RFC 8707: a real token for another resource server at the gateway', () => {
    let probe: { id: string; secret: string };
    beforeAll(async () => {
      const { client, secret } = await addClient(adminDeps(stack), {
        client_id: 'audience-probe', name: 'Audience Probe', grant_types: ['client_credentials'], redirect_uris: [],
        scope: 'system/Patient.rs', resources: [stack.demo.resource, otherResource], token_endpoint_auth_method: 'client_secret_basic',
      }, [stack.demo.resource, otherResource]);
      probe = { id: client.clientId, secret: secret! };
    });
    const tokenFor = async (resource: string) => {
      const res = await post(rp, rp.as.token_endpoint!, { grant_type: 'client_credentials', scope: 'system/Patient.rs', resource }, probe);
      expect(res.status).toBe(200);
      return res.json.access_token as string;
    };

    test('is 401 invalid_token with a Bearer challenge, no PHI, and one phi.denied event for ERR_TOKEN_AUDIENCE', async () => {
      const token = await tokenFor(otherResource);
      const claims = decodeJwt(token);
      expect(claims.aud).toBe(otherResource);
      const mark = await ledgerMark(sql());
      const r = await fhirGet(stack, rp, 'Patient/demo-1', token);
      expect(r.status).toBe(401);
      const challenge = r.headers.get('www-authenticate')!;
      expect(challenge).toMatch(new RegExp(`^Bearer realm="${stack.issuer.replace(/[.]/g, '\\.')}/fhir", error="invalid_token", error_description="[^"]*not issued for this resource[^"]*", resource_metadata="${stack.issuer.replace(/[.]/g, '\\.')}/\\.well-known/oauth-protected-resource/fhir"$`));
      expect(r.json?.resourceType).toBe('OperationOutcome');
      expect(r.json.issue[0].diagnostics).toBe('invalid_token');
      for (const phi of DEMO_1_PHI) expect(r.text).not.toContain(phi);
      const rows = (await ledgerRowsAfter(sql(), mark)).filter((e) => e.type.startsWith('phi.'));
      // A refused token's claims are not trusted, so the denial names no actor and no jti.
      expect(rows.map((e) => [e.type, e.outcome, e.actorClient, e.actorUser, e.patient])).toEqual([['phi.denied', 'denied', null, null, 'Patient/demo-1']]);
      expect(rows[0]!.event).toMatchObject({ reason: 'ERR_TOKEN_AUDIENCE', resource: 'Patient/demo-1', action: 'read', actor: {}, details: { route: '/fhir', status: 401 } });
      expect(rows[0]!.event.jti).toBeUndefined();
      expect(JSON.stringify(rows)).not.toContain(token);
    });

    test('while the same client with the same scope reads the resource with a token for the gateway\'s audience', async () => {
      const r = await fhirGet(stack, rp, 'Patient/demo-1', await tokenFor(stack.demo.resource));
      expect(r.status).toBe(200);
      expect(r.json).toMatchObject({ resourceType: 'Patient', id: 'demo-1' });
    });
  });

  describe('RFC 7662 §2.1: introspection by a public client', () => {
    let pub: Rp;
    beforeAll(async () => {
      await addClient(adminDeps(stack), {
        client_id: 'public-native', name: 'Public Native App', grant_types: ['authorization_code', 'refresh_token'], redirect_uris: ['http://127.0.0.1/cb'],
        scope: 'openid offline_access patient/Patient.rs', resources: [stack.demo.resource], token_endpoint_auth_method: 'none',
      }, [stack.demo.resource]);
      pub = {
        ...rp, client: { client_id: 'public-native', token_endpoint_auth_method: 'none' }, auth: oauth.None(),
        stack: { ...stack, demo: { ...stack.demo, redirect_uri: 'http://127.0.0.1:50124/cb', client_id: 'public-native', scope: 'openid offline_access patient/Patient.rs' } },
      };
    });

    test('of its own refresh and access tokens is refused with 401 invalid_client and reveals nothing; its tokens stay usable', async () => {
      const flow = await codeFlow(pub);
      for (const [token, hint] of [[flow.tokens.refresh_token!, 'refresh_token'], [flow.tokens.access_token, 'access_token']] as const) {
        const res = await post(rp, rp.as.introspection_endpoint!, { token, token_type_hint: hint, client_id: 'public-native' }, null);
        expect(res.status).toBe(401);
        expect(res.json).toEqual({ error: 'invalid_client', error_description: 'introspection requires client authentication' });
        expect(res.text).not.toContain('active');
      }
      // Nothing was consumed or revoked: the refresh token still works for its client.
      const r = await post(rp, rp.as.token_endpoint!, { grant_type: 'refresh_token', refresh_token: flow.tokens.refresh_token!, client_id: 'public-native' }, null);
      expect(r.status).toBe(200);
    });

    test('presenting Basic credentials with an empty secret is 401 invalid_client with a Basic challenge', async () => {
      const flow = await codeFlow(pub);
      const res = await introspect(rp, flow.tokens.access_token, { id: 'public-native', secret: '' });
      expect(res.status).toBe(401);
      expect(res.json.error).toBe('invalid_client');
      expect(res.headers.get('www-authenticate')).toBe('Basic realm="caduceus"');
      expect(res.text).not.toContain('active');
    });
  });

  describe('RFC 9700 §4.2.4: a replayed authorization code, redeemed sequentially', () => {
    test('is 400 invalid_grant, revokes the grant and every token of the first redemption, and is recorded as token.code_replay_detected', async () => {
      const flow = await codeFlow(rp);
      const grantId = grantIdOfJti(decodeJwt(flow.tokens.access_token).jti);
      // First redemption is done: both tokens are live, nothing is revoked.
      expect((await introspect(rp, flow.tokens.access_token)).json).toMatchObject({ active: true });
      expect((await introspect(rp, flow.tokens.refresh_token!)).json).toMatchObject({ active: true });
      expect(await sql().get('SELECT revoked_at FROM grants WHERE grant_id = $1', [grantId])).toEqual({ revoked_at: null });

      const mark = await ledgerMark(sql());
      const replay = await post(rp, rp.as.token_endpoint!, {
        grant_type: 'authorization_code', code: flow.code, redirect_uri: stack.demo.redirect_uri, code_verifier: flow.verifier, resource: stack.demo.resource,
      });
      expect(replay.status).toBe(400);
      expect(replay.json).toEqual({ error: 'invalid_grant', error_description: 'the authorization code was already used; tokens issued from it are revoked' });

      expect((await introspect(rp, flow.tokens.access_token)).json).toEqual({ active: false });
      expect((await introspect(rp, flow.tokens.refresh_token!)).json).toEqual({ active: false });
      expect((await refresh(rp, flow.tokens.refresh_token!)).json.error).toBe('invalid_grant');
      // Stored state: the grant revoked for code_replay, its refresh token revoked.
      const grant = await sql().get<{ revoked_at: unknown; revoked_reason: unknown }>('SELECT revoked_at, revoked_reason FROM grants WHERE grant_id = $1', [grantId]);
      expect(grant).toEqual({ revoked_at: clock, revoked_reason: 'code_replay' });
      const tokens = await sql().all<{ revoked_at: unknown }>('SELECT revoked_at FROM refresh_tokens WHERE grant_id = $1', [grantId]);
      expect(tokens.length).toBe(1);
      expect(tokens.every((t) => t.revoked_at !== null)).toBe(true);
      // The ledger: the replay detected on the code's client and grant, then the refusal.
      const rows = await ledgerRowsAfter(sql(), mark);
      const replayRows = rows.filter((r) => r.type === 'token.code_replay_detected');
      expect(replayRows.map((r) => [r.outcome, r.actorClient])).toEqual([['denied', stack.demo.client_id]]);
      expect(replayRows[0]!.event).toMatchObject({ reason: 'code_replay', grantId });
      expect(rows.some((r) => r.type === 'token.issued')).toBe(false);
    });

    test('the access token of the first redemption no longer reads PHI at the gateway', async () => {
      const flow = await codeFlow(rp);
      const form = { grant_type: 'authorization_code', code: flow.code, redirect_uri: stack.demo.redirect_uri, code_verifier: flow.verifier, resource: stack.demo.resource };
      expect((await post(rp, rp.as.token_endpoint!, form)).status).toBe(400);
      const r = await fhirGet(stack, rp, 'Patient/demo-1', flow.tokens.access_token);
      expect(r.status).toBe(401);
      expect(r.headers.get('www-authenticate')).toMatch(/^Bearer realm="[^"]+\/fhir", error="invalid_token"/);
      for (const phi of DEMO_1_PHI) expect(r.text).not.toContain(phi);
    });
  });

  describe('45 CFR 164.312(b): the gateway releases nothing it cannot record', () => {
    test('with the ledger refusing phi.* events, a real token\'s read and search are 503 with no PHI, nothing is recorded, and the same read succeeds once the ledger writes', async () => {
      const flow = await codeFlow(rp);
      expect(flow.tokens.patient).toBe('demo-1');
      const mark = await ledgerMark(sql());
      phiLedgerDown = true;
      try {
        for (const path of ['Patient/demo-1', 'Observation?patient=demo-1']) {
          const r = await fhirGet(stack, rp, path, flow.tokens.access_token);
          expect(r.status).toBe(503);
          expect(r.json).toEqual({
            resourceType: 'OperationOutcome',
            issue: [{ severity: 'error', code: 'transient', details: { text: 'the request cannot be recorded right now; try again later' }, diagnostics: 'temporarily_unavailable' }],
          });
          expect(r.headers.get('content-type')).toBe('application/fhir+json; charset=utf-8');
          expect(r.headers.get('retry-after')).toBe('5');
          for (const phi of [...DEMO_1_PHI, 'Observation/', '"subject"']) expect(r.text).not.toContain(phi);
          expect(r.headers.get('etag')).toBeNull();
          expect(r.headers.get('last-modified')).toBeNull();
        }
      } finally {
        phiLedgerDown = false;
      }
      expect((await ledgerRowsAfter(sql(), mark)).filter((r) => r.type.startsWith('phi.'))).toEqual([]);
      const ok = await fhirGet(stack, rp, 'Patient/demo-1', flow.tokens.access_token);
      expect(ok.status).toBe(200);
      expect(ok.json).toMatchObject({ resourceType: 'Patient', id: 'demo-1' });
      const rows = (await ledgerRowsAfter(sql(), mark)).filter((r) => r.type.startsWith('phi.'));
      expect(rows.map((r) => [r.type, r.outcome, r.patient, r.actorClient])).toEqual([['phi.accessed', 'success', 'Patient/demo-1', stack.demo.client_id]]);
    });
  });

  describe('access-token lifetime: at most 900 s (tokens.access_token_ttl)', () => {
    test('a token issued with access_token_ttl 900 lives exactly 900 s: exp - iat, expires_in, and introspection on the clock', async () => {
      const start = clock;
      try {
        const flow = await codeFlow(rp);
        const claims = decodeJwt(flow.tokens.access_token);
        expect(claims.exp! - claims.iat!).toBe(900);
        expect(claims.iat).toBe(Math.floor(clock / 1000));
        expect(flow.tokens.expires_in).toBe(900);
        const refreshed = await refresh(rp, flow.tokens.refresh_token!);
        expect(refreshed.json.expires_in).toBe(900);
        const r = decodeJwt(refreshed.json.access_token);
        expect(r.exp! - r.iat!).toBe(900);
        clock = start + 899_000;
        expect((await introspect(rp, flow.tokens.access_token)).json.active).toBe(true);
        clock = start + 900_000;
        expect((await introspect(rp, flow.tokens.access_token)).json).toEqual({ active: false });
      } finally {
        clock = start + 1_000_000;
      }
    });
  });
});

describe('access-token lifetime cap in the configuration file', () => {
  let dir: string;
  beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'caduceus-ttl-')); });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function load(ttl: number): string[] | number {
    const file = join(dir, `caduceus-${ttl}.yaml`);
    writeFileSync(file, ['issuer: https://as.example', 'storage: sqlite:./x.db', 'tls: { cert: c.pem, key: k.pem }', `tokens: { access_token_ttl: ${ttl} }`, ''].join('\n'));
    try {
      return loadConfigFile(file, {}).config.tokens.access_token_ttl;
    } catch (err) {
      if (err instanceof ConfigError) return err.problems;
      throw err;
    }
  }

  test('900 is accepted and 901 is refused with the path and the limit', () => {
    expect(load(900)).toBe(900);
    expect(load(901)).toEqual(['tokens.access_token_ttl: must be at most 900 seconds']);
    expect(load(86_400)).toEqual(['tokens.access_token_ttl: must be at most 900 seconds']);
  });
});
