// Throughput of ES256 access-token signing: jose SignJWT (WebCrypto; the reference the token
// endpoint is compared with) against src/crypto/jwt-sign.ts (node:crypto). Same claims, same key.
//
//   npx tsx bench/jwt-sign.ts [iterations]      (per round; default 10000)

import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { importJWK, SignJWT } from 'jose';
import { signJwt } from '../src/crypto/jwt-sign.js';

const iterations = Number.parseInt(process.argv[2] ?? '10000', 10);
if (!Number.isInteger(iterations) || iterations <= 0) {
  console.error('usage: npx tsx bench/jwt-sign.ts [iterations > 0]');
  process.exit(2);
}

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const cryptoKey = await importJWK({ ...privateKey.export({ format: 'jwk' }), alg: 'ES256' }, 'ES256');
const kid = 'bench-key';

function claims() {
  const iat = Math.floor(Date.now() / 1000);
  return {
    iss: 'https://as.example.org',
    sub: 'usr_4Qm0d3bT9p2xYwZ1aBcDeF',
    aud: 'https://fhir.example.org/r4',
    exp: iat + 300,
    iat,
    jti: randomUUID(),
    client_id: 'smart-app',
    scope: 'openid fhirUser launch/patient patient/*.rs',
  };
}

async function withJose(): Promise<string> {
  const { iss, sub, aud, exp, iat, jti, ...rest } = claims();
  return new SignJWT(rest)
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid })
    .setIssuer(iss)
    .setSubject(sub)
    .setAudience(aud)
    .setExpirationTime(exp)
    .setIssuedAt(iat)
    .setJti(jti)
    .sign(cryptoKey);
}

async function withNodeCrypto(): Promise<string> {
  return signJwt(claims(), { kid, key: privateKey }, { typ: 'at+jwt' });
}

async function measure(run: () => Promise<string>): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < iterations; i++) await run();
  return iterations / ((performance.now() - start) / 1000);
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const format = (opsPerSecond: number): string => `${Math.round(opsPerSecond).toString().padStart(8)} ops/s`;

// Warm both paths up, then alternate them over several rounds so background load and JIT state
// hit both alike; the median round is reported.
for (let i = 0; i < 2_000; i++) {
  await withJose();
  await withNodeCrypto();
}
const rounds = 5;
const joseRuns: number[] = [];
const nodeRuns: number[] = [];
for (let round = 0; round < rounds; round++) {
  joseRuns.push(await measure(withJose));
  nodeRuns.push(await measure(withNodeCrypto));
}
const jose = median(joseRuns);
const node = median(nodeRuns);
console.log(`ES256 access-token JWT, ${rounds} rounds of ${iterations} signatures each (median), Node ${process.version}`);
console.log(`jose SignJWT (WebCrypto)           ${format(jose)}   rounds: ${joseRuns.map(Math.round).join(' ')}`);
console.log(`src/crypto/jwt-sign (node:crypto)  ${format(node)}   rounds: ${nodeRuns.map(Math.round).join(' ')}`);
console.log(`ratio jose / node:crypto: ${(jose / node).toFixed(2)}x   (node:crypto / jose: ${(node / jose).toFixed(2)}x)`);
