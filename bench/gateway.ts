// PHI gateway overhead (docs/performance.md "PHI gateway"): requests per second and latency through
// the gateway versus straight to the same upstream, in the same run, at concurrency 1, 16 and 64.
// Loopback only, bounded request counts. Separate processes so no side shares an event loop with
// another:
//
//   load generator (this process) ──http──────────────────────────────▶ demo FHIR server (child)
//   load generator (this process) ──TLS──▶ Caduceus + gateway (child) ──http──▶ the same server
//
// The gateway path does everything it does in production: TLS, JWT verification, revocation status
// (cached), SMART scope and patient-compartment checks, header allow-listing, identity headers,
// response parsing and release checks, and one durable ledger event per request (SQLite, group
// commit). The target (docs/performance.md "PHI gateway"): ≥ 60% of direct throughput and < 2 ms
// added p99 at concurrency 16.
//
// Attribution (read, concurrency 16): the same TLS server answering GET /healthz (TLS + Fastify
// alone), a second gateway process whose ledger stores nothing (attribution only, never a
// deployment option), a third whose ledger is on PostgreSQL (commit off the gateway's event loop;
// skipped when CADUCEUS_TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test, is
// unreachable), and the real SQLite gateway. Saved with the machine description (and its load
// average) as bench/results/gateway.json, every run, the spread across runs, and summary rows for
// bench/run.ts.
//
//   npx tsx bench/gateway.ts [scale=1] [runs=1]   (scale multiplies the request counts; runs repeats
//                                                  the whole measurement and reports the spread)
//   CADUCEUS_BENCH_PROFILE=/tmp/prof npx tsx bench/gateway.ts   (CPU profile of the gateway process)
//   CADUCEUS_BENCH_VERBOSE=1 …   (show the servers' stderr)
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { freePort, load, machine, saveResult, type LoadResult, type SummaryRow } from './lib.js';

const role = process.argv[2];
const PG_URL = process.env.CADUCEUS_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** The gateway child: Caduceus over TLS with one fhir route to `upstream`. */
async function serveGateway(upstream: string, noLedger: boolean, storage: string | undefined): Promise<void> {
  const { devConfig, seedDemo } = await import('../src/server/dev-stack.js');
  const { createContext } = await import('../src/server/start.js');
  const { buildApp } = await import('../src/server/app.js');
  const { tlsServerOptions } = await import('../src/http/tls.js');
  const { registerGateway } = await import('../src/gateway/index.js');
  const { signJwt } = await import('../src/oauth/tokens/jwt.js');
  const { makeJti } = await import('../src/oauth/tokens/access-token.js');
  const dataDir = mkdtempSync(join(tmpdir(), 'caduceus-bench-gw-'));
  const port = await freePort();
  const { config, caFile } = await devConfig({ dataDir, port, host: '127.0.0.1', issuerHost: '127.0.0.1', ...(storage ? { storage } : {}) });
  config.tokens.access_token_ttl = 900;
  // --no-ledger (attribution only, never a deployment option): the same gateway with a sink that
  // stores nothing, to show how much of the overhead is the durable ledger write.
  let ledger: { stats: { events: number; transactions: number } } | undefined;
  const ctx = await createContext(config, {
    env: {},
    wrapAudit: (sink) => {
      if (noLedger) return { record: async () => undefined };
      ledger = sink as unknown as typeof ledger;
      return sink;
    },
  });
  // The load generator asks for the ledger's counters over IPC: events per commit shows group
  // commit at work.
  process.on('message', () => process.send?.({ events: ledger?.stats.events ?? 0, transactions: ledger?.stats.transactions ?? 0 }));
  await seedDemo(ctx, dataDir, caFile);
  const audience = `${config.issuer}/fhir`;
  const app = await buildApp(ctx, { https: tlsServerOptions({ cert: readFileSync(config.tls!.cert), key: readFileSync(config.tls!.key) }) });
  await registerGateway(app, ctx, { routes: [{ prefix: '/fhir', upstream, audience, type: 'fhir' }] });
  await app.listen({ host: '127.0.0.1', port });
  const iat = Math.floor(Date.now() / 1000);
  const token = await signJwt(ctx, 'at+jwt', {
    iss: config.issuer, sub: 'bench-user', aud: audience, exp: iat + 900, iat, jti: makeJti(null), client_id: 'bench-client', scope: 'patient/*.rs', patient: 'demo-1',
  });
  process.stdout.write(`${JSON.stringify({ url: audience, ca: readFileSync(caFile, 'utf8'), token })}\n`);
  const stop = async () => {
    await app.close();
    await ctx.close();
    rmSync(dataDir, { recursive: true, force: true });
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
}

interface Child {
  proc: ChildProcess;
  info: Record<string, string>;
}

function child(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Child> {
  const profile = process.env.CADUCEUS_BENCH_PROFILE && args[0] === '--gateway' ? ['--cpu-prof', `--cpu-prof-dir=${process.env.CADUCEUS_BENCH_PROFILE}`] : [];
  // The server's per-request log lines go to /dev/null unless CADUCEUS_BENCH_VERBOSE is set: a
  // synchronous pipe write per request would measure the terminal, not the gateway.
  const stderr = process.env.CADUCEUS_BENCH_VERBOSE ? 'inherit' : 'ignore';
  const proc = spawn(process.execPath, [...process.execArgv, ...profile, fileURLToPath(import.meta.url), ...args], { stdio: ['ignore', 'pipe', stderr, 'ipc'], env: { ...process.env, CADUCEUS_BENCH_STORAGE: undefined, ...env } });
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d) => {
      out += d;
      const m = /^\{.*\}$/m.exec(out);
      if (m) resolve({ proc, info: JSON.parse(m[0]) });
    });
    proc.once('exit', (code) => reject(new Error(`${args[0]} exited with ${code}`)));
  });
}

