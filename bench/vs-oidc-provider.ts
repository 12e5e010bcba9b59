// Caduceus and node-oidc-provider 9 side by side: client_credentials token issuance, measured by
// the same load generator (lib.ts load()) in the same run, with the same request (client_secret_basic,
// scope, resource indicator) and the same kind of answer (an ES256 `at+jwt` access token for the
// same audience, 300 s). Rounds alternate between the two servers so background load hits both
// alike; the median round is reported. Loopback only; bounded request counts.
//
//   npx tsx bench/vs-oidc-provider.ts [requests per round=3000] [concurrency=16] [rounds=3]
//
// Caduceus: bench/server.ts (SQLite, every token's `token.issued` event durable in the audit ledger
// before the answer, one JSON log line per request). oidc-provider: bench/oidc-provider-server.ts
// (its default in-memory adapter; a JWT client_credentials token is not stored; no audit trail; no
// request log). Target (docs/performance.md "Targets for tokens and memory"): Caduceus ≥ 2×
// oidc-provider. A third server, Caduceus with the ledger stubbed out (attribution only, never a
// deployment option), shows how much of the difference is the durable write. Saves
// bench/results/vs-oidc-provider.json.
import {
  basic, cpuSeconds, FORM, fmt, form, formatTable, joseSignCeiling, load, mb, procStatusBytes, saveResult, startBenchServer, startIpcChild,
  type LoadResult, type SummaryRow,
} from './lib.js';
import { fileURLToPath } from 'node:url';

const total = Number(process.argv[2] ?? 3000);
const concurrency = Number(process.argv[3] ?? 16);
const rounds = Number(process.argv[4] ?? 3);
const TARGET = 2;

interface Side {
  name: string;
  origin: string;
  ca: string;
  body: string;
  authorization: string;
  pid: number | undefined;
  resetPeak(): Promise<void>;
  peak(): number | undefined;
}

interface OidcProviderInfo {
  issuer: string;
  ca: string;
  resource: string;
  scope: string;
  cc_client_id: string;
  cc_client_secret: string;
}

type Round = LoadResult & { peak_rss_bytes?: number; server_cpu_us_per_request?: number };

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

