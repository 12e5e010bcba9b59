// The configuration schema: secure defaults, unknown keys refused, errors that name path and fix.
import { describe, expect, test } from 'vitest';
import { ConfigError, validateConfig } from '../../src/config/schema.js';

const base = { issuer: 'https://as.example', storage: 'sqlite:./data/x.db', tls: { cert: 'c.pem', key: 'k.pem' } };

function problems(raw: unknown): string[] {
  try {
    validateConfig(raw);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('configuration', () => {
  test('a minimal file gets the secure defaults', () => {
    const c = validateConfig(base);
    expect(c.tokens).toEqual({ access_token_ttl: 300, id_token_ttl: 300, authorization_code_ttl: 60, refresh_token_idle_ttl: 86400, refresh_token_absolute_ttl: 2592000 });
    expect(c.session).toEqual({ idle_timeout: 900, absolute_timeout: 43200 });
    expect(c.unsafe).toEqual({ allow_plain_http: false, tls_terminated_by_proxy: false });
    expect(c.listen).toEqual({ host: '127.0.0.1', port: 8443 });
  });

  test('unknown keys are refused with their path', () => {
    expect(problems({ ...base, tokens: { acess_token_ttl: 10 } })).toEqual([
      'tokens: unknown key "acess_token_ttl"; remove or fix the spelling (see docs/configuration.md)',
    ]);
  });

  test('an access token lifetime above 15 minutes is refused', () => {
    expect(problems({ ...base, tokens: { access_token_ttl: 3600 } })).toEqual(['tokens.access_token_ttl: must be at most 900 seconds']);
  });

  test('an http issuer is refused unless unsafe.allow_plain_http', () => {
    expect(problems({ ...base, issuer: 'http://as.example' })[0]).toMatch(/^issuer: must use https/);
    expect(problems({ ...base, issuer: 'http://127.0.0.1:8080', unsafe: { allow_plain_http: true } })).toEqual([]);
  });

  test('production without TLS is refused unless a TLS proxy is declared', () => {
    const { tls: _tls, ...noTls } = base;
    expect(problems(noTls)[0]).toMatch(/^tls: is required/);
    expect(problems({ ...noTls, unsafe: { tls_terminated_by_proxy: true } })).toEqual([]);
  });

  test('a client redirect URI over http outside loopback names the path and the fix', () => {
    const client = { client_id: 'app1', name: 'App', redirect_uris: ['http://example.com/cb'], client_secret_env: 'APP1_SECRET' };
    expect(problems({ ...base, clients: [client] })).toEqual([
      'clients[0].redirect_uris[0]: http is only allowed for loopback addresses (127.0.0.1, [::1]); use https',
    ]);
  });

  test('a client resource must be a declared resource server', () => {
    const client = { client_id: 'svc', name: 'Svc', grant_types: ['client_credentials'], resources: ['https://rs.example'], client_secret_env: 'S' };
    expect(problems({ ...base, clients: [client] })).toEqual(['clients[0].resources[0]: "https://rs.example" is not declared under resources']);
  });

  test('client_secret methods need a secret from the environment', () => {
    const client = { client_id: 'svc', name: 'Svc', grant_types: ['client_credentials'] };
    expect(problems({ ...base, clients: [client] })[0]).toMatch(/^clients\[0\]\.client_secret_env: client_secret_basic needs client_secret_env/);
  });

  test('storage must be sqlite: or postgres://', () => {
    expect(problems({ ...base, storage: 'mysql://x' })[0]).toMatch(/^storage: use sqlite:PATH or postgres:/);
  });
});