async function stopChild(c: Child | undefined): Promise<void> {
  if (!c || c.proc.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => c.proc.once('exit', () => resolve()));
  c.proc.kill('SIGTERM');
  await Promise.race([exited, new Promise<void>((resolve) => setTimeout(resolve, 10_000))]);
}

/**
 * CPU seconds (user + system) a process has used, from /proc (Linux; undefined elsewhere). Under
 * a busy machine, CPU per request is a steadier measure of the gateway's cost than req/s.
 */
function cpuSeconds(pid: number | undefined): number | undefined {
  const file = `/proc/${pid}/stat`;
  if (pid === undefined || !existsSync(file)) return undefined;
  const fields = readFileSync(file, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

/** Peak resident memory of a process in MiB, from /proc (Linux; undefined elsewhere). */
function peakRssMb(pid: number | undefined): number | undefined {
  const file = `/proc/${pid}/status`;
  if (pid === undefined || !existsSync(file)) return undefined;
  const kb = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(file, 'utf8'))?.[1];
  return kb === undefined ? undefined : Math.round(Number(kb) / 102.4) / 10;
}

/** The ledger's counters in a gateway child (zeros for the stubbed one); undefined if it does not answer. */
function ledgerStats(c: Child): Promise<{ events: number; transactions: number } | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      c.proc.off('message', onMessage);
      resolve(undefined);
    }, 2000);
    const onMessage = (m: unknown) => {
      clearTimeout(timer);
      resolve(m as { events: number; transactions: number });
    };
    c.proc.once('message', onMessage);
    c.proc.send('stats');
  });
}

interface Measured extends LoadResult {
  cpuUsPerRequest?: number;
  /** CPU of this process (the load generator: TLS client, HTTP parsing) per request. */
  loadCpuUsPerRequest: number;
  /** Ledger events per commit during the run (gateway children with a ledger). */
  eventsPerCommit?: number;
}

