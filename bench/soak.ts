// Memory soak (issue 7: "memory flat over a 10-minute soak, no growth beyond 10%"): steady load
// at moderate concurrency against one Caduceus server process (bench/server.ts, SQLite unless
// --storage is given), sampling its resident memory (VmRSS from /proc) and its V8 heap (from the
// server, over IPC) every few seconds. The first 10% of the time is warm-up; the verdict compares
// the mean RSS of the last 10% with that of the 10% right after warm-up. Loopback only.
//
//   npx tsx bench/soak.ts [seconds=600] [concurrency=8] [--storage URL]
//   npm run bench -- --soak                        (runs it after the other benchmarks)
//
// Each worker loops over the four operations the token benchmarks time, so every code path that
// could keep state per request is exercised: client_credentials, introspection of that token,
// one rotation of the worker's refresh-token chain, and an authorization_code exchange (codes
// minted in the server by its own code issuance, in batches, as the queue runs low). Saves
// bench/results/soak.json with every sample.
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { basic, FORM, fmt, form, formatTable, mb, procStatusBytes, saveResult, startBenchServer, type SummaryRow } from './lib.js';

const positional = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && all[i - 1] !== '--storage');
const seconds = Number(positional[0] ?? 600);
const concurrency = Number(positional[1] ?? 8);
const storageFlag = process.argv.indexOf('--storage');
const storage = storageFlag > 0 ? process.argv[storageFlag + 1] : undefined;
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
const pool = new Pool(info.issuer, { connections: concurrency, connect: { ca: info.ca } });
const ccAuth = basic(info.cc_client_id, info.cc_client_secret);
const appAuth = basic(info.client_id, info.client_secret);

async function post(authorization: string, path: string, params: Record<string, string>): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await pool.request({ path, method: 'POST', headers: { authorization, 'content-type': FORM }, body: form(params) });
  const text = await res.body.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch { /* counted as an error below */ }
  return { status: res.statusCode, json };
}

// Authorization codes live 60 s: keep a small queue, refilled when it runs low.
const codes: Array<{ code: string; verifier: string }> = [];
let refilling: Promise<void> | undefined;
async function nextCode(): Promise<{ code: string; verifier: string }> {
  while (!codes.length) {
    refilling ??= server.mintCodes(Math.max(50, concurrency * 10)).then((batch) => { codes.push(...batch); }).finally(() => { refilling = undefined; });
    await refilling;
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
const heapEndGc = mb((await server.memory(true)).heapUsed);
const peakRss = mb(server.peakRss());
await pool.close();
await server.stop();

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
const passed = rssGrowth <= LIMIT;

console.log(`\nMemory soak: ${fmt(elapsed)} s, concurrency ${concurrency}, ${requests} requests (${fmt(requests / elapsed)} req/s), ${counts.errors} errors`);
console.log(`  operations: ${Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ')}\n`);
console.log(formatTable(['measure', 'after warm-up (10-20%)', 'end (90-100%)', 'growth'], [
  ['RSS MB (mean of window)', fmt(rssStart, 1), fmt(rssEnd, 1), `${fmt(rssGrowth * 100, 1)}%`],
  ['V8 heapUsed MB (mean of window)', fmt(heapStart, 1), fmt(heapEnd, 1), `${fmt((heapEnd / heapStart - 1) * 100, 1)}%`],
  ['V8 heapUsed MB after a full GC', fmt(heapAfterWarmupGc, 1), fmt(heapEndGc, 1), `${fmt(((heapEndGc ?? 0) / (heapAfterWarmupGc ?? 1) - 1) * 100, 1)}%`],
  ['RSS MB, max after warm-up / peak (VmHWM)', fmt(rssMaxAfterWarmup, 1), fmt(peakRss, 1), ''],
]));
console.log(`\nRSS growth ${fmt(rssGrowth * 100, 1)}% (limit ${LIMIT * 100}%): ${passed ? 'PASS' : 'FAIL'}`);

const summary: SummaryRow[] = [{
  benchmark: 'memory soak (mixed token load)', variant: `${storage ? 'storage from --storage' : 'sqlite'}, c=${concurrency}, ${fmt(elapsed)} s`,
  throughput: requests / elapsed, unit: 'req/s', p50_ms: null, p99_ms: null, peak_rss_mb: peakRss ?? null,
  ceiling_name: 'RSS after warm-up (MB)', ceiling: rssStart, ratio: rssEnd / rssStart, target: `RSS growth ≤ ${LIMIT * 100}%`, met: passed, errors: counts.errors,
  note: `RSS ${fmt(rssStart, 1)} → ${fmt(rssEnd, 1)} MB; heap after GC ${fmt(heapAfterWarmupGc, 1)} → ${fmt(heapEndGc, 1)} MB`,
}];
const file = saveResult(seconds >= 600 ? 'soak' : 'soak-short', {
  benchmark: 'memory soak', seconds: elapsed, concurrency, storage: storage ? 'custom' : 'sqlite', requests, counts,
  rss_start_mb: rssStart, rss_end_mb: rssEnd, rss_growth: rssGrowth, rss_max_after_warmup_mb: rssMaxAfterWarmup, peak_rss_mb: peakRss,
  heap_used_start_mb: heapStart, heap_used_end_mb: heapEnd, heap_after_gc_start_mb: heapAfterWarmupGc, heap_after_gc_end_mb: heapEndGc,
  limit: LIMIT, passed, summary_rows: summary, samples,
});
console.log(`saved ${file}`);
if (!passed || counts.errors) process.exitCode = 1;
