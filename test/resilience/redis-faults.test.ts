// Redis faults under load (issue 12). One real `caduceus serve` process (test/scale/cluster.ts) on
// PostgreSQL (directly) keeps its replay values, client-authentication throttle and rate-limit
// counts in Redis (`cache:`), which it reaches only through a fault proxy
// (test/support/fault-proxy.ts). 16 loops send client_credentials requests authenticated with
// private_key_jwt (each assertion's jti goes through the replay store, src/oauth/client-auth/
// private-key-jwt.ts), replays of assertions already sent, requests with a client secret (through
// the throttle store, src/oauth/client-auth/throttle.ts), and requests with the right secret of a
// client that is locked out from this address, while the proxy drops, resets and partitions the
// Redis connections; each fault is then healed.
//
// Proves, for every fault:
// 1. the server process stays up: it never exits, and never reports an unhandled 'error' event;
// 2. every answer is a 2xx or a 503 temporarily_unavailable with Retry-After, besides the 401
//    invalid_client that replays and the locked-out client must get; a fresh assertion is never
//    refused as a replay, and no request hangs past DEADLINE_MS (test/resilience/load.ts);
// 3. the checks are never skipped: no client assertion (by jti) is accepted twice, whether its
//    uses fell before, during or after the fault (every assertion first sent during or around a
//    fault is replayed once more after the heal), and the locked-out client never gets a token;
// 4. every access token answered with 200 has its token.issued event in the ledger;
// 5. `caduceus audit verify` passes afterwards;
// 6. service resumes by itself: within RECOVERY_MS of the heal an assertion-authenticated token
//    request gets 200 and /readyz (which pings Redis) answers 200.
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import type { Agent } from 'undici';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { postgresAdapter, testAdapters, type TestDatabase } from '../storage/databases.js';
import { REDIS_TEST_URL, redisReachable } from '../ops/redis.js';
import { startFaultProxy, targetOf, type FaultProxy } from '../support/fault-proxy.js';
import { startCluster, type Cluster, type Instance } from '../scale/cluster.js';
import { DEMO_CC_SCOPE } from '../../src/server/dev-stack.js';
import { openStorage, type Storage } from '../../src/storage/index.js';
import {
  DEADLINE_MS, LOOPS, RECOVERY_MS, auditVerify, basic, jtiOf, restartIfExited, runFault, send, trustingAgent, unaudited, violations,
  type Call, type FaultRun, type Outcome,
} from './load.js';

const postgresUp = (await testAdapters()).includes(postgresAdapter);
const redisUp = await redisReachable();
const FAULT_MS = 3_000;
/** A partition outlasts the client deadline: a Redis command without its own timeout would make requests miss it. */
const PARTITION_MS = DEADLINE_MS + 1_000;
const TEST_TIMEOUT_MS = 120_000;
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const PKJWT_CLIENT = 'resilience-pkjwt';
const LOCKED_CLIENT = 'resilience-locked';
/**
 * login.max_client_auth_failures for this server: a client id is locked out from an address after
 * this many invalid_client answers there (src/oauth/client-auth/throttle.ts). Replays are such
 * answers, so they are sent from REPLAY_ADDRESSES other loopback addresses in turn, each staying
 * below this: otherwise the assertion client would lock itself out and its replays would be
 * refused before the replay store is even asked.
 */
const MAX_FAILURES = 20;
const REPLAY_ADDRESSES = 250;
/** Assertions replayed after each heal, at most (the ones first sent during the fault first). */
const MAX_SWEEP = 400;
const SWEEP_CONCURRENCY = 8;
/** Token-issuing ops: their 200s must have token.issued events. */
const TOKEN_OPS = ['pkjwt', 'pkjwt-replay', 'secret', 'locked'];

let db: TestDatabase;
let proxy: FaultProxy;
let cluster: Cluster;
let storage: Storage;
let agent: Agent;
/** One agent per source address 127.0.2.1 … 127.0.2.REPLAY_ADDRESSES (loopback). */
let replayAgents: Agent[] = [];
const replaysPerAddress = new Map<number, number>();
let nextReplayAgent = 0;
let A: Instance;
let privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
const lockedSecret = `locked-${randomUUID()}-${randomUUID()}`;
let restarts = 0;

