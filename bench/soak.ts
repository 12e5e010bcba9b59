// Memory soak (docs/performance.md "Targets for tokens and memory": memory flat over a 10-minute
// soak, no growth beyond 10%): steady load at moderate concurrency against one Caduceus server
// process (bench/server.ts, SQLite unless --storage is given), sampling its resident memory (VmRSS
// from /proc) and its V8 heap (from the server, over IPC) every few seconds. The first 10% of the
// time is warm-up; the verdict compares the mean RSS of the last 10% with that of the 10% right
// after warm-up. Loopback only.
//
//   npx tsx bench/soak.ts [seconds=600] [concurrency=8] [--storage URL]
//   npm run bench -- --soak                        (runs it after the other benchmarks)
//
// Each worker loops over the four operations the token benchmarks time, so every code path that
// could keep state per request is exercised: client_credentials, introspection of that token,
// one rotation of the worker's refresh-token chain, and an authorization_code exchange (codes
// minted in the server by its own code issuance, in batches, as the queue runs low). Saves
// bench/results/soak.json with every sample.
//
// --faults (docs/deployment.md "During a database failover"): the same soak on PostgreSQL (a fresh
// schema at CADUCEUS_TEST_DATABASE_URL unless --storage is given) through a TCP fault proxy of the
// bench's own, with a database fault every --fault-every seconds (default 60), held for 5 s and
// healed, in turn: connections reset, closed, blackholed (a partition), slowed by 500 ms, and the
// server's own sessions ended with pg_terminate_backend. Every answer is counted by kind (status
// and error code, timeouts, connection errors), inside a fault window (the fault and 10 s after its
// heal) or outside. The verdict adds: no 500, no request past its 20 s deadline, no error outside
// the fault windows, and the server process alive at the end. Saves bench/results/soak-faults.json.
//
//   npx tsx bench/soak.ts 600 8 --faults          npm run bench -- --soak-faults
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { basic, FORM, fmt, form, formatTable, mb, procStatusBytes, saveResult, startBenchServer, type SummaryRow } from './lib.js';
import { startDatabaseFaults } from './soak-faults.js';

const VALUE_FLAGS = new Set(['--storage', '--fault-every']);
const positional = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && !VALUE_FLAGS.has(all[i - 1]!));
const seconds = Number(positional[0] ?? 600);
const concurrency = Number(positional[1] ?? 8);
const flagValue = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const withFaults = process.argv.includes('--faults');
const faultEverySeconds = Number(flagValue('--fault-every') ?? 60);
const faults = withFaults ? await startDatabaseFaults(flagValue('--storage'), faultEverySeconds) : undefined;
const storage = faults?.storage ?? flagValue('--storage');
const SAMPLE_MS = seconds >= 120 ? 5000 : 1000;
const LIMIT = 0.1;

interface Sample {
  t_s: number;
  rss_mb: number;
  heap_used_mb: number;
  heap_total_mb: number;
  external_mb: number;
  requests: number;
}

const server = await startBenchServer({ nodeArgs: ['--expose-gc'], ...(storage ? { storage } : {}) });
const { info } = server;
// Every request has a deadline, so a hung one shows as a timeout rather than a stalled worker.
const REQUEST_DEADLINE_MS = 20_000;
const pool = new Pool(info.issuer, { connections: concurrency, connect: { ca: info.ca }, headersTimeout: REQUEST_DEADLINE_MS, bodyTimeout: REQUEST_DEADLINE_MS });
const ccAuth = basic(info.cc_client_id, info.cc_client_secret);
const appAuth = basic(info.client_id, info.client_secret);

/** Answers by kind ("200", "503 temporarily_unavailable", "timeout", …), inside and outside fault windows. */
const kinds = { inFault: new Map<string, number>(), outside: new Map<string, number>() };
function countKind(kind: string): void {
  const map = faults?.inWindow() ? kinds.inFault : kinds.outside;
  map.set(kind, (map.get(kind) ?? 0) + 1);
}

async function post(authorization: string, path: string, params: Record<string, string>): Promise<{ status: number; json: Record<string, unknown> }> {
  let res;
  try {
    res = await pool.request({ path, method: 'POST', headers: { authorization, 'content-type': FORM }, body: form(params) });
  } catch (err) {
    const code = (err as { code?: string }).code ?? 'unknown';
    countKind(/TIMEOUT/.test(code) ? 'timeout' : `connection error ${code}`);
    return { status: 0, json: {} };
  }
  const text = await res.body.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch { /* counted as an error below */ }
  countKind(res.statusCode === 200 ? '200' : `${res.statusCode} ${typeof json.error === 'string' ? json.error : ''}`.trim());
  return { status: res.statusCode, json };
}

