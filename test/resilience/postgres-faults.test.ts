// PostgreSQL faults under load (issue 12). One real `caduceus serve` process (test/scale/cluster.ts)
// on a fresh PostgreSQL schema reaches the database only through a fault proxy
// (test/support/fault-proxy.ts), and fronts the demo FHIR server with the gateway. 16 loops send
// client_credentials token requests, introspections of the tokens issued and gateway reads
// (GET /fhir/Patient/…) while the proxy drops, resets, partitions and slows the database
// connections, and while the server's own backends are killed with pg_terminate_backend. Each
// fault lasts a few seconds and is then healed. One partition outlasts the client deadline (a
// missing server-side timeout shows as a hang); a shorter one outlasts the server's query timeout
// only, so COMMITs it gave up on still reach the database after the heal.
//
// Proves, for every fault:
// 1. the server process stays up: it never exits, and never reports an unhandled 'error' event;
// 2. every answer is a 2xx or a 503 with Retry-After (OAuth {"error":"temporarily_unavailable"}
//    on /token and /introspect, an OperationOutcome on the gateway): no 500, no other status, no
//    dropped connection; an introspection that answers 200 says active: true (a live token is
//    never reported inactive because the database was out of reach);
// 3. no request hangs: each has a DEADLINE_MS client deadline (test/resilience/load.ts) and none
//    reaches it;
// 4. what was acknowledged was audited: every access token answered with 200 has its token.issued
//    event in the ledger (by jti), and every gateway 200 (PHI released) its phi.accessed event;
// 5. `caduceus audit verify` passes afterwards (run on the schema directly, not through the proxy);
// 6. service resumes without a restart: within RECOVERY_MS of the heal a token request gets 200
//    and the admin listener's /readyz answers 200.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import pg from 'pg';
import { request, type Agent } from 'undici';
import { POSTGRES_TEST_URL, postgresAdapter, testAdapters, type TestDatabase } from '../storage/databases.js';
import { startFaultProxy, targetOf, throughProxy, type FaultProxy } from '../support/fault-proxy.js';
import { startCluster, type Cluster, type Instance } from '../scale/cluster.js';
import { startDemoFhirServer, type DemoFhirServer } from '../../src/fhir-demo/index.js';
import { openStorage, type Storage } from '../../src/storage/index.js';
import {
  DEADLINE_MS, LOOPS, RECOVERY_MS, auditVerify, basic, jtiOf, restartIfExited, runFault, trustingAgent, unaudited, violations,
  type Call, type Fault, type FaultRun,
} from './load.js';

const postgresUp = (await testAdapters()).includes(postgresAdapter);
/** How long drop, reset, slow and backend termination last. */
const FAULT_MS = 3_000;
/** A partition outlasts the client deadline: a server without its own timeouts would make requests miss it. */
const PARTITION_MS = DEADLINE_MS + 1_000;
/**
 * A partition longer than the server's query timeout (database.query_timeout, 6 s by default) and
 * shorter than the idle-in-transaction timeout it sets (twice statement_timeout, 10 s by default):
 * the server gives up on transactions whose COMMIT is held in the partition, and the database
 * still applies those COMMITs when it heals. Acknowledged or not, the ledger must stay one
 * verifiable log.
 */
const SHORT_PARTITION_MS = 8_000;
/** Added to every chunk in each direction by the slow fault. */
const SLOW_MS = 150;
const TEST_TIMEOUT_MS = 120_000;

let db: TestDatabase;
let proxy: FaultProxy;
let fhir: DemoFhirServer;
let cluster: Cluster;
let storage: Storage;
let agent: Agent;
/** Direct to PostgreSQL (never through the proxy); a pool, so a session lost to someone else's test is replaced. */
let admin: pg.Pool;
let A: Instance;
/** The token each loop presents next (its last 200); a loop without one asks for one. */
const tokens: Array<string | undefined> = [];
/** Set when a test found the process gone and started it again: its number of restarts. */
let restarts = 0;

function tokenCall(loop?: number): Call {
  return {
    op: 'token', kind: 'oauth', method: 'POST', url: `${A.url}/token`,
    headers: { authorization: basic(cluster.ccClientId, cluster.ccClientSecret) }, form: { grant_type: 'client_credentials' },
    check2xx: (a) => (typeof a.json?.access_token === 'string' && jtiOf(a.json.access_token) ? undefined : `200 without an access token: ${a.body.slice(0, 200)}`),
    onAnswer: (a, o) => {
      const token = a.json?.access_token;
      if (a.status !== 200 || typeof token !== 'string') return;
      o.jti = jtiOf(token);
      if (loop !== undefined) tokens[loop] = token;
    },
  };
}