async function measured(c: Child, run: () => Promise<LoadResult>, ledger = false): Promise<Measured> {
  const s0 = ledger ? await ledgerStats(c) : undefined;
  const before = cpuSeconds(c.proc.pid);
  const own = process.cpuUsage();
  const loaded = await run();
  const ownUsed = process.cpuUsage(own);
  const after = cpuSeconds(c.proc.pid);
  const result: Measured = { ...loaded, loadCpuUsPerRequest: (ownUsed.user + ownUsed.system) / loaded.requests };
  const s1 = ledger ? await ledgerStats(c) : undefined;
  if (before !== undefined && after !== undefined) result.cpuUsPerRequest = ((after - before) * 1e6) / result.requests;
  if (s0 && s1 && s1.transactions > s0.transactions) result.eventsPerCommit = (s1.events - s0.events) / (s1.transactions - s0.transactions);
  return result;
}

/** A throwaway PostgreSQL schema for the third gateway, or undefined (with a note) when unreachable. */
async function postgresSchema(): Promise<{ url: string; drop(): Promise<void> } | undefined> {
  const schema = `caduceus_bench_gw_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
  } catch (err) {
    console.log(`PostgreSQL at ${PG_URL.replace(/\/\/[^@]*@/, '//***@')} unreachable (${(err as Error).message}): the PostgreSQL row is skipped.`);
    await admin.end().catch(() => undefined);
    return undefined;
  }
  await admin.end();
  const sep = PG_URL.includes('?') ? '&' : '?';
  return {
    url: `${PG_URL}${sep}options=${encodeURIComponent(`-c search_path=${schema}`)}`,
    async drop() {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP SCHEMA ${schema} CASCADE`);
      await c.end();
    },
  };
}

const round = (v: number | undefined, digits = 2) => (v === undefined ? null : Number(v.toFixed(digits)));

interface Row {
  scenario: string;
  concurrency: number;
  requests: number;
  direct_rps: number;
  gateway_rps: number;
  ratio: number;
  direct_p50_ms: number;
  gateway_p50_ms: number;
  added_p50_ms: number;
  direct_p99_ms: number;
  gateway_p99_ms: number;
  added_p99_ms: number;
  upstream_cpu_us_per_request: number | null;
  gateway_cpu_us_per_request: number | null;
  ledger_events_per_commit: number | null;
  errors: number;
}

interface Part {
  what: string;
  rps: number;
  p50_ms: number;
  p99_ms: number;
  cpu_us_per_request: number | null;
  load_generator_cpu_us_per_request: number;
  ledger_events_per_commit: number | null;
  errors: number;
}

interface Run {
  load_average_before: number[];
  load_average_after: number[];
  rows: Row[];
  attribution: Part[];
}

interface Servers {
  upstream: Child;
  gateway: Child;
  stubbed: Child;
  postgres: Child | undefined;
}

const SCENARIOS = [
  { name: 'read Observation', path: '/Observation/obs-1-1' },
  { name: 'search Observation?patient', path: '/Observation?patient=demo-1' },
];

