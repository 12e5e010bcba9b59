// Token endpoint and introspection throughput through the real server (TLS, client
// authentication, durable storage, one durable audit-ledger event per issued token), on SQLite and
// on PostgreSQL, each figure with the server's peak RSS during it and a ratio to a ceiling
// measured in the same run. Loopback only; bounded request counts.
//
//   npx tsx bench/tokens.ts [requests=3000] [concurrency=16] [--db sqlite,postgres]
//
// benchmark            request (timed phase)                              ceiling
// client_credentials   POST /token, client_secret_basic, scope, resource  jose SignJWT ES256 loop
// authorization_code   POST /token, code + PKCE verifier + redirect_uri,   jose SignJWT ES256 loop
//                      client_secret_basic; codes pre-minted (untimed) in
//                      the server by its own code issuance, 1000 at a
//                      time (they live 60 s); the answer holds
//                      an access token, an ID token and a refresh token
// refresh_token        POST /token, one rotation chain per worker, each    jose SignJWT ES256 loop
//                      refresh token used once
// introspection        POST /introspect of a JWT access token, client      jose jwtVerify loop of the
//                      authentication; checks the answer is active          same token
// transport            GET /healthz (no work): TLS + HTTP + the load        -
//                      generator on the same cores
//
// The jose loops run in this process while the server idles: one core, no HTTP, no storage.
// PostgreSQL: CADUCEUS_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test), a
// throwaway schema per run; skipped with a note when unreachable. Saves bench/results/tokens.json.
import { postgresAdapter, type TestDatabase } from '../test/storage/databases.js';
import {
  basic, cpuSeconds, FORM, fmt, form, formatTable, joseSignCeiling, joseVerifyCeiling, load, mb, mergeLoads, saveResult, startBenchServer,
  type BenchServer, type Ceiling, type LoadRequest, type LoadResult, type SummaryRow,
} from './lib.js';

const positional = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && all[i - 1] !== '--db');
const total = Number(positional[0] ?? 3000);
const concurrency = Number(positional[1] ?? 16);
const dbFlag = process.argv.indexOf('--db');
const databases = (dbFlag > 0 ? process.argv[dbFlag + 1]! : 'sqlite,postgres').split(',') as Array<'sqlite' | 'postgres'>;
/**
 * Codes live 60 s (FAPI 2.0): the timed phase is done in parts of this many codes, each minted
 * (untimed) right before its part, so none expires even on a slow, busy machine.
 */
const CODES_PER_PART = 1000;
const ISSUANCE_TARGET = 0.5;

type Measured = LoadResult & { peak_rss_bytes?: number; server_cpu_us_per_request?: number };

interface VariantResult {
  database: string;
  sign_ceiling: Ceiling;
  verify_ceiling: Ceiling;
  codes_minted_per_s: number;
  transport: Measured;
  client_credentials: Measured;
  authorization_code: Measured;
  refresh_token: Measured;
  introspection: Measured;
}

async function measure(server: BenchServer, run: () => Promise<LoadResult>): Promise<Measured> {
  return measureParts(server, [{ run }]);
}

/**
 * A timed phase done in parts, each after its own untimed preparation: the parts' results are
 * merged, and the server's CPU is counted during the timed parts only. The peak RSS covers the
 * whole phase, preparations included.
 */
async function measureParts(server: BenchServer, parts: Array<{ prepare?: () => Promise<void>; run: () => Promise<LoadResult> }>): Promise<Measured> {
  await server.resetPeak();
  const results: LoadResult[] = [];
  let cpu: number | undefined = 0;
  for (const part of parts) {
    await part.prepare?.();
    const cpu0 = cpuSeconds(server.child.pid);
    results.push(await part.run());
    const cpu1 = cpuSeconds(server.child.pid);
    cpu = cpu === undefined || cpu0 === undefined || cpu1 === undefined ? undefined : cpu + cpu1 - cpu0;
  }
  const result = results.length === 1 ? results[0]! : mergeLoads(results);
  delete result.latencies;
  return {
    ...result, peak_rss_bytes: server.peakRss(),
    ...(cpu !== undefined ? { server_cpu_us_per_request: (cpu * 1e6) / result.requests } : {}),
  };
}

