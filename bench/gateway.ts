// PHI gateway overhead (issue 4 "Proof"): requests per second and latency through the gateway
// versus straight to the same upstream, in the same run, at concurrency 1, 16 and 64. Loopback
// only, bounded request counts. Three processes so no side shares an event loop with another:
//
//   load generator (this process) ──http──────────────────────────────▶ demo FHIR server (child)
//   load generator (this process) ──TLS──▶ Caduceus + gateway (child) ──http──▶ the same server
//
// The gateway path does everything it does in production: TLS, JWT verification, revocation
// status (cached), SMART scope and patient-compartment checks, header allow-listing, identity
// headers, response parsing and release checks, and one durable ledger event per request
// (SQLite, group commit). The target in issue 4: ≥ 60% of direct throughput and < 2 ms added p99
// at concurrency 16.
//
//   npx tsx bench/gateway.ts [scale=1]      (scale multiplies the request counts)
//   CADUCEUS_BENCH_PROFILE=/tmp/prof npx tsx bench/gateway.ts   (CPU profile of the gateway process)
//   CADUCEUS_BENCH_VERBOSE=1 …   (show the servers' stderr)
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, load, machine, type LoadResult } from './lib.js';

const role = process.argv[2];

if (role === '--upstream') {
  const { startDemoFhirServer } = await import('../src/fhir-demo/index.js');
  const server = await startDemoFhirServer({ port: 0 });
  process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);
} else if (role === '--gateway') {
  const upstream = process.argv[3]!;
  const { devConfig, seedDemo } = await import('../src/server/dev-stack.js');
  const { createContext } = await import('../src/server/start.js');
  const { buildApp } = await import('../src/http/app.js');
  const { tlsServerOptions } = await import('../src/http/tls.js');
  const { registerGateway } = await import('../src/gateway/index.js');
  const { signJwt } = await import('../src/oauth/tokens/jwt.js');
  const { makeJti } = await import('../src/oauth/tokens/access-token.js');
  const dataDir = mkdtempSync(join(tmpdir(), 'caduceus-bench-gw-'));
  const port = await freePort();
  const { config, caFile } = await devConfig({ dataDir, port, host: '127.0.0.1', issuerHost: '127.0.0.1' });
  config.tokens.access_token_ttl = 900;
  // --no-ledger (attribution only, never a deployment option): the same gateway with a sink that
  // stores nothing, to show how much of the overhead is the durable ledger write.
  const noLedger = process.argv.includes('--no-ledger');
  const ctx = await createContext(config, { env: {}, ...(noLedger ? { wrapAudit: () => ({ record: async () => undefined }) } : {}) });
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
} else {
  await main();
}