interface SentAssertion {
  jti: string;
  assertion: string;
  /** The phase its first use was sent in. */
  firstPhase?: Outcome['phase'];
  statuses: number[];
}
/** Every assertion sent in the current scenario, by jti. */
let assertions = new Map<string, SentAssertion>();
/** Every pkjwt/pkjwt-replay answer of every scenario: no jti may have two 200s. */
const assertionUses: Outcome[] = [];

async function newAssertion(): Promise<{ jti: string; assertion: string }> {
  const jti = randomUUID();
  const now = Math.floor(Date.now() / 1000);
  const assertion = await new SignJWT({})
    .setProtectedHeader({ alg: 'ES256', kid: 'resilience-1' })
    .setIssuer(PKJWT_CLIENT).setSubject(PKJWT_CLIENT).setAudience(`${cluster.issuer}/token`)
    .setJti(jti).setIssuedAt(now).setExpirationTime(now + 240)
    .sign(privateKey);
  return { jti, assertion };
}

const tokenChecks = {
  check2xx: (a: { json?: Record<string, unknown>; body: string }) => (typeof a.json?.access_token === 'string' && jtiOf(a.json.access_token) ? undefined : `200 without an access token: ${a.body.slice(0, 200)}`),
  onAnswer: (a: { status: number; json?: Record<string, unknown> }, o: Outcome) => {
    if (a.status === 200 && typeof a.json?.access_token === 'string') o.jti = jtiOf(a.json.access_token);
  },
};

function assertionCall(op: 'pkjwt' | 'pkjwt-replay', sent: { jti: string; assertion: string }): Call {
  const record: SentAssertion = assertions.get(sent.jti) ?? { ...sent, statuses: [] };
  assertions.set(sent.jti, record);
  return {
    op, kind: 'oauth', method: 'POST', url: `${A.url}/token`, key: sent.jti,
    form: { grant_type: 'client_credentials', client_id: PKJWT_CLIENT, client_assertion_type: JWT_BEARER, client_assertion: sent.assertion },
    // A replay is refused as invalid_client (RFC 7523 §3); a fresh assertion never is.
    ...(op === 'pkjwt-replay' ? { allow: { 401: 'invalid_client' }, dispatcher: replayAgent() } : {}),
    check2xx: tokenChecks.check2xx,
    onAnswer: (a, o) => {
      tokenChecks.onAnswer(a, o);
      record.firstPhase ??= o.phase;
      record.statuses.push(a.status);
      assertionUses.push(o);
    },
  };
}

/** The next replay source address, round robin; each stays below MAX_FAILURES (checked by the last test). */
function replayAgent(): Agent {
  const k = nextReplayAgent++ % REPLAY_ADDRESSES;
  replaysPerAddress.set(k, (replaysPerAddress.get(k) ?? 0) + 1);
  return replayAgents[k]!;
}

/** Assertions are signed ahead, so a step stays synchronous; the recovery probe has its own reserve. */
const signed: Array<{ jti: string; assertion: string }> = [];
const reserve: Array<{ jti: string; assertion: string }> = [];
async function signAhead(n: number): Promise<void> {
  while (signed.length < n) signed.push(await newAssertion());
  while (reserve.length < 100) reserve.push(await newAssertion());
}

function step(loop: number, i: number): Call {
  // Fresh assertions, secrets and the locked client in turn; a replay every 16th request.
  const kind = (loop + i) % 16 === 1 ? 1 : [0, 2, 3][(loop + i) % 3]!;
  if (kind === 0) {
    const fresh = signed.pop();
    if (fresh) return assertionCall('pkjwt', fresh);
  }
  if (kind === 1) {
    // Only assertions whose first use has been answered: a replay racing its first use could win,
    // and the first use would then rightly be refused as the replay.
    const recent = [...assertions.values()].filter((a) => a.statuses.length > 0).slice(-200);
    if (recent.length > 0) return assertionCall('pkjwt-replay', recent[Math.floor(Math.random() * recent.length)]!);
  }
  if (kind === 3) {
    // The right secret of a client locked out from this address: never a token (RFC 6749 §10.10).
    return {
      op: 'locked', kind: 'oauth', method: 'POST', url: `${A.url}/token`, allow: { 401: 'invalid_client' },
      headers: { authorization: basic(LOCKED_CLIENT, lockedSecret) }, form: { grant_type: 'client_credentials' },
      check2xx: (a) => `the locked-out client got ${a.status}: the throttle check was skipped`,
    };
  }
  return {
    op: 'secret', kind: 'oauth', method: 'POST', url: `${A.url}/token`,
    headers: { authorization: basic(cluster.ccClientId, cluster.ccClientSecret) }, form: { grant_type: 'client_credentials' },
    ...tokenChecks,
  };
}