// Authorization codes live 60 s: keep a small queue, refilled when it runs low.
const codes: Array<{ code: string; verifier: string }> = [];
let refilling: Promise<void> | undefined;
async function nextCode(): Promise<{ code: string; verifier: string }> {
  while (!codes.length) {
    refilling ??= server.mintCodes(Math.max(50, concurrency * 10)).then((batch) => { codes.push(...batch); }).finally(() => { refilling = undefined; });
    await refilling;
    // Nothing minted (the database down, with --faults): wait a little before asking again.
    if (!codes.length) await new Promise((r) => setTimeout(r, 250));
  }
  if (codes.length < concurrency * 3 && !refilling) {
    refilling = server.mintCodes(Math.max(50, concurrency * 10)).then((batch) => { codes.push(...batch); }).finally(() => { refilling = undefined; });
  }
  return codes.shift()!;
}

const exchange = async (c: { code: string; verifier: string }) => post(appAuth, '/token', {
  grant_type: 'authorization_code', code: c.code, code_verifier: c.verifier, redirect_uri: info.redirect_uri,
});

const counts = { client_credentials: 0, introspection: 0, refresh_token: 0, authorization_code: 0, errors: 0 };
let requests = 0;
let stop = false;

async function worker(): Promise<void> {
  let refreshToken: string | undefined;
  const ok = (cond: boolean) => { requests += 1; if (!cond) counts.errors += 1; return cond; };
  while (!stop) {
    const cc = await post(ccAuth, '/token', { grant_type: 'client_credentials', scope: info.cc_scope, resource: info.resource });
    if (ok(cc.status === 200)) counts.client_credentials += 1;
    if (typeof cc.json.access_token === 'string') {
      const intro = await post(ccAuth, '/introspect', { token: cc.json.access_token, token_type_hint: 'access_token' });
      if (ok(intro.status === 200 && intro.json.active === true)) counts.introspection += 1;
    }
    if (refreshToken) {
      const r = await post(appAuth, '/token', { grant_type: 'refresh_token', refresh_token: refreshToken });
      if (ok(r.status === 200 && typeof r.json.refresh_token === 'string')) counts.refresh_token += 1;
      refreshToken = typeof r.json.refresh_token === 'string' ? r.json.refresh_token : undefined;
    }
    const code = await exchange(await nextCode());
    if (ok(code.status === 200)) counts.authorization_code += 1;
    // A chain that broke (an error) starts again from this exchange's refresh token.
    if (!refreshToken && typeof code.json.refresh_token === 'string') refreshToken = code.json.refresh_token;
  }
}

const samples: Sample[] = [];
const start = performance.now();
async function sample(): Promise<void> {
  const m = await server.memory(false);
  samples.push({
    t_s: Math.round((performance.now() - start) / 100) / 10,
    rss_mb: mb(procStatusBytes(server.child.pid, 'VmRSS') ?? m.rss)!,
    heap_used_mb: mb(m.heapUsed)!, heap_total_mb: mb(m.heapTotal)!, external_mb: mb(m.external)!, requests,
  });
}

console.error(`soak: ${seconds} s, concurrency ${concurrency}, sampling every ${SAMPLE_MS / 1000} s`);
const workers = Array.from({ length: concurrency }, worker);
await sample();
const warmupMs = seconds * 100; // 10%
const timer = setInterval(() => {
  void sample().then(() => {
    const last = samples.at(-1)!;
    if (samples.length % Math.max(1, Math.round(60_000 / SAMPLE_MS)) === 0) console.error(`  t=${last.t_s}s rss=${last.rss_mb} MB heapUsed=${last.heap_used_mb} MB requests=${requests} errors=${counts.errors}`);
  });
}, SAMPLE_MS);
await new Promise((r) => setTimeout(r, warmupMs));
const heapAfterWarmupGc = mb((await server.memory(true)).heapUsed);
await new Promise((r) => setTimeout(r, seconds * 1000 - warmupMs));
stop = true;
clearInterval(timer);
await Promise.all(workers);
const elapsed = (performance.now() - start) / 1000;
await sample();
const faultReport = await faults?.stop(server.child);
const heapEndGc = mb((await server.memory(true)).heapUsed);
const peakRss = mb(server.peakRss());
await pool.close();
await server.stop();
await faults?.close();

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const window = (from: number, to: number) => samples.filter((s) => s.t_s >= from * seconds && s.t_s <= to * seconds);
const startWindow = window(0.1, 0.2);
const endWindow = window(0.9, 1.01);
const rssStart = mean(startWindow.map((s) => s.rss_mb));
const rssEnd = mean(endWindow.map((s) => s.rss_mb));
const heapStart = mean(startWindow.map((s) => s.heap_used_mb));
const heapEnd = mean(endWindow.map((s) => s.heap_used_mb));
const rssGrowth = rssEnd / rssStart - 1;
const afterWarmup = samples.filter((s) => s.t_s >= 0.1 * seconds);
const rssMaxAfterWarmup = Math.max(...afterWarmup.map((s) => s.rss_mb));
const faultProblems = faultReport ? [
  ...[...kinds.inFault.keys(), ...kinds.outside.keys()].filter((k) => k.startsWith('500') || k === 'timeout').map((k) => `${k} answers`),
  ...[...kinds.outside.keys()].filter((k) => k !== '200').map((k) => `${k} outside a fault window`),
  ...(faultReport.alive ? [] : ['the server process exited']),
] : [];
const passed = rssGrowth <= LIMIT && faultProblems.length === 0;