function step(loop: number, i: number): Call {
  const token = tokens[loop];
  const kind = token === undefined ? 0 : i % 3;
  if (kind === 0) return tokenCall(loop);
  if (kind === 1) {
    return {
      op: 'introspect', kind: 'oauth', method: 'POST', url: `${A.url}/introspect`, jti: jtiOf(token!),
      headers: { authorization: basic(cluster.ccClientId, cluster.ccClientSecret) }, form: { token: token! },
      check2xx: (a) => (a.json?.active === true ? undefined : `200 with active: ${String(a.json?.active)} for a live token of this client`),
    };
  }
  return {
    op: 'gateway', kind: 'fhir', method: 'GET', url: `${A.url}/fhir/Patient/demo-${1 + (i % 5)}`, jti: jtiOf(token!),
    headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json' },
    check2xx: (a) => (a.json?.resourceType === 'Patient' ? undefined : `200 that is not a Patient: ${a.body.slice(0, 200)}`),
  };
}

/**
 * Ends the server's sessions: those whose client_port is one of the proxy's outbound ports, nobody
 * else's (other suites share this PostgreSQL). The sessions are chosen first (a materialised CTE),
 * so pg_terminate_backend never runs on a row before the filter has kept it.
 */
async function terminateServerBackends(): Promise<number> {
  const ports = proxy.targetLocalPorts();
  if (ports.length === 0) return 0;
  const r = await admin.query<{ pid: number }>(
    `WITH mine AS MATERIALIZED (
       SELECT pid FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid() AND client_addr = '127.0.0.1' AND client_port = ANY($1::int[])
     )
     SELECT pid FROM mine WHERE pg_terminate_backend(pid)`,
    [ports],
  );
  return r.rowCount ?? 0;
}

/** The invariants every scenario must keep; soft, so one run reports every broken one. */
async function expectInvariants(run: FaultRun, opts: { faultVisible: boolean; faultFelt?: boolean }): Promise<void> {
  const { outcomes, recovery, health } = run;
  // The load was real: it succeeded before the fault and kept sending during it.
  expect(outcomes.filter((o) => o.phase === 'before' && o.status === 200).length, 'no request succeeded before the fault').toBeGreaterThan(0);
  expect(run.exposed, 'requests sent during the fault or in flight when it began').toBeGreaterThanOrEqual(LOOPS);
  if (opts.faultFelt) {
    // Failed, or waited out: an answer during the fault that failed or took at least a second.
    expect(outcomes.some((o) => o.at < run.faultEnd && o.at + o.ms > run.faultStart && (o.status !== 200 || o.ms >= 1_000)), 'the fault never reached the server').toBe(true);
  }
  if (opts.faultVisible) {
    expect(outcomes.some((o) => o.phase === 'fault' && o.status !== 200), 'the fault never reached the server (no request failed during it)').toBe(true);
  }
  expect.soft(health.running, `the server process ended (${health.exit}):\n${health.tail}`).toBe(true);
  expect.soft(health.unhandled, 'unhandled error events on the server\'s stderr').toEqual([]);
  expect.soft(violations(outcomes), 'answers other than 2xx or 503 with Retry-After, hangs and broken connections').toEqual({});
  const audit = await unaudited(storage.sql, outcomes, { token: ['token'], gateway: 'gateway' });
  expect(audit.checkedTokens).toBeGreaterThan(0);
  expect(audit.checkedReads).toBeGreaterThan(0);
  expect.soft(audit.tokens, 'access tokens answered with 200 but without a token.issued event').toEqual([]);
  expect.soft(audit.gatewayReads, 'gateway reads answered with 200 but without a phi.accessed event').toEqual([]);
  expect.soft(recovery.token, `no token request answered 200 within ${RECOVERY_MS} ms of the heal`).toBeDefined();
  expect.soft(recovery.readyz, `/readyz did not answer 200 within ${RECOVERY_MS} ms of the heal`).toBeDefined();
}