const caduceus = await startBenchServer();
const stubbed = await startBenchServer({ stubLedger: true });
const provider = await startIpcChild<OidcProviderInfo>(fileURLToPath(new URL('./oidc-provider-server.ts', import.meta.url)), [], { env: { NODE_ENV: 'production' } });
try {
  const sides: Side[] = [
    {
      name: 'Caduceus', origin: caduceus.info.issuer, ca: caduceus.info.ca,
      body: form({ grant_type: 'client_credentials', scope: caduceus.info.cc_scope, resource: caduceus.info.resource }),
      authorization: basic(caduceus.info.cc_client_id, caduceus.info.cc_client_secret),
      pid: caduceus.child.pid, resetPeak: () => caduceus.resetPeak(), peak: () => caduceus.peakRss(),
    },
    {
      name: 'Caduceus, ledger stubbed', origin: stubbed.info.issuer, ca: stubbed.info.ca,
      body: form({ grant_type: 'client_credentials', scope: stubbed.info.cc_scope, resource: stubbed.info.resource }),
      authorization: basic(stubbed.info.cc_client_id, stubbed.info.cc_client_secret),
      pid: stubbed.child.pid, resetPeak: () => stubbed.resetPeak(), peak: () => stubbed.peakRss(),
    },
    {
      name: 'oidc-provider', origin: provider.info.issuer, ca: provider.info.ca,
      body: form({ grant_type: 'client_credentials', scope: provider.info.scope, resource: provider.info.resource }),
      authorization: basic(provider.info.cc_client_id, provider.info.cc_client_secret),
      pid: provider.child.pid, resetPeak: () => provider.call('reset-peak'), peak: () => procStatusBytes(provider.child.pid, 'VmHWM'),
    },
  ];
  const run = async (side: Side, n: number): Promise<Round> => {
    await side.resetPeak();
    const cpu0 = cpuSeconds(side.pid);
    const r = await load(side.origin, side.ca, n, concurrency, () => ({
      path: '/token', method: 'POST', headers: { authorization: side.authorization, 'content-type': FORM }, body: side.body,
    }));
    const cpu1 = cpuSeconds(side.pid);
    return { ...r, peak_rss_bytes: side.peak(), ...(cpu0 !== undefined && cpu1 !== undefined ? { server_cpu_us_per_request: ((cpu1 - cpu0) * 1e6) / n } : {}) };
  };
  for (const side of sides) await run(side, 500); // warm-up: JIT, pools, key caches
  const ceiling = await joseSignCeiling(3000, 3, { issuer: caduceus.info.issuer, audience: caduceus.info.resource, clientId: caduceus.info.cc_client_id, scope: caduceus.info.cc_scope });
  const results = new Map<string, Round[]>(sides.map((s) => [s.name, []]));
  for (let round = 0; round < rounds; round++) {
    // Each round starts with a different server, so none always runs first or last.
    const order = [...sides.slice(round % sides.length), ...sides.slice(0, round % sides.length)];
    for (const side of order) {
      const r = await run(side, total);
      results.get(side.name)!.push(r);
      console.error(`  round ${round + 1}: ${side.name} ${r.rps.toFixed(0)} req/s, p99 ${r.p99.toFixed(1)} ms, errors ${r.errors}`);
    }
  }
  const summarise = (name: string) => {
    const rs = results.get(name)!;
    return {
      name, rounds: rs, rps: median(rs.map((r) => r.rps)), p50: median(rs.map((r) => r.p50)), p99: median(rs.map((r) => r.p99)),
      peak_rss_bytes: Math.max(...rs.map((r) => r.peak_rss_bytes ?? 0)), errors: rs.reduce((a, r) => a + r.errors, 0),
      cpu_us_per_request: median(rs.map((r) => r.server_cpu_us_per_request ?? Number.NaN)),
    };
  };
  const cad = summarise('Caduceus');
  const stub = summarise('Caduceus, ledger stubbed');
  const oidc = summarise('oidc-provider');
  const ratio = cad.rps / oidc.rps;
  const summary: SummaryRow[] = [
    {
      benchmark: 'vs oidc-provider: client_credentials', variant: `Caduceus (SQLite, durable ledger), c=${concurrency}`, throughput: cad.rps, unit: 'req/s',
      p50_ms: cad.p50, p99_ms: cad.p99, peak_rss_mb: mb(cad.peak_rss_bytes) ?? null, ceiling_name: 'oidc-provider 9, same load generator, same run',
      ceiling: oidc.rps, ratio, target: `≥ ${TARGET.toFixed(1)}× oidc-provider`, met: ratio >= TARGET, errors: cad.errors,
      server_cpu_us_per_request: cad.cpu_us_per_request,
    },
    {
      benchmark: 'vs oidc-provider: client_credentials', variant: `oidc-provider 9 (in-memory), c=${concurrency}`, throughput: oidc.rps, unit: 'req/s',
      p50_ms: oidc.p50, p99_ms: oidc.p99, peak_rss_mb: mb(oidc.peak_rss_bytes) ?? null, ceiling_name: ceiling.what, ceiling: ceiling.ops_per_s,
      ratio: oidc.rps / ceiling.ops_per_s, target: null, met: null, errors: oidc.errors, server_cpu_us_per_request: oidc.cpu_us_per_request,
    },
    {
      benchmark: 'vs oidc-provider: client_credentials', variant: `Caduceus, ledger stubbed (attribution only), c=${concurrency}`, throughput: stub.rps,
      unit: 'req/s', p50_ms: stub.p50, p99_ms: stub.p99, peak_rss_mb: mb(stub.peak_rss_bytes) ?? null, ceiling_name: 'oidc-provider 9, same load generator, same run',
      ceiling: oidc.rps, ratio: stub.rps / oidc.rps, target: null, met: null, errors: stub.errors, server_cpu_us_per_request: stub.cpu_us_per_request,
      note: 'not a deployment option: shows what the durable ledger write costs',
    },
  ];
  console.log(`\nclient_credentials, Caduceus vs oidc-provider 9, ${rounds} alternating rounds of ${total} requests, concurrency ${concurrency} (median round)\n`);
  console.log(formatTable(
    ['server', 'req/s', 'p50 ms', 'p99 ms', 'peak RSS MB', 'server CPU µs/req', 'rounds req/s', 'errors'],
    [cad, stub, oidc].map((s) => [s.name, fmt(s.rps), fmt(s.p50, 2), fmt(s.p99, 2), fmt(mb(s.peak_rss_bytes), 1), fmt(s.cpu_us_per_request), s.rounds.map((r) => fmt(r.rps)).join(' / '), String(s.errors)]),
  ));
  console.log(`server CPU per request, oidc-provider / Caduceus: ${(oidc.cpu_us_per_request / cad.cpu_us_per_request).toFixed(2)}× (a throughput ratio if CPU were the only limit)`);
  console.log(`Caduceus / oidc-provider: ${ratio.toFixed(2)}× (target ≥ ${TARGET}×: ${ratio >= TARGET ? 'met' : 'NOT met'}); jose signing ceiling ${fmt(ceiling.ops_per_s)} ops/s`);
  const file = saveResult('vs-oidc-provider', {
    benchmark: 'client_credentials, Caduceus vs oidc-provider', requests_per_round: total, concurrency, rounds,
    oidc_provider_version: '9.13.3', jose_sign_ceiling: ceiling, caduceus: cad, caduceus_ledger_stubbed: stub, oidc_provider: oidc, ratio, target: TARGET, summary_rows: summary,
  });
  console.log(`saved ${file}`);
  if (cad.errors || stub.errors || oidc.errors) process.exitCode = 1;
} finally {
  await provider.stop();
  await stubbed.stop();
  await caduceus.stop();
}
