// node-oidc-provider 9 (panva/node-oidc-provider), configured as close to Caduceus's
// client_credentials path as it allows, for the side-by-side benchmark (bench/vs-oidc-provider.ts):
//
// - TLS on 127.0.0.1 with a development CA and certificate made the same way as `caduceus dev`'s
//   (src/crypto/dev-ca.ts) and the same listener options (Mozilla intermediate, src/http/tls.ts);
// - one confidential client, client_credentials only, client_secret_basic, a 256-bit random secret;
// - the resourceIndicators feature (RFC 8707) with one resource server for the same audience and
//   scopes, whose access tokens are JWTs signed ES256 (RFC 9068 `at+jwt`), valid 300 s;
// - an ES256 signing key generated at start.
//
// Differences that remain, stated in docs/performance.md: the default in-memory adapter (and a
// JWT client_credentials token is not stored at all), no audit record of any kind, no request
// log line (Caduceus writes one JSON line per request and one durable ledger event per token).
//
// Started by bench/vs-oidc-provider.ts with an IPC channel; sends {ready: {...}} once listening.
import { createServer } from 'node:https';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Provider, { errors } from 'oidc-provider';
import { ensureDevCertificates } from '../src/crypto/dev-ca.js';
import { tlsServerOptions } from '../src/http/tls.js';
import { freePort } from './lib.js';

if (!process.send) {
  console.error('bench/oidc-provider-server.ts is started by bench/vs-oidc-provider.ts, with an IPC channel.');
  process.exit(2);
}
const send = process.send.bind(process);

const dir = mkdtempSync(join(tmpdir(), 'oidc-provider-bench-'));
const tls = await ensureDevCertificates(join(dir, 'tls'));
const port = await freePort();
const issuer = `https://127.0.0.1:${port}`;
const resource = `${issuer}/fhir`;
const scope = 'system/Patient.rs system/Observation.rs';
const clientId = 'demo-backend';
const clientSecret = randomBytes(32).toString('base64url');
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: randomBytes(8).toString('hex'), alg: 'ES256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId, client_secret: clientSecret, grant_types: ['client_credentials'], response_types: [], redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic', scope,
  }],
  clientDefaults: { id_token_signed_response_alg: 'ES256' },
  jwks: { keys: [jwk] },
  scopes: scope.split(' '),
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx: unknown, indicator: string) => {
        if (indicator !== resource) throw new errors.InvalidTarget();
        return { scope, audience: resource, accessTokenTTL: 300, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } };
      },
    },
  },
  ttl: { ClientCredentials: 300 },
});
provider.on('server_error', (_ctx, err) => console.error('oidc-provider server_error', err));

const server = createServer(tlsServerOptions({ cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) }), provider.callback());
await new Promise<void>((res) => server.listen(port, '127.0.0.1', res));

const stop = () => server.close(() => {
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
});
process.on('SIGTERM', stop);
process.on('disconnect', stop);
process.on('message', (m: { id: number; cmd: string }) => {
  if (m.cmd === 'reset-peak') {
    try {
      writeFileSync('/proc/self/clear_refs', '5');
      send({ id: m.id, result: null });
    } catch (err) {
      send({ id: m.id, error: (err as Error).message });
    }
  } else if (m.cmd === 'memory') {
    send({ id: m.id, result: process.memoryUsage() });
  } else {
    send({ id: m.id, error: `unknown command ${m.cmd}` });
  }
});

send({ ready: { issuer, ca: readFileSync(tls.caFile, 'utf8'), resource, scope, cc_client_id: clientId, cc_client_secret: clientSecret } });
