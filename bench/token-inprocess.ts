// In-process cost of one client_credentials issuance (client authentication, scope and resource
// checks, ES256 signing, durable ledger event), without HTTP or TLS, against the jose signing
// ceiling measured in the same run. Shows how much of the token endpoint's budget the
// authorization logic itself takes.
//
//   npm run build && npx tsx bench/token-inprocess.ts [requests=5000] [concurrency=16]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { importJWK, SignJWT } from 'jose';
import { devConfig, seedDemo } from '../src/server/dev-stack.js';
import { createContext } from '../src/server/start.js';
import { authenticateClient } from '../src/oauth/client-auth/index.js';
import { handle } from '../src/oauth/grants/client-credentials.js';
import { saveResult } from './lib.js';

const total = Number(process.argv[2] ?? 5000);
const concurrency = Number(process.argv[3] ?? 16);
const dataDir = mkdtempSync(join(tmpdir(), 'caduceus-inproc-'));
const { config, caFile } = await devConfig({ dataDir, port: 18444 });
const ctx = await createContext(config, { env: {} });
const demo = await seedDemo(ctx, dataDir, caFile);
const authorization = `Basic ${Buffer.from(`${demo.cc_client_id}:${demo.cc_client_secret}`).toString('base64')}`;

async function issueOne() {
  const params = { grant_type: 'client_credentials', resource: demo.resource };
  const meta = { requestId: randomUUID(), sourceAddress: '127.0.0.1' };
  const client = await authenticateClient(ctx, { authorization, params, endpoint: `${config.issuer}/token`, ...meta });
  return handle({ ctx, client, params, ...meta });
}

async function run(n: number): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) { next += 1; await issueOne(); }
  }));
  return n / ((performance.now() - t0) / 1000);
}

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const key = await importJWK({ ...privateKey.export({ format: 'jwk' }), alg: 'ES256' }, 'ES256');
async function ceiling(n: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const iat = Math.floor(Date.now() / 1000);
    await new SignJWT({ client_id: 'c', scope: 'system/Patient.rs system/Observation.rs' }).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'k' })
      .setIssuer(config.issuer).setSubject('c').setAudience(demo.resource).setIssuedAt(iat).setExpirationTime(iat + 300).setJti(randomUUID()).sign(key);
  }
  return n / ((performance.now() - t0) / 1000);
}

await run(500);
const joseCeiling = await ceiling(5000);
const rate = await run(total);
console.table({ 'jose signing ceiling (ops/s)': Math.round(joseCeiling), 'issuance in process (ops/s)': Math.round(rate), ratio: (rate / joseCeiling).toFixed(2), concurrency });
saveResult('token-inprocess', { benchmark: 'client_credentials in process', concurrency, ceiling_ops_per_s: joseCeiling, ops_per_s: rate, ratio: rate / joseCeiling });
await ctx.close();
rmSync(dataDir, { recursive: true, force: true });