/** The recovery probe: a fresh assertion, so the replay store itself must answer. */
function recoveryCall(): Call {
  const fresh = reserve.pop();
  if (!fresh) throw new Error('no signed assertion left for the recovery probe');
  return assertionCall('pkjwt', fresh);
}

/** After the heal: every assertion first sent during the fault (or answered 503) is sent once more. */
async function replaySweep(): Promise<Outcome[]> {
  const candidates = [...assertions.values()]
    .filter((a) => a.firstPhase !== 'before' || a.statuses.some((s) => s !== 200))
    .slice(0, MAX_SWEEP);
  const out: Outcome[] = [];
  for (let i = 0; i < candidates.length; i += SWEEP_CONCURRENCY) {
    out.push(...await Promise.all(candidates.slice(i, i + SWEEP_CONCURRENCY).map((a) => send(agent, assertionCall('pkjwt-replay', a), () => 'after'))));
  }
  return out;
}

/** jtis of assertions that were accepted (200) more than once, across every scenario so far. */
function acceptedTwice(): string[] {
  const ok = new Map<string, number>();
  for (const o of assertionUses) if (o.status === 200 && o.key) ok.set(o.key, (ok.get(o.key) ?? 0) + 1);
  return [...ok].filter(([, n]) => n > 1).map(([jti, n]) => `${jti} accepted ${n} times`);
}

async function scenario(name: string, ms: number, inject: () => void): Promise<{ run: FaultRun; sweep: Outcome[] }> {
  assertions = new Map();
  await signAhead(4_000);
  const run = await runFault({
    dispatcher: agent, instance: A, tokenCall: recoveryCall, fault: { name, ms, inject, heal: () => proxy.heal() },
    step: (loop, i) => step(loop, i),
  });
  const sweep = await replaySweep();
  console.log(`[resilience] ${name}: replay sweep after heal: ${JSON.stringify(Object.entries(sweep.reduce<Record<string, number>>((t, o) => ({ ...t, [o.status || String(o.failure)]: (t[o.status || String(o.failure)] ?? 0) + 1 }), {})))}`);
  return { run, sweep };
}

async function expectInvariants({ run, sweep }: { run: FaultRun; sweep: Outcome[] }): Promise<void> {
  const outcomes = [...run.outcomes, ...sweep];
  const { recovery, health } = run;
  expect(outcomes.filter((o) => o.phase === 'before' && o.status === 200).length, 'no request succeeded before the fault').toBeGreaterThan(0);
  expect(run.exposed, 'requests sent during the fault or in flight when it began').toBeGreaterThanOrEqual(LOOPS);
  expect(outcomes.some((o) => o.phase === 'fault' && o.op !== 'locked' && o.status !== 200), 'the fault never reached the server (no request failed during it)').toBe(true);
  expect(sweep.length, 'assertions replayed after the heal').toBeGreaterThan(0);
  expect.soft(health.running, `the server process ended (${health.exit}):\n${health.tail}`).toBe(true);
  expect.soft(health.unhandled, 'unhandled error events on the server\'s stderr').toEqual([]);
  expect.soft(violations(outcomes), 'answers other than 2xx, 503 with Retry-After or the expected 401; hangs; broken connections').toEqual({});
  expect.soft(acceptedTwice(), 'client assertions accepted twice (the replay check was skipped)').toEqual([]);
  const audit = await unaudited(storage.sql, outcomes, { token: TOKEN_OPS });
  expect(audit.checkedTokens).toBeGreaterThan(0);
  expect.soft(audit.tokens, 'access tokens answered with 200 but without a token.issued event').toEqual([]);
  expect.soft(recovery.token, `no assertion-authenticated token request answered 200 within ${RECOVERY_MS} ms of the heal`).toBeDefined();
  expect.soft(recovery.readyz, `/readyz did not answer 200 within ${RECOVERY_MS} ms of the heal`).toBeDefined();
}

