// The configuration schema: secure defaults, unknown keys refused, errors that name path and fix.
import { configProblems } from '../support/config-problems.js';
import { describe, expect, test } from 'vitest';
import { unsafeWarnings } from '../../src/config/load.js';
import { validateConfig } from '../../src/config/schema.js';

const base = { issuer: 'https://as.example', storage: 'sqlite:./data/x.db', tls: { cert: 'c.pem', key: 'k.pem' } };

const problems = configProblems;

describe('configuration', () => {
  test('a minimal file gets the secure defaults', () => {
    const c = validateConfig(base);
    expect(c.tokens).toEqual({ access_token_ttl: 300, id_token_ttl: 300, authorization_code_ttl: 60, refresh_token_idle_ttl: 86400, refresh_token_absolute_ttl: 2592000 });
    expect(c.session).toEqual({ idle_timeout: 900, absolute_timeout: 43200 });
    expect(c.unsafe).toEqual({ allow_plain_http: false, tls_terminated_by_proxy: false, allow_noncompliant_start: false, breakglass_write: false, allow_loopback_client_metadata: false, allow_open_client_registration: false });
    expect(c.listen).toEqual({ host: '127.0.0.1', port: 8443, trusted_proxies: [] });
  });

  test('database waits are bounded by default, and a query timeout below the statement timeout is refused', () => {
    expect(validateConfig(base).database).toEqual({ pool_size: 10, connect_timeout: 3, statement_timeout: 5, query_timeout: 6 });
    expect(problems({ ...base, database: { statement_timeout: 10, query_timeout: 4 } })).toEqual([
      'database.query_timeout: must be at least database.statement_timeout (10), so the server cancels a slow statement before the client gives up on the connection',
    ]);
    expect(problems({ ...base, database: { connect_timeout: 0 } })[0]).toMatch(/^database\.connect_timeout: /);
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

  test('unsafe.breakglass_write is a boolean, and when on it is warned about at startup', () => {
    expect(problems({ ...base, unsafe: { breakglass_write: 'yes' } })).toEqual(['unsafe.breakglass_write: Invalid input: expected boolean, received string']);
    expect(unsafeWarnings(validateConfig(base))).toEqual([]);
    expect(unsafeWarnings(validateConfig({ ...base, unsafe: { breakglass_write: true } }))).toEqual([
      'unsafe.breakglass_write is on: this weakens the server and fails the compliance check',
    ]);
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

describe('configuration refusals added after review', () => {
  test('an issuer with a path is refused', () => {
    expect(problems({ ...base, issuer: 'https://as.example/auth' })[0]).toMatch(/^issuer: must be an absolute https URL with no path/);
  });
  test('a plain http issuer must be loopback even with unsafe.allow_plain_http', () => {
    expect(problems({ ...base, issuer: 'http://as.example', unsafe: { allow_plain_http: true } })).toEqual([
      'issuer: plain http is only allowed for a loopback issuer (127.0.0.1, localhost or [::1])',
    ]);
  });
  test('a client jwks with private key material is refused, and so is an http jwks_uri', () => {
    const client = { client_id: 'svc', name: 'Svc', grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt' };
    expect(problems({ ...base, clients: [{ ...client, jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'a', y: 'b', d: 'secret' }] } }] })).toEqual([
      'clients[0].jwks.keys[0]: holds private key material (d, p, q, dp, dq, qi, oth or k); register the public key only',
    ]);
    expect(problems({ ...base, clients: [{ ...client, jwks_uri: 'http://keys.example/jwks' }] })).toEqual(['clients[0].jwks_uri: must use https']);
  });
});