describe.runIf(postgresUp)('PostgreSQL faults under load: the server stays up, fails closed with 503, audits what it acknowledges, and recovers', () => {
  beforeAll(async () => {
    db = await postgresAdapter.open();
    proxy = await startFaultProxy({ target: targetOf(POSTGRES_TEST_URL), finGraceMs: 1_000 });
    fhir = await startDemoFhirServer({ port: 0 });
    cluster = await startCluster(db.url, 1, {
      serveStorageUrl: throughProxy(db.url, proxy),
      configure: (base, { resource }) => ({ ...base, gateway: { routes: [{ prefix: '/fhir', upstream: fhir.url, audience: resource, type: 'fhir' }] } }),
    });
    A = cluster.instances[0]!;
    agent = trustingAgent(cluster.ca);
    storage = await openStorage(db.url, { migrate: false });
    admin = new pg.Pool({ connectionString: POSTGRES_TEST_URL, max: 1, connectionTimeoutMillis: 3_000, query_timeout: 5_000 });
    admin.on('error', () => undefined);
  }, TEST_TIMEOUT_MS);

  afterAll(async () => {
    await cluster?.close();
    await proxy?.close();
    await agent?.close();
    await fhir?.close();
    await admin?.end().catch(() => undefined);
    await storage?.close();
    await db?.cleanup();
  }, 60_000);

  beforeEach(async () => {
    proxy.heal();
    A = await restartIfExited(cluster, A, () => (restarts += 1));
  }, 90_000);
  afterEach(() => proxy.heal());

  test('the server reaches PostgreSQL only through the proxy', async () => {
    const before = proxy.stats().bytesToTarget;
    const res = await request(`${A.url}/token`, {
      method: 'POST', dispatcher: agent, body: 'grant_type=client_credentials',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(cluster.ccClientId, cluster.ccClientSecret) },
    });
    await res.body.text();
    expect(res.statusCode).toBe(200);
    expect(proxy.stats().bytesToTarget).toBeGreaterThan(before);
    expect(proxy.targetLocalPorts().length).toBeGreaterThan(0);
  });

  test('drop: every database connection is closed (FIN) and new ones refused for a few seconds', async () => {
    const run = await runFault({ dispatcher: agent, instance: A, step, tokenCall, fault: { name: 'postgres drop', ms: FAULT_MS, inject: () => proxy.drop(), heal: () => proxy.heal() } });
    await expectInvariants(run, { faultVisible: true });
  }, TEST_TIMEOUT_MS);

  test('reset: every database connection is reset (RST) and new ones reset for a few seconds', async () => {
    const run = await runFault({ dispatcher: agent, instance: A, step, tokenCall, fault: { name: 'postgres reset', ms: FAULT_MS, inject: () => proxy.reset(), heal: () => proxy.heal() } });
    await expectInvariants(run, { faultVisible: true });
  }, TEST_TIMEOUT_MS);

  test(`partition: nothing reaches the database or comes back for ${PARTITION_MS / 1000} s, longer than the client deadline`, async () => {
    const run = await runFault({ dispatcher: agent, instance: A, step, tokenCall, fault: { name: 'postgres blackhole', ms: PARTITION_MS, inject: () => proxy.blackhole(), heal: () => proxy.heal() } });
    await expectInvariants(run, { faultVisible: true });
  }, TEST_TIMEOUT_MS);

  test(`short partition (${SHORT_PARTITION_MS / 1000} s): commands the server gave up on reach the database after the heal`, async () => {
    const run = await runFault({ dispatcher: agent, instance: A, step, tokenCall, fault: { name: 'postgres short blackhole', ms: SHORT_PARTITION_MS, inject: () => proxy.blackhole(), heal: () => proxy.heal() } });
    // Failing at the query timeout, or waiting the partition out, are both allowed here.
    await expectInvariants(run, { faultVisible: false, faultFelt: true });
  }, TEST_TIMEOUT_MS);

  test(`slow network: every database packet arrives ${SLOW_MS} ms late`, async () => {
    const run = await runFault({ dispatcher: agent, instance: A, step, tokenCall, fault: { name: `postgres slow(${SLOW_MS})`, ms: FAULT_MS, inject: () => proxy.slow(SLOW_MS), heal: () => proxy.heal() } });
    // The delay reached the server: some answer took at least one round trip's worth of it.
    expect(run.outcomes.some((o) => o.phase === 'fault' && o.ms >= 2 * SLOW_MS)).toBe(true);
    await expectInvariants(run, { faultVisible: false });
  }, TEST_TIMEOUT_MS);

  test('pg_terminate_backend: the server\'s own backends (and only those) are killed again and again for a few seconds', async () => {
    let terminated = 0;
    const failures: string[] = [];
    let timer: NodeJS.Timeout | undefined;
    let pending: Promise<void> = Promise.resolve();
    const fault: Fault = {
      name: 'postgres pg_terminate_backend', ms: FAULT_MS,
      inject() {
        const kill = () => {
          pending = terminateServerBackends().then((n) => { terminated += n; }, (err: Error) => { failures.push(err.message); });
        };
        kill();
        timer = setInterval(kill, 300);
      },
      async heal() {
        clearInterval(timer);
        await pending;
      },
    };
    const run = await runFault({ dispatcher: agent, instance: A, step, tokenCall, fault });
    console.log(`[resilience] pg_terminate_backend ended ${terminated} of the server's sessions`);
    expect(failures).toEqual([]);
    expect(terminated).toBeGreaterThan(0);
    await expectInvariants(run, { faultVisible: false });
  }, TEST_TIMEOUT_MS);

  test('after every fault, caduceus audit verify passes on the schema, and the server never needed a restart', async () => {
    const verify = await auditVerify(cluster);
    expect.soft(verify.status, verify.output).toBe(0);
    expect.soft(verify.verdict, verify.output).toMatchObject({ ok: true });
    expect.soft(restarts, 'scenarios that found the server exited and restarted it').toBe(0);
  }, 60_000);
});
