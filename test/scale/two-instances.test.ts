// Many instances, one truth: two `caduceus serve` processes on one PostgreSQL schema, one master
// key and one issuer, behind a round-robin TLS-passthrough proxy, behave as one server. Codes and
// refresh tokens cross instances, races across instances have one winner and are detected,
// revocation and key rotation are seen by both, the audit ledger stays one verifiable log, and
// the conformance kit passes through the proxy.
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fetch } from 'undici';
import * as oauth from 'oauth4webapi';
import { decodeProtectedHeader } from 'jose';
import { postgresAdapter, testAdapters, type TestDatabase } from '../storage/databases.js';
import { codeFlow, frontChannel, introspect, post, refresh, relyingParty, revoke, type Rp } from '../support/flows.js';
import type { TestStack } from '../support/stack.js';
import { runAsync, runCaduceusAsync, startCluster, stopChild, type Cluster, type Instance } from './cluster.js';
import { DEMO_CC_SCOPE, DEMO_REDIRECT_URI, DEMO_SCOPE } from '../../src/server/dev-stack.js';
import { openStorage, type Storage } from '../../src/storage/index.js';
import { searchEvents } from '../../src/audit/search.js';
import { verifyLedger } from '../../src/audit/verify.js';
import { splitNotes } from '../../src/audit/checkpoint.js';
import { NoteSigner } from '../../src/audit/note.js';
import { checkpointSeed, ledgerOrigin } from '../../src/audit/sink.js';
import { loadConfigFile } from '../../src/config/load.js';
import { loadMasterKey } from '../../src/crypto/master-key.js';

const postgresUp = (await testAdapters()).includes(postgresAdapter);
const KIT = resolve(process.cwd(), '..', 'shared', 'conformance', 'run.sh');
const kitPresent = existsSync(KIT);
if (!kitPresent) {
  if (process.env.CI === 'true') throw new Error(`conformance kit missing at ${KIT}`);
  console.warn(`\n!!! conformance kit not found at ${KIT}: the kit-through-the-proxy test is SKIPPED (a failure under CI=true)\n`);
}
/** KeyManager's cache (src/crypto/signing-keys.ts): every instance sees a rotation within this. */
const KEY_CACHE_MS = 5_000;
const RACERS = 100;

let db: TestDatabase;
let cluster: Cluster;
let storage: Storage;
let rp: Rp;
let A: Instance;
let B: Instance;

/** The relying party with every endpoint on one instance (same issuer; the proxy is bypassed). */
function at(instance: Instance): Rp {
  const swap = (u: string | undefined) => (u ? u.replace(cluster.issuer, instance.url) : u);
  const as: oauth.AuthorizationServer = {
    ...rp.as,
    authorization_endpoint: swap(rp.as.authorization_endpoint), token_endpoint: swap(rp.as.token_endpoint),
    introspection_endpoint: swap(rp.as.introspection_endpoint), revocation_endpoint: swap(rp.as.revocation_endpoint),
    jwks_uri: swap(rp.as.jwks_uri), userinfo_endpoint: swap(rp.as.userinfo_endpoint),
  };
  return { ...rp, as, stack: { ...rp.stack, issuer: instance.url } };
}

async function until(condition: () => boolean, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
}

const requestLogs = (instance: Instance, from = 0) => instance.stderr().slice(from).split('\n')
  .filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg?: string; method?: string; route?: string; status?: number });