async function runVariant(database: 'sqlite' | 'postgres'): Promise<VariantResult | undefined> {
  let pg: TestDatabase | undefined;
  if (database === 'postgres') {
    try {
      pg = await postgresAdapter.open();
    } catch (err) {
      console.log(`PostgreSQL unreachable (${(err as Error).message}): the postgres variant is skipped.`);
      return undefined;
    }
  }
  const server = await startBenchServer(pg ? { storage: pg.url } : {});
  try {
    const { info } = server;
    const origin = info.issuer;
    const ca = info.ca;
    const ccAuth = basic(info.cc_client_id, info.cc_client_secret);
    const appAuth = basic(info.client_id, info.client_secret);
    const post = (authorization: string, path: string, params: Record<string, string>): LoadRequest => ({
      path, method: 'POST', headers: { authorization, 'content-type': FORM }, body: form(params),
    });
    const ccBody = { grant_type: 'client_credentials', scope: info.cc_scope, resource: info.resource };
    const clientCredentials = () => post(ccAuth, '/token', ccBody);
    const codeExchange = (c: { code: string; verifier: string }) => post(appAuth, '/token', {
      grant_type: 'authorization_code', code: c.code, code_verifier: c.verifier, redirect_uri: info.redirect_uri,
    });
    const step = (label: string) => console.error(`  ${database}: ${label}`);

    step('warm-up and ceilings');
    await load(origin, ca, 500, concurrency, clientCredentials);
    const signCeiling = await joseSignCeiling(3000, 3, { issuer: origin, audience: info.resource, clientId: info.cc_client_id, scope: info.cc_scope });

    step('transport ceiling, GET /healthz');
    const transport = await measure(server, () => load(origin, ca, total, concurrency, () => ({ path: '/healthz', method: 'GET', headers: {} })));

    step('client_credentials');
    const cc = await measure(server, () => load(origin, ca, total, concurrency, clientCredentials));

    step('authorization_code (minting codes in the server first)');
    const warmCodes = await server.mintCodes(300);
    let w = 0;
    await load(origin, ca, warmCodes.length, concurrency, () => codeExchange(warmCodes[w++]!));
    let mintSeconds = 0;
    const parts = Array.from({ length: Math.ceil(total / CODES_PER_PART) }, (_, i) => {
      const size = Math.min(CODES_PER_PART, total - i * CODES_PER_PART);
      let codes: Array<{ code: string; verifier: string }> = [];
      let k = 0;
      return {
        prepare: async () => {
          const t0 = performance.now();
          codes = await server.mintCodes(size);
          mintSeconds += (performance.now() - t0) / 1000;
        },
        run: () => load(origin, ca, size, concurrency, () => codeExchange(codes[k++]!), undefined, { keepLatencies: true }),
      };
    });
    const authorizationCode = await measureParts(server, parts);
    const mintRate = total / mintSeconds;

    step('refresh_token rotation');
    // One chain per worker, each started by a real code exchange; every answer's refresh token is
    // the worker's next request.
    const seedCodes = await server.mintCodes(concurrency);
    const seeds: string[] = [];
    let s = 0;
    await load(origin, ca, seedCodes.length, concurrency, () => codeExchange(seedCodes[s++]!), undefined, {
      onResponse: (_w, status, body) => {
        if (status === 200) seeds.push((JSON.parse(body) as { refresh_token: string }).refresh_token);
      },
    });
    if (seeds.length !== concurrency) throw new Error(`expected ${concurrency} refresh tokens, got ${seeds.length}`);
    const chains = [...seeds];
    const refresh = (worker: number) => post(appAuth, '/token', { grant_type: 'refresh_token', refresh_token: chains[worker]! });
    const rotate = {
      onResponse: (worker: number, status: number, body: string) => {
        if (status !== 200) return false;
        const rt = (JSON.parse(body) as { refresh_token?: string }).refresh_token;
        if (!rt) return false;
        chains[worker] = rt;
        return true;
      },
    };
    await load(origin, ca, 300, concurrency, refresh, undefined, rotate);
    const refreshToken = await measure(server, () => load(origin, ca, total, concurrency, refresh, undefined, rotate));

    step('introspection');
    let token = '';
    await load(origin, ca, 1, 1, clientCredentials, undefined, {
      onResponse: (_w, _s, body) => { token = (JSON.parse(body) as { access_token: string }).access_token; },
    });
    const verifyCeiling = await joseVerifyCeiling(token, info.jwks, origin);
    const introspect = () => post(ccAuth, '/introspect', { token, token_type_hint: 'access_token' });
    const active = { onResponse: (_w: number, status: number, body: string) => status === 200 && body.includes('"active":true') };
    await load(origin, ca, 300, concurrency, introspect, undefined, active);
    const introspection = await measure(server, () => load(origin, ca, total, concurrency, introspect, undefined, active));

    return {
      database, sign_ceiling: signCeiling, verify_ceiling: verifyCeiling, codes_minted_per_s: mintRate,
      transport, client_credentials: cc, authorization_code: authorizationCode, refresh_token: refreshToken, introspection,
    };
  } finally {
    await server.stop();
    await pg?.cleanup();
  }
}