console.log(`\nMemory soak: ${fmt(elapsed)} s, concurrency ${concurrency}, ${requests} requests (${fmt(requests / elapsed)} req/s), ${counts.errors} errors`);
console.log(`  operations: ${Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ')}\n`);
console.log(formatTable(['measure', 'after warm-up (10-20%)', 'end (90-100%)', 'growth'], [
  ['RSS MB (mean of window)', fmt(rssStart, 1), fmt(rssEnd, 1), `${fmt(rssGrowth * 100, 1)}%`],
  ['V8 heapUsed MB (mean of window)', fmt(heapStart, 1), fmt(heapEnd, 1), `${fmt((heapEnd / heapStart - 1) * 100, 1)}%`],
  ['V8 heapUsed MB after a full GC', fmt(heapAfterWarmupGc, 1), fmt(heapEndGc, 1), `${fmt(((heapEndGc ?? 0) / (heapAfterWarmupGc ?? 1) - 1) * 100, 1)}%`],
  ['RSS MB, max after warm-up / peak (VmHWM)', fmt(rssMaxAfterWarmup, 1), fmt(peakRss, 1), ''],
]));
if (faultReport) {
  console.log(`\nDatabase faults injected (every ${faultEverySeconds} s, held ${faultReport.holdSeconds} s): ${faultReport.injected.map((f) => `${f.kind} at ${f.at_s} s`).join(', ')}`);
  const all = new Set([...kinds.inFault.keys(), ...kinds.outside.keys()]);
  console.log(formatTable(['answer', 'in a fault window', 'outside'], [...all].sort().map((k) => [k, String(kinds.inFault.get(k) ?? 0), String(kinds.outside.get(k) ?? 0)])));
  console.log(`server process alive at the end: ${faultReport.alive ? 'yes' : 'NO'}`);
  if (faultProblems.length) console.log(`fault verdict: FAIL (${faultProblems.join('; ')})`);
}
console.log(`\nRSS growth ${fmt(rssGrowth * 100, 1)}% (limit ${LIMIT * 100}%): ${passed ? 'PASS' : 'FAIL'}`);

const summary: SummaryRow[] = [{
  benchmark: faultReport ? 'memory soak with a database fault every minute' : 'memory soak (mixed token load)',
  variant: `${faultReport ? 'postgres through a fault proxy' : storage ? 'storage from --storage' : 'sqlite'}, c=${concurrency}, ${fmt(elapsed)} s`,
  throughput: requests / elapsed, unit: 'req/s', p50_ms: null, p99_ms: null, peak_rss_mb: peakRss ?? null,
  ceiling_name: 'RSS after warm-up (MB)', ceiling: rssStart, ratio: rssEnd / rssStart, target: `RSS growth ≤ ${LIMIT * 100}%`, met: passed, errors: counts.errors,
  note: `RSS ${fmt(rssStart, 1)} → ${fmt(rssEnd, 1)} MB; heap after GC ${fmt(heapAfterWarmupGc, 1)} → ${fmt(heapEndGc, 1)} MB${faultProblems.length ? `; faults: ${faultProblems.join('; ')}` : ''}`,
}];
const file = saveResult(faultReport ? (seconds >= 600 ? 'soak-faults' : 'soak-faults-short') : seconds >= 600 ? 'soak' : 'soak-short', {
  benchmark: faultReport ? 'memory soak with database faults' : 'memory soak', seconds: elapsed, concurrency, storage: storage ? (faultReport ? 'postgres through a fault proxy' : 'custom') : 'sqlite', requests, counts,
  ...(faultReport ? {
    faults: faultReport.injected, fault_every_s: faultEverySeconds, fault_hold_s: faultReport.holdSeconds, server_alive: faultReport.alive,
    answers_in_fault_windows: Object.fromEntries(kinds.inFault), answers_outside: Object.fromEntries(kinds.outside), fault_problems: faultProblems,
  } : {}),
  rss_start_mb: rssStart, rss_end_mb: rssEnd, rss_growth: rssGrowth, rss_max_after_warmup_mb: rssMaxAfterWarmup, peak_rss_mb: peakRss,
  heap_used_start_mb: heapStart, heap_used_end_mb: heapEnd, heap_after_gc_start_mb: heapAfterWarmupGc, heap_after_gc_end_mb: heapEndGc,
  limit: LIMIT, passed, summary_rows: summary, samples,
});
console.log(`saved ${file}`);
// With faults, errors inside fault windows are expected (503s); the verdict above judges them.
if (!passed || (counts.errors && !faultReport)) process.exitCode = 1;