async function measureOnce(s: Servers, scale: number): Promise<Run> {
  const loadBefore = loadavg().map((l) => Number(l.toFixed(2)));
  const direct = new URL(s.upstream.info.url!);
  const target = (c: Child) => {
    const url = new URL(c.info.url!);
    const headers = { authorization: `Bearer ${c.info.token}`, accept: 'application/fhir+json' };
    return { origin: url.origin, ca: c.info.ca!, request: (path: string) => () => ({ path: `${url.pathname}${path}`, method: 'GET' as const, headers }) };
  };
  const via = target(s.gateway);
  const ca = via.ca;
  const levels = [
    { concurrency: 1, total: Math.round(1500 * scale) },
    { concurrency: 16, total: Math.round(6000 * scale) },
    { concurrency: 64, total: Math.round(6000 * scale) },
  ];
  const rows: Row[] = [];
  for (const sc of SCENARIOS) {
    const directReq = () => ({ path: `${direct.pathname.replace(/\/$/, '')}${sc.path}`, method: 'GET' as const, headers: { accept: 'application/fhir+json' } });
    const gatewayReq = via.request(sc.path);
    // Warm-up: JIT, connection pools, key and token-status caches.
    await load(direct.origin, ca, 500, 16, directReq);
    await load(via.origin, ca, 500, 16, gatewayReq);
    for (const { concurrency, total } of levels) {
      const d = await measured(s.upstream, () => load(direct.origin, ca, total, concurrency, directReq));
      const g = await measured(s.gateway, () => load(via.origin, ca, total, concurrency, gatewayReq), true);
      rows.push({
        scenario: sc.name, concurrency, requests: total,
        direct_rps: Math.round(d.rps), gateway_rps: Math.round(g.rps), ratio: round(g.rps / d.rps, 3)!,
        direct_p50_ms: round(d.p50)!, gateway_p50_ms: round(g.p50)!, added_p50_ms: round(g.p50 - d.p50)!,
        direct_p99_ms: round(d.p99)!, gateway_p99_ms: round(g.p99)!, added_p99_ms: round(g.p99 - d.p99)!,
        upstream_cpu_us_per_request: round(d.cpuUsPerRequest, 0), gateway_cpu_us_per_request: round(g.cpuUsPerRequest, 0),
        ledger_events_per_commit: round(g.eventsPerCommit, 1), errors: d.errors + g.errors,
      });
    }
  }

  // Where the added time goes, at concurrency 16 on the read.
  const c = 16;
  const n = Math.round(4000 * scale);
  const read = SCENARIOS[0]!.path;
  const stub = target(s.stubbed);
  const pgw = s.postgres ? target(s.postgres) : undefined;
  // These processes have served nothing yet, the main gateway every level above: warm them well, so
  // the comparison is not between a cold and a warm JIT.
  const warm = Math.max(2000, Math.round(1500 * scale));
  await load(stub.origin, stub.ca, warm, c, stub.request(read));
  if (pgw) await load(pgw.origin, pgw.ca, warm, c, pgw.request(read));
  const parts: Array<[string, Measured]> = [
    ['direct to upstream (http)', await measured(s.upstream, () => load(direct.origin, ca, n, c, () => ({ path: `${direct.pathname.replace(/\/$/, '')}${read}`, method: 'GET' as const, headers: {} })))],
    ['TLS + server only (GET /healthz)', await measured(s.gateway, () => load(via.origin, ca, n, c, () => ({ path: '/healthz', method: 'GET' as const, headers: {} })))],
    ['gateway, ledger stubbed (attribution only)', await measured(s.stubbed, () => load(stub.origin, stub.ca, n, c, stub.request(read)))],
    ...(pgw ? [['gateway, ledger on PostgreSQL (same host)', await measured(s.postgres!, () => load(pgw.origin, pgw.ca, n, c, pgw.request(read)), true)] as [string, Measured]] : []),
    ['gateway, ledger on SQLite (as above)', await measured(s.gateway, () => load(via.origin, ca, n, c, via.request(read)), true)],
  ];
  return {
    load_average_before: loadBefore,
    load_average_after: loadavg().map((l) => Number(l.toFixed(2))),
    rows,
    attribution: parts.map(([what, r]) => ({
      what, rps: Math.round(r.rps), p50_ms: round(r.p50)!, p99_ms: round(r.p99)!, cpu_us_per_request: round(r.cpuUsPerRequest, 0),
      load_generator_cpu_us_per_request: Math.round(r.loadCpuUsPerRequest),
      ledger_events_per_commit: round(r.eventsPerCommit, 1), errors: r.errors,
    })),
  };
}

const dash = (v: number | null) => (v === null ? '-' : v);