function rows(v: VariantResult): SummaryRow[] {
  const row = (benchmark: string, m: Measured, ceiling: Ceiling | undefined, target?: number, note?: string): SummaryRow => {
    const ratio = ceiling ? m.rps / ceiling.ops_per_s : null;
    return {
      benchmark, variant: `${v.database}, c=${concurrency}`, throughput: m.rps, unit: 'req/s', p50_ms: m.p50, p99_ms: m.p99,
      peak_rss_mb: mb(m.peak_rss_bytes) ?? null, ceiling_name: ceiling?.what ?? null, ceiling: ceiling?.ops_per_s ?? null, ratio,
      target: target === undefined ? null : `≥ ${target.toFixed(2)} of ceiling`, met: target === undefined || ratio === null ? null : ratio >= target,
      errors: m.errors, server_cpu_us_per_request: m.server_cpu_us_per_request ?? null, ...(note ? { note } : {}),
    };
  };
  return [
    row('token: client_credentials', v.client_credentials, v.sign_ceiling, ISSUANCE_TARGET),
    row('token: authorization_code', v.authorization_code, v.sign_ceiling, ISSUANCE_TARGET, 'signs an access token and an ID token, stores a refresh token'),
    row('token: refresh_token rotation', v.refresh_token, v.sign_ceiling),
    row('introspection (JWT access token)', v.introspection, v.verify_ceiling),
    row('transport: GET /healthz', v.transport, undefined, undefined, 'TLS + HTTP only: the practical ceiling of any endpoint here'),
  ];
}

const results: VariantResult[] = [];
for (const database of databases) {
  const r = await runVariant(database);
  if (r) results.push(r);
}
const summary = results.flatMap(rows);
console.log(`\nToken endpoint and introspection, ${total} requests per figure, concurrency ${concurrency} (loopback, TLS)\n`);
console.log(formatTable(
  ['benchmark', 'variant', 'req/s', 'p50 ms', 'p99 ms', 'peak RSS MB', 'server CPU µs/req', 'ceiling ops/s', 'ratio', 'errors'],
  summary.map((r) => [r.benchmark, r.variant, fmt(r.throughput), fmt(r.p50_ms, 2), fmt(r.p99_ms, 2), fmt(r.peak_rss_mb, 1), fmt(r.server_cpu_us_per_request), fmt(r.ceiling), fmt(r.ratio, 2), String(r.errors ?? 0)]),
));
for (const r of results) console.log(`${r.database}: authorization codes minted in the server at ${fmt(r.codes_minted_per_s)}/s (untimed preparation)`);
const file = saveResult('tokens', { benchmark: 'token endpoint and introspection', requests: total, concurrency, variants: results, summary_rows: summary });
console.log(`saved ${file}`);
if (summary.some((r) => (r.errors ?? 0) > 0)) process.exitCode = 1;