describe.runIf(postgresUp)('two instances on one PostgreSQL database behind a round-robin proxy', () => {
  beforeAll(async () => {
    db = await postgresAdapter.open();
    cluster = await startCluster(db.url, 2);
    [A, B] = cluster.instances as [Instance, Instance];
    storage = await openStorage(db.url, { migrate: false });
    const stack = {
      issuer: cluster.issuer, ca: cluster.ca,
      demo: {
        issuer: cluster.issuer, ca_file: cluster.caFile, client_id: cluster.clientId, client_secret: cluster.clientSecret,
        redirect_uri: DEMO_REDIRECT_URI, scope: DEMO_SCOPE, username: cluster.username, password: cluster.password, resource: cluster.resource,
        cc_client_id: cluster.ccClientId, cc_client_secret: cluster.ccClientSecret, cc_scope: DEMO_CC_SCOPE,
      },
    } as unknown as TestStack;
    rp = await relyingParty(stack);
  }, 180_000);
  afterAll(async () => {
    await storage?.close();
    await cluster?.close();
    await db?.cleanup();
  }, 60_000);

  test('both instances are ready, each on its own admin listener, and the proxy reaches both', async () => {
    for (const instance of cluster.instances) {
      const res = await fetch(`${instance.adminUrl}/readyz`);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ status: 'ready' });
    }
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`${cluster.issuer}/readyz`, { dispatcher: new (await import('undici')).Agent({ connect: { ca: cluster.ca } }) });
      expect(res.status).toBe(200);
    }
    expect(cluster.proxy.connections.every((n) => n >= 2)).toBe(true);
  });

  test('a code issued by instance A is redeemed at instance B', async () => {
    const rpA = at(A);
    const rpB = at(B);
    const marks = [A.stderr().length, B.stderr().length];
    const fc = await frontChannel(rpA);
    expect(fc.final.location, fc.final.body.slice(0, 300)).toBeDefined();
    const callback = oauth.validateAuthResponse(rp.as, rp.client, new URL(fc.final.location!), fc.state);
    const response = await oauth.authorizationCodeGrantRequest(rpB.as, rp.client, rp.auth, callback, DEMO_REDIRECT_URI, fc.verifier, {
      ...rp.opts, additionalParameters: { resource: cluster.resource },
    });
    const tokens = await oauth.processAuthorizationCodeResponse(rpB.as, rp.client, response);
    expect(tokens.access_token).toBeTruthy();
    expect(tokens.refresh_token).toBeTruthy();
    // The request logs say where each step ran (a line reaches us shortly after its response).
    await until(() => requestLogs(B, marks[1]).some((l) => l.route === '/token'));
    const logA = requestLogs(A, marks[0]);
    const logB = requestLogs(B, marks[1]);
    expect(logA.some((l) => l.route === '/authorize' && l.status === 303)).toBe(true);
    expect(logA.some((l) => l.route === '/token')).toBe(false);
    expect(logB.some((l) => l.route === '/token' && l.method === 'POST' && l.status === 200)).toBe(true);
    expect(logB.some((l) => l.route === '/authorize')).toBe(false);
    // And the refresh token from B rotates at A.
    const rotated = await refresh(rpA, tokens.refresh_token!);
    expect(rotated.status).toBe(200);
  }, 60_000);

  test(`${RACERS} concurrent redemptions of one refresh token over both instances: one success, reuse detected, family revoked`, async () => {
    const { tokens } = await codeFlow(rp);
    const before = (await searchEvents(storage.sql, { type: 'token.refresh_reuse_detected', limit: 10_000 })).length;
    const targets = [at(A), at(B)];
    const results = await Promise.all(Array.from({ length: RACERS }, (_, i) => refresh(targets[i % 2]!, tokens.refresh_token!)));
    const ok = results.filter((r) => r.status === 200);
    expect(ok).toHaveLength(1);
    for (const r of results.filter((x) => x.status !== 200)) {
      expect(r.status).toBe(400);
      expect(r.json.error).toBe('invalid_grant');
    }
    const detected = await searchEvents(storage.sql, { type: 'token.refresh_reuse_detected', limit: 10_000 });
    expect(detected.length).toBeGreaterThan(before);
    // RFC 9700 §4.14.2: the whole family is revoked, the winner's new tokens included.
    expect((await refresh(at(B), ok[0]!.json.refresh_token as string)).json.error).toBe('invalid_grant');
    expect((await introspect(at(A), ok[0]!.json.access_token as string)).json.active).toBe(false);
  }, 120_000);

  test(`${RACERS} concurrent redemptions of one authorization code over both instances: one success, replay detected, grant revoked`, async () => {
    const fc = await frontChannel(rp);
    const callback = oauth.validateAuthResponse(rp.as, rp.client, new URL(fc.final.location!), fc.state);
    const code = callback.get('code')!;
    const before = (await searchEvents(storage.sql, { type: 'token.code_replay_detected', limit: 10_000 })).length;
    const targets = [at(A), at(B)];
    const results = await Promise.all(Array.from({ length: RACERS }, (_, i) => post(targets[i % 2]!, targets[i % 2]!.as.token_endpoint!, {
      grant_type: 'authorization_code', code, redirect_uri: DEMO_REDIRECT_URI, code_verifier: fc.verifier, resource: cluster.resource,
    })));
    const ok = results.filter((r) => r.status === 200);
    expect(ok).toHaveLength(1);
    for (const r of results.filter((x) => x.status !== 200)) {
      expect(r.status).toBe(400);
      expect(r.json.error).toBe('invalid_grant');
    }
    const detected = await searchEvents(storage.sql, { type: 'token.code_replay_detected', limit: 10_000 });
    expect(detected.length).toBeGreaterThan(before);
    // RFC 9700 §4.2.4: a replayed code revokes the tokens already issued for it.
    expect((await introspect(at(B), ok[0]!.json.access_token as string)).json.active).toBe(false);
  }, 120_000);

  test('a revocation at instance A is honoured at instance B at once', async () => {
    const { tokens } = await codeFlow(rp);
    expect((await introspect(at(B), tokens.access_token)).json.active).toBe(true);
    expect((await introspect(at(B), tokens.refresh_token!)).json.active).toBe(true);
    expect((await revoke(at(A), tokens.access_token)).status).toBe(200);
    expect((await introspect(at(B), tokens.access_token)).json.active).toBe(false);
    expect((await revoke(at(A), tokens.refresh_token!)).status).toBe(200);
    expect((await introspect(at(B), tokens.refresh_token!)).json.active).toBe(false);
    expect((await refresh(at(B), tokens.refresh_token!)).json.error).toBe('invalid_grant');
  }, 60_000);

  test(`caduceus keys rotate while both run: both publish the new key within ${KEY_CACHE_MS / 1000} s and sign with it, without a restart`, async () => {
    const jwks = async (i: Instance) => ((await (await fetch(`${i.url}/jwks`, { dispatcher: rp.dispatcher })).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid);
    const ccKid = async (i: Instance) => {
      const r = await post(at(i), at(i).as.token_endpoint!, { grant_type: 'client_credentials' }, { id: cluster.ccClientId, secret: cluster.ccClientSecret });
      expect(r.status).toBe(200);
      return decodeProtectedHeader(r.json.access_token as string).kid;
    };
    const oldKid = await ccKid(A);
    expect(await ccKid(B)).toBe(oldKid);
    const rotated = await runCaduceusAsync(['keys', 'rotate', '--config', cluster.configFile, '--json']);
    expect(rotated.stderr).toBe('');
    expect(rotated.status).toBe(0);
    const { kid: newKid, activates } = JSON.parse(rotated.stdout) as { kid: string; activates: string };
    // The bound counts from the moment the new key was stored and became active, not from the command's end.
    const rotatedAt = Date.parse(activates);
    expect(newKid).not.toBe(oldKid);
    for (const instance of [A, B]) {
      for (;;) {
        const kids = await jwks(instance);
        if (kids.includes(newKid)) {
          expect(kids).toContain(oldKid); // still published: tokens it signed keep verifying
          break;
        }
        expect(Date.now() - rotatedAt, `${instance.url} did not publish ${newKid} within the key cache time`).toBeLessThan(KEY_CACHE_MS + 1_000);
        await new Promise((r) => setTimeout(r, 100));
      }
      // The JWKS and the signer come from the same cached read: the new key signs from now on.
      expect(await ccKid(instance)).toBe(newKid);
    }
  }, 60_000);

  test.runIf(kitPresent)('the conformance kit passes through the proxy with nothing skipped, and the load reaches both instances', async () => {
    const connectionsBefore = [...cluster.proxy.connections];
    const r = await runAsync('bash', [KIT], {
      env: {
        ...process.env, MAX_AT_TTL: '900', AT_CLAIMS_ALLOW: 'patient', ISSUER: cluster.issuer, NODE_EXTRA_CA_CERTS: cluster.caFile,
        CONF_CLIENT_ID: cluster.clientId, CONF_CLIENT_SECRET: cluster.clientSecret, REDIRECT_URI: DEMO_REDIRECT_URI,
        CC_CLIENT_ID: cluster.ccClientId, CC_CLIENT_SECRET: cluster.ccClientSecret, USERNAME: cluster.username, PASSWORD: cluster.password,
        RESOURCE: cluster.resource, SCOPE: DEMO_SCOPE, CC_SCOPE: DEMO_CC_SCOPE,
      },
      timeoutMs: 240_000,
    });
    const output = `${r.stdout}\n${r.stderr}`;
    const summary = (name: string) => Number(new RegExp(`^# ${name} (\\d+)$`, 'm').exec(output)?.[1] ?? -1);
    if (r.status !== 0 || summary('fail') !== 0) console.error(output.slice(-6000));
    expect(r.status).toBe(0);
    expect(summary('fail')).toBe(0);
    expect(summary('skipped')).toBe(0);
    expect(summary('pass')).toBeGreaterThanOrEqual(32);
    // Both instances served the kit's connections.
    cluster.proxy.connections.forEach((n, i) => expect(n - connectionsBefore[i]!).toBeGreaterThan(0));
    for (const instance of cluster.instances) {
      const metrics = await (await fetch(`${instance.adminUrl}/metrics`)).text();
      expect(metrics).toMatch(/^caduceus_tokens_issued_total\{grant_type="authorization_code"\} [1-9]\d*$/m);
    }
  }, 300_000);

  test('after both stop, the audit ledger is one linear log whose every event is covered by a signed checkpoint', async () => {
    await Promise.all(cluster.instances.map((i) => stopChild(i.child)));
    const { config } = loadConfigFile(cluster.configFile, {});
    const masterKey = loadMasterKey({ env: {}, file: cluster.masterKeyFile });
    const publicKey = new NoteSigner(ledgerOrigin(config), checkpointSeed(masterKey)).verifierKey;
    const witness = splitNotes(readFileSync(cluster.witnessFile, 'utf8'));
    expect(witness.length).toBeGreaterThan(1);
    const verdict = await verifyLedger(storage.sql, { publicKey, origin: ledgerOrigin(config), witness });
    expect(verdict).toMatchObject({ ok: true, signaturesChecked: true });
    if (!verdict.ok) return;
    expect(verdict.size).toBeGreaterThan(2 * RACERS);
    expect(verdict.checkpointedSize).toBe(verdict.size);
    // Both instances wrote to it: the races produced events on both.
    const types = new Set((await searchEvents(storage.sql, { limit: 10_000 })).map((e) => e.type));
    for (const t of ['token.issued', 'token.refreshed', 'token.refresh_reuse_detected', 'token.code_replay_detected', 'key.rotated']) expect(types).toContain(t);
  }, 60_000);
});