function printRun(run: Run, index: number, runs: number): void {
  console.log(`Run ${index + 1} of ${runs}: PHI gateway vs direct upstream (loopback; load average ${run.load_average_before.join(' ')} before, ${run.load_average_after.join(' ')} after)`);
  // Column names are read by bench/run.ts when no JSON was saved: keep them.
  console.table(run.rows.map((r) => ({
    scenario: r.scenario, concurrency: r.concurrency, requests: r.requests,
    'direct req/s': r.direct_rps, 'gateway req/s': r.gateway_rps, 'throughput ratio': r.ratio.toFixed(2),
    'direct p50 ms': r.direct_p50_ms.toFixed(2), 'gateway p50 ms': r.gateway_p50_ms.toFixed(2), 'added p50 ms': r.added_p50_ms.toFixed(2),
    'direct p99 ms': r.direct_p99_ms.toFixed(2), 'gateway p99 ms': r.gateway_p99_ms.toFixed(2), 'added p99 ms': r.added_p99_ms.toFixed(2),
    'upstream CPU µs/req': dash(r.upstream_cpu_us_per_request), 'gateway CPU µs/req': dash(r.gateway_cpu_us_per_request),
    'events/commit': dash(r.ledger_events_per_commit), errors: r.errors,
  })));
  console.log('Attribution, read Observation, concurrency 16 (CPU: of the serving process, and of the load generator on the same cores)');
  console.table(run.attribution.map((p) => ({
    what: p.what, 'req/s': p.rps, 'p50 ms': p.p50_ms.toFixed(2), 'p99 ms': p.p99_ms.toFixed(2), 'CPU µs/req': dash(p.cpu_us_per_request),
    'load generator CPU µs/req': p.load_generator_cpu_us_per_request,
    'events/commit': dash(p.ledger_events_per_commit), errors: p.errors,
  })));
}

const span = (values: number[]) => ({ min: Math.min(...values), max: Math.max(...values) });
const median = <T>(items: T[], key: (t: T) => number): T => [...items].sort((a, b) => key(a) - key(b))[Math.floor((items.length - 1) / 2)]!;