describe.runIf(postgresUp && redisUp)('Redis faults under load: the server stays up, never skips a replay or throttle check, and recovers', () => {
  beforeAll(async () => {
    const keys = await generateKeyPair('ES256');
    privateKey = keys.privateKey;
    const jwk = { ...(await exportJWK(keys.publicKey)), kid: 'resilience-1', alg: 'ES256', use: 'sig' };
    db = await postgresAdapter.open();
    proxy = await startFaultProxy({ target: targetOf(REDIS_TEST_URL), finGraceMs: 1_000 });
    const db0 = new URL(REDIS_TEST_URL).pathname || '/0';
    cluster = await startCluster(db.url, 1, {
      env: { RESILIENCE_LOCKED_SECRET: lockedSecret },
      configure: (base, { resource }) => ({
        ...base,
        cache: `redis://${proxy.host}:${proxy.port}${db0}`,
        login: { max_client_auth_failures: MAX_FAILURES },
        clients: [
          ...(base.clients as unknown[]),
          { client_id: PKJWT_CLIENT, name: 'Resilience private_key_jwt', grant_types: ['client_credentials'], scope: DEMO_CC_SCOPE, resources: [resource], token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [jwk] } },
          { client_id: LOCKED_CLIENT, name: 'Resilience locked out', grant_types: ['client_credentials'], scope: DEMO_CC_SCOPE, resources: [resource], client_secret_env: 'RESILIENCE_LOCKED_SECRET' },
        ],
      }),
    });
    A = cluster.instances[0]!;
    agent = trustingAgent(cluster.ca);
    replayAgents = Array.from({ length: REPLAY_ADDRESSES }, (_, k) => trustingAgent(cluster.ca, `127.0.2.${k + 1}`));
    storage = await openStorage(db.url, { migrate: false });
  }, TEST_TIMEOUT_MS);

  afterAll(async () => {
    await cluster?.close();
    await proxy?.close();
    await agent?.close();
    await Promise.all(replayAgents.map((a) => a.close()));
    await storage?.close();
    await db?.cleanup();
  }, 60_000);

  beforeEach(async () => {
    proxy.heal();
    A = await restartIfExited(cluster, A, () => (restarts += 1));
  }, 90_000);
  afterEach(() => proxy.heal());

  test('before any fault: the server reaches Redis only through the proxy, an assertion is accepted once, and the locked client is locked', async () => {
    await signAhead(2);
    const first = signed.pop()!;
    const before = proxy.stats().bytesToTarget;
    const a = await send(agent, assertionCall('pkjwt', first), () => 'before');
    expect(a.status, a.body).toBe(200);
    expect(proxy.stats().bytesToTarget).toBeGreaterThan(before);
    const again = await send(agent, assertionCall('pkjwt-replay', first), () => 'before');
    expect(again.status).toBe(401);
    expect(again.error).toBe('invalid_client');
    for (let i = 0; i < MAX_FAILURES; i++) {
      const wrong = await send(agent, { op: 'wrong', kind: 'oauth', method: 'POST', url: `${A.url}/token`, headers: { authorization: basic(LOCKED_CLIENT, 'wrong-secret') }, form: { grant_type: 'client_credentials' } }, () => 'before');
      expect(wrong.status).toBe(401);
    }
    const locked = await send(agent, step(0, 2), () => 'before');
    expect(locked.op).toBe('locked');
    expect(locked.status, 'the right secret after the lockout').toBe(401);
    expect(locked.error).toBe('invalid_client');
  });

  test('drop: every Redis connection is closed (FIN) and new ones refused for a few seconds', async () => {
    await expectInvariants(await scenario('redis drop', FAULT_MS, () => proxy.drop()));
  }, TEST_TIMEOUT_MS);

  test('reset: every Redis connection is reset (RST) and new ones reset for a few seconds', async () => {
    await expectInvariants(await scenario('redis reset', FAULT_MS, () => proxy.reset()));
  }, TEST_TIMEOUT_MS);

  test(`partition: nothing reaches Redis or comes back for ${PARTITION_MS / 1000} s, longer than the client deadline`, async () => {
    await expectInvariants(await scenario('redis blackhole', PARTITION_MS, () => proxy.blackhole()));
  }, TEST_TIMEOUT_MS);

  test('after every fault, caduceus audit verify passes, and the server never needed a restart', async () => {
    const verify = await auditVerify(cluster);
    expect.soft(verify.status, verify.output).toBe(0);
    expect.soft(verify.verdict, verify.output).toMatchObject({ ok: true });
    expect.soft(restarts, 'scenarios that found the server exited and restarted it').toBe(0);
    // The design held: no replay address reached the lockout, so every replay was checked against the replay store.
    expect(Math.max(...replaysPerAddress.values())).toBeLessThan(MAX_FAILURES);
  }, 60_000);
});
