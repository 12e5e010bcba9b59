// client_credentials token issuance throughput through the real server (TLS, SQLite, audit
// ledger), as a ratio to the ceiling measured in the same run: signing an equivalent ES256 JWT
// with jose in a loop in one process. Loopback only; bounded request count.
//
//   npm run build && npx tsx bench/token-endpoint.ts [requests=4000] [concurrency=16]
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { importJWK, SignJWT } from 'jose';
import { load, readCa, saveResult, startDevStack } from './lib.js';

const total = Number(process.argv[2] ?? 4000);
const concurrency = Number(process.argv[3] ?? 16);

async function joseCeiling(n: number): Promise<number> {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const key = await importJWK({ ...privateKey.export({ format: 'jwk' }), alg: 'ES256' }, 'ES256');
  const sign = () => {
    const iat = Math.floor(Date.now() / 1000);
    return new SignJWT({ client_id: 'demo-backend', scope: 'system/Patient.rs system/Observation.rs' })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'k' }).setIssuer('https://localhost:8443').setSubject('demo-backend')
      .setAudience('https://localhost:8443/fhir').setIssuedAt(iat).setExpirationTime(iat + 300).setJti(randomUUID()).sign(key);
  };
  for (let i = 0; i < 500; i++) await sign();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await sign();
  return n / ((performance.now() - t0) / 1000);
}

const stack = await startDevStack();
try {
  const ca = readCa(stack.demo.ca_file!);
  const origin = stack.demo.issuer!;
  const auth = `Basic ${Buffer.from(`${stack.demo.cc_client_id}:${stack.demo.cc_client_secret}`).toString('base64')}`;
  const request = () => ({
    path: '/token', method: 'POST' as const, body: `grant_type=client_credentials&resource=${encodeURIComponent(stack.demo.resource!)}`,
    headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
  });
  await load(origin, ca, 500, concurrency, request); // warm-up
  const ceiling = await joseCeiling(5000);
  // Second ceiling: the same server, TLS and load generator answering GET /healthz (no work).
  const transport = await load(origin, ca, total, concurrency, () => ({ path: '/healthz', method: 'GET' as const, headers: {} }));
  const result = await load(origin, ca, total, concurrency, request);
  const ratio = result.rps / ceiling;
  console.log('client_credentials token issuance (TLS, SQLite, durable audit)');
  console.table({
    'jose ES256 signing ceiling (ops/s)': Math.round(ceiling),
    'token endpoint (req/s)': Math.round(result.rps),
    'ratio to ceiling': ratio.toFixed(2),
    'transport ceiling, GET /healthz (req/s)': Math.round(transport.rps),
    'ratio to transport ceiling': (result.rps / transport.rps).toFixed(2),
    'p50 latency (ms)': result.p50.toFixed(2),
    'p99 latency (ms)': result.p99.toFixed(2),
    errors: result.errors,
    concurrency,
  });
  const file = saveResult('token-endpoint', { benchmark: 'client_credentials', concurrency, ceiling_ops_per_s: ceiling, transport_ceiling_rps: transport.rps, ...result, ratio, ratio_to_transport: result.rps / transport.rps });
  console.log(`saved ${file}`);
  if (result.errors) process.exitCode = 1;
} finally {
  stack.stop();
}
