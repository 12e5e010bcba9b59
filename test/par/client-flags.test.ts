// `caduceus client add --require-dpop --require-par` and the per-client flags in the
// configuration file (RFC 9449 §5.2 dpop_bound_access_tokens, RFC 9126 §6).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStorage } from '../../src/storage/index.js';
import { validateConfig } from '../../src/config/schema.js';
import { createDataDir, runCli, type DataDir } from '../cli/harness.js';

let data: DataDir;
beforeAll(async () => { data = await createDataDir(); });
afterAll(() => data?.remove());

const addArgs = (id: string, extra: string[] = []) => [
  'client', 'add', '--data', data.dir, '--id', id, '--name', 'Flagged App', '--grant', 'authorization_code',
  '--redirect-uri', 'https://app.example.test/cb', '--scope', 'openid', '--resource', data.demo.resource, '--auth', 'client_secret_basic', ...extra,
];

async function storedPolicy(id: string) {
  const storage = await openStorage(data.config.storage);
  try {
    return await storage.clientPolicies.get(id);
  } finally {
    await storage.close();
  }
}

describe('client add security flags', () => {
  it('--require-dpop and --require-par are stored, printed and shown', async () => {
    const run = await runCli(addArgs('flagged-app', ['--require-dpop', '--require-par', '--json']));
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ dpop_bound_access_tokens: true, require_pushed_authorization_requests: true });
    expect(await storedPolicy('flagged-app')).toEqual({ dpopBoundAccessTokens: true, requirePushedAuthorizationRequests: true });
    const show = await runCli(['client', 'show', 'flagged-app', '--data', data.dir, '--json']);
    expect(JSON.parse(show.stdout)).toMatchObject({ dpop_bound_access_tokens: true, require_pushed_authorization_requests: true });
  });

  it('the text output names what the client must use', async () => {
    const run = await runCli(addArgs('flagged-text-app', ['--require-par']));
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('requires:       pushed authorization requests (PAR)');
  });

  it('without the flags both are off', async () => {
    const run = await runCli(addArgs('plain-app', ['--json']));
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ dpop_bound_access_tokens: false, require_pushed_authorization_requests: false });
    expect(await storedPolicy('plain-app')).toEqual({ dpopBoundAccessTokens: false, requirePushedAuthorizationRequests: false });
  });

  it('the help lists both flags', async () => {
    const run = await runCli(['client', '--help']);
    expect(run.stdout).toContain('--require-dpop');
    expect(run.stdout).toContain('--require-par');
  });
});

describe('configuration', () => {
  const base = { issuer: 'https://auth.example.org', storage: 'sqlite::memory:', tls: { cert: 'c', key: 'k' } };

  it('defaults: no nonce required, 300 s nonces, PAR optional, 60 s request_uri, client flags off', () => {
    const c = validateConfig({ ...base, clients: [{ client_id: 'app', name: 'App', redirect_uris: ['https://a.example/cb'], client_secret_env: 'APP_SECRET' }] });
    expect(c.dpop).toEqual({ require_nonce: false, nonce_lifetime: 300 });
    expect(c.par).toEqual({ require_pushed_authorization_requests: false, request_uri_ttl: 60 });
    expect(c.clients[0]).toMatchObject({ dpop_bound_access_tokens: false, require_pushed_authorization_requests: false });
  });

  it('a request_uri lifetime of 600 s or more is refused (FAPI 2.0)', () => {
    expect(() => validateConfig({ ...base, par: { request_uri_ttl: 600 } })).toThrow('par.request_uri_ttl: must be at most 599 seconds');
    expect(() => validateConfig({ ...base, dpop: { nonce_ttl: 5 } })).toThrow(/dpop: unknown key "nonce_ttl"/);
  });
});