function child(args: string[]): Promise<{ proc: ChildProcess; info: Record<string, string> }> {
  const profile = process.env.CADUCEUS_BENCH_PROFILE && args[0] === '--gateway' ? ['--cpu-prof', `--cpu-prof-dir=${process.env.CADUCEUS_BENCH_PROFILE}`] : [];
  // The server's per-request log lines go to /dev/null unless CADUCEUS_BENCH_VERBOSE is set: a
  // synchronous pipe write per request would measure the terminal, not the gateway.
  const stderr = process.env.CADUCEUS_BENCH_VERBOSE ? 'inherit' : 'ignore';
  const proc = spawn(process.execPath, [...process.execArgv, ...profile, fileURLToPath(import.meta.url), ...args], { stdio: ['ignore', 'pipe', stderr] });
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

async function measured(pid: number | undefined, run: () => Promise<LoadResult>): Promise<LoadResult & { cpuUsPerRequest?: number }> {
  const before = cpuSeconds(pid);
  const result = await run();
  const after = cpuSeconds(pid);
  return before === undefined || after === undefined ? result : { ...result, cpuUsPerRequest: ((after - before) * 1e6) / result.requests };
}

async function main(): Promise<void> {
  const scale = Number(process.argv[2] ?? 1);
  const upstream = await child(['--upstream']);
  const gateway = await child(['--gateway', upstream.info.url!]);
  const stubbed = await child(['--gateway', upstream.info.url!, '--no-ledger']);
  try {
    const direct = new URL(upstream.info.url!);
    const via = new URL(gateway.info.url!);
    const ca = gateway.info.ca!;
    const auth = { authorization: `Bearer ${gateway.info.token}`, accept: 'application/fhir+json' };
    const scenarios = [
      { name: 'read Observation', path: '/Observation/obs-1-1' },
      { name: 'search Observation?patient', path: '/Observation?patient=demo-1' },
    ];
    const levels = [
      { concurrency: 1, total: Math.round(1500 * scale) },
      { concurrency: 16, total: Math.round(6000 * scale) },
      { concurrency: 64, total: Math.round(6000 * scale) },
    ];
    const rows: Record<string, string | number>[] = [];
    for (const s of scenarios) {
      const directReq = () => ({ path: `${direct.pathname.replace(/\/$/, '')}${s.path}`, method: 'GET' as const, headers: { accept: 'application/fhir+json' } });
      const gatewayReq = () => ({ path: `${via.pathname}${s.path}`, method: 'GET' as const, headers: auth });
      // Warm-up: JIT, connection pools, key and token-status caches.
      await load(direct.origin, ca, 500, 16, directReq);
      await load(via.origin, ca, 500, 16, gatewayReq);
      for (const { concurrency, total } of levels) {
        const d = await measured(upstream.proc.pid, () => load(direct.origin, ca, total, concurrency, directReq));
        const g = await measured(gateway.proc.pid, () => load(via.origin, ca, total, concurrency, gatewayReq));
        rows.push({
          scenario: s.name, concurrency, requests: total,
          'direct req/s': Math.round(d.rps), 'gateway req/s': Math.round(g.rps), 'throughput ratio': (g.rps / d.rps).toFixed(2),
          'direct p50 ms': d.p50.toFixed(2), 'gateway p50 ms': g.p50.toFixed(2), 'added p50 ms': (g.p50 - d.p50).toFixed(2),
          'direct p99 ms': d.p99.toFixed(2), 'gateway p99 ms': g.p99.toFixed(2), 'added p99 ms': (g.p99 - d.p99).toFixed(2),
          'upstream CPU µs/req': d.cpuUsPerRequest?.toFixed(0) ?? '-', 'gateway CPU µs/req': g.cpuUsPerRequest?.toFixed(0) ?? '-',
          errors: d.errors + g.errors,
        });
      }
    }
    console.log(`PHI gateway vs direct upstream (loopback; ${JSON.stringify(machine())})`);
    console.table(rows);

    // Where the added time goes, at concurrency 16 on the read: TLS + Fastify alone (GET /healthz
    // on the gateway's server), the gateway with the ledger stubbed out, and the real gateway.
    const c = 16;
    const n = Math.round(4000 * scale);
    const read = scenarios[0]!.path;
    const stubVia = new URL(stubbed.info.url!);
    const stubAuth = { authorization: `Bearer ${stubbed.info.token}`, accept: 'application/fhir+json' };
    const stubCa = stubbed.info.ca!;
    await load(stubVia.origin, stubCa, 500, c, () => ({ path: `${stubVia.pathname}${read}`, method: 'GET' as const, headers: stubAuth }));
    const parts: Array<[string, LoadResult & { cpuUsPerRequest?: number }]> = [
      ['direct to upstream (http)', await measured(upstream.proc.pid, () => load(direct.origin, ca, n, c, () => ({ path: read, method: 'GET' as const, headers: {} })))],
      ['TLS + server only (GET /healthz)', await measured(gateway.proc.pid, () => load(via.origin, ca, n, c, () => ({ path: '/healthz', method: 'GET' as const, headers: {} })))],
      ['gateway, ledger stubbed (attribution only)', await measured(stubbed.proc.pid, () => load(stubVia.origin, stubCa, n, c, () => ({ path: `${stubVia.pathname}${read}`, method: 'GET' as const, headers: stubAuth })))],
      ['gateway (durable ledger event)', await measured(gateway.proc.pid, () => load(via.origin, ca, n, c, () => ({ path: `${via.pathname}${read}`, method: 'GET' as const, headers: auth })))],
    ];
    console.log(`Attribution, read Observation, concurrency ${c}, ${n} requests each (CPU: of the serving process)`);
    console.table(parts.map(([what, r]) => ({
      what, 'req/s': Math.round(r.rps), 'p50 ms': r.p50.toFixed(2), 'p99 ms': r.p99.toFixed(2), 'CPU µs/req': r.cpuUsPerRequest?.toFixed(0) ?? '-', errors: r.errors,
    })));
    if (rows.some((r) => Number(r.errors) > 0) || parts.some(([, r]) => r.errors > 0)) process.exitCode = 1;
  } finally {
    for (const p of [stubbed, gateway, upstream]) p.proc.kill('SIGTERM');
  }
}