async function main(): Promise<void> {
  const scale = Number(process.argv[2] ?? 1);
  const runCount = Math.max(1, Math.floor(Number(process.argv[3] ?? 1)));
  console.log(`PHI gateway benchmark, scale ${scale}, ${runCount} run(s); ${JSON.stringify(machine())}`);
  const schema = await postgresSchema();
  const servers: Partial<Servers> = {};
  try {
    servers.upstream = await child(['--upstream']);
    const url = servers.upstream.info.url!;
    servers.gateway = await child(['--gateway', url]);
    servers.stubbed = await child(['--gateway', url, '--no-ledger']);
    servers.postgres = schema ? await child(['--gateway', url, '--postgres'], { CADUCEUS_BENCH_STORAGE: schema.url }) : undefined;
    const runs: Run[] = [];
    for (let i = 0; i < runCount; i++) {
      runs.push(await measureOnce(servers as Servers, scale));
      printRun(runs[i]!, i, runCount);
    }

    // The spread across runs (the machine is shared: req/s moves with its load, CPU per request less).
    const spread = runs[0]!.rows.map((first, i) => {
      const same = runs.map((r) => r.rows[i]!);
      return {
        scenario: first.scenario, concurrency: first.concurrency,
        gateway_rps: span(same.map((r) => r.gateway_rps)), ratio: span(same.map((r) => r.ratio)),
        added_p50_ms: span(same.map((r) => r.added_p50_ms)), added_p99_ms: span(same.map((r) => r.added_p99_ms)),
        gateway_cpu_us_per_request: span(same.map((r) => r.gateway_cpu_us_per_request ?? Number.NaN)),
      };
    });
    const attributionSpread = runs[0]!.attribution.map((first, i) => {
      const same = runs.map((r) => r.attribution[i]!);
      return { what: first.what, rps: span(same.map((p) => p.rps)), p99_ms: span(same.map((p) => p.p99_ms)), cpu_us_per_request: span(same.map((p) => p.cpu_us_per_request ?? Number.NaN)) };
    });
    if (runCount > 1) {
      const range = (s: { min: number; max: number }, d = 0) => `${s.min.toFixed(d)}–${s.max.toFixed(d)}`;
      console.log(`Spread over ${runCount} runs (min–max)`);
      console.table(spread.map((s) => ({
        scenario: s.scenario, concurrency: s.concurrency, 'gateway req/s': range(s.gateway_rps), 'throughput ratio': range(s.ratio, 2),
        'added p50 ms': range(s.added_p50_ms, 2), 'added p99 ms': range(s.added_p99_ms, 2), 'gateway CPU µs/req': range(s.gateway_cpu_us_per_request),
      })));
      console.table(attributionSpread.map((s) => ({ what: s.what, 'req/s': range(s.rps), 'p99 ms': range(s.p99_ms, 2), 'CPU µs/req': range(s.cpu_us_per_request) })));
    }

    // Summary rows for bench/run.ts: the median run (by throughput ratio; the lower of the middle
    // two for an even count) of each scenario and level.
    const peak = peakRssMb(servers.gateway.proc.pid) ?? null;
    const summaryRows: SummaryRow[] = spread.map((s, i) => {
      const r = median(runs.map((run) => run.rows[i]!), (x) => x.ratio);
      const atTarget = r.concurrency === 16;
      return {
        benchmark: `gateway: ${r.scenario}`, variant: `c=${r.concurrency}`, throughput: r.gateway_rps, unit: 'req/s',
        p50_ms: r.gateway_p50_ms, p99_ms: r.gateway_p99_ms, peak_rss_mb: peak,
        ceiling_name: 'direct to the upstream, same load generator', ceiling: r.direct_rps, ratio: r.ratio,
        target: atTarget ? '≥ 0.60 of direct, added p99 < 2 ms' : '≥ 0.60 of direct',
        met: atTarget ? r.ratio >= 0.6 && r.added_p99_ms < 2 : r.ratio >= 0.6,
        errors: r.errors, server_cpu_us_per_request: r.gateway_cpu_us_per_request,
        note: `added p99 ${r.added_p99_ms.toFixed(1)} ms${runCount > 1 ? `; median of ${runCount} runs, ratio ${s.ratio.min.toFixed(2)}–${s.ratio.max.toFixed(2)}` : ''}`,
      };
    });
    const file = saveResult('gateway', {
      benchmark: 'gateway',
      command: `npx tsx bench/gateway.ts ${scale} ${runCount}`,
      scale,
      target: { concurrency: 16, min_ratio: 0.6, max_added_p99_ms: 2 },
      runs,
      spread,
      attribution_spread: attributionSpread,
      summary_rows: summaryRows,
    });
    console.log(`saved ${file}`);
    if (runs.some((run) => run.rows.some((r) => r.errors > 0) || run.attribution.some((p) => p.errors > 0))) process.exitCode = 1;
  } finally {
    await Promise.all([servers.postgres, servers.stubbed, servers.gateway, servers.upstream].map((c) => stopChild(c)));
    await schema?.drop().catch((err: unknown) => console.log(`could not drop the PostgreSQL schema: ${(err as Error).message}`));
  }
}

// Dispatch last: main() uses the module-level constants above.
if (role === '--upstream') {
  const { startDemoFhirServer } = await import('../src/fhir-demo/index.js');
  const server = await startDemoFhirServer({ port: 0 });
  process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);
} else if (role === '--gateway') {
  // The storage URL comes through the environment, not argv: it may hold a password.
  await serveGateway(process.argv[3]!, process.argv.includes('--no-ledger'), process.env.CADUCEUS_BENCH_STORAGE);
} else {
  await main();
}
