// The pure rules of Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document):
// which addresses may be fetched from (§8.6), what a Client Identifier URL is (§3), what a document
// may say (§4, §4.1, §4.2) and how long it is kept (§5.2). No network here; the fetch itself is
// tested against real HTTPS servers in client-metadata-document.test.ts.
import { describe, expect, test } from 'vitest';
import { addressProblem, ipv6Bytes, specialUseLabel } from '../../src/oauth/client-metadata/address-policy.js';
import { clientIdUrlProblem, fetchableUrlProblem } from '../../src/oauth/client-metadata/client-id-url.js';
import { cacheLifetimeSeconds } from '../../src/oauth/client-metadata/cache-lifetime.js';
import { checkMetadataRedirectUri, validateClientMetadataDocument } from '../../src/oauth/client-metadata/validate-document.js';
import { ClientMetadataError } from '../../src/oauth/client-metadata/errors.js';

const URL_ = 'https://agent.example.com/oauth/client.json';
const good = {
  client_id: URL_,
  client_name: 'Example Agent',
  redirect_uris: ['https://agent.example.com/callback', 'http://127.0.0.1:33418/callback'],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  token_endpoint_auth_method: 'none',
};

function refusal(fn: () => unknown): ClientMetadataError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ClientMetadataError);
    return err as ClientMetadataError;
  }
  throw new Error('expected a ClientMetadataError');
}

describe('address policy (§8.6, RFC 6890)', () => {
  const refused: Array<[string, RegExp]> = [
    ['127.0.0.1', /loopback/], ['127.255.255.254', /loopback/], ['::1', /loopback/],
    ['10.0.0.1', /private/], ['172.16.0.1', /private/], ['172.31.255.255', /private/], ['192.168.1.1', /private/],
    ['169.254.169.254', /link-local/], ['fe80::1', /link-local/], ['fe80::1%eth0', /scoped/],
    ['100.64.0.1', /CGNAT/], ['100.127.255.255', /CGNAT/],
    ['0.0.0.0', /unspecified/], ['::', /unspecified/],
    ['224.0.0.1', /multicast/], ['239.255.255.250', /multicast/], ['ff02::1', /multicast/],
    ['255.255.255.255', /reserved/], ['240.0.0.1', /reserved/],
    ['fc00::1', /unique local/], ['fd12:3456::1', /unique local/],
    ['192.0.2.1', /documentation/], ['198.51.100.7', /documentation/], ['203.0.113.9', /documentation/], ['2001:db8::1', /documentation/],
    ['198.18.0.1', /benchmarking/], ['192.0.0.8', /IETF/], ['2001::1', /IETF protocol|Teredo/], ['2002:a00:1::1', /6to4/],
    ['::ffff:127.0.0.1', /loopback.*IPv4-mapped/], ['::ffff:7f00:1', /loopback.*IPv4-mapped/], ['::ffff:10.0.0.1', /private.*IPv4-mapped/],
    ['::ffff:a9fe:a9fe', /link-local.*IPv4-mapped/], ['64:ff9b::a00:1', /private.*NAT64/], ['64:ff9b:1::1', /NAT64/],
    ['::127.0.0.1', /not global unicast/], ['100::1', /discard/], ['4000::1', /not global unicast/],
    ['not-an-address', /not an IP address/],
  ];
  test.each(refused)('%s is refused (%s)', (address, label) => {
    expect(addressProblem(address, { allowLoopback: false })).toMatch(label);
  });

  test.each(['93.184.215.14', '8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '2606:4700:4700::1111', '2a00:1450:4001::200e', '::ffff:8.8.8.8', '64:ff9b::808:808'])(
    '%s is public', (address) => {
      expect(specialUseLabel(address)).toBeUndefined();
    },
  );

  test('allowLoopback lets loopback through, and nothing else: not private, not link-local, not the IPv4-mapped loopback', () => {
    const dev = { allowLoopback: true };
    expect(addressProblem('127.0.0.1', dev)).toBeUndefined();
    expect(addressProblem('127.8.9.10', dev)).toBeUndefined();
    expect(addressProblem('::1', dev)).toBeUndefined();
    expect(addressProblem('[::1]', dev)).toBeUndefined();
    expect(addressProblem('10.0.0.1', dev)).toMatch(/private/);
    expect(addressProblem('169.254.169.254', dev)).toMatch(/link-local/);
    expect(addressProblem('::ffff:127.0.0.1', dev)).toMatch(/IPv4-mapped/);
    expect(addressProblem('0.0.0.0', dev)).toMatch(/unspecified/);
  });

  test('ipv6Bytes reads compressed and dotted forms', () => {
    expect(Array.from(ipv6Bytes('::ffff:127.0.0.1')!)).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 127, 0, 0, 1]);
    expect(Array.from(ipv6Bytes('2001:db8::1')!)).toEqual([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    expect(Array.from(ipv6Bytes('::')!)).toEqual(new Array(16).fill(0));
    expect(ipv6Bytes('127.0.0.1')).toBeUndefined();
  });
});

describe('Client Identifier URL (§3)', () => {
  test('a normalized https URL with a path is one', () => {
    expect(clientIdUrlProblem(URL_)).toBeUndefined();
    expect(clientIdUrlProblem('https://agent.example.com:8443/client.json')).toBeUndefined();
    expect(clientIdUrlProblem('https://agent.example.com/client.json?v=2')).toBeUndefined();
  });

  test.each([
    ['http://agent.example.com/client.json', 'must use https'],
    ['https://user:pw@agent.example.com/client.json', 'must not contain user information'],
    ['https://user@agent.example.com/client.json', 'must not contain user information'],
    ['https://agent.example.com/client.json#x', 'must not contain a fragment'],
    ['https://agent.example.com', 'must contain a path, e.g. https://app.example/oauth/client.json'],
    ['https://agent.example.com/', 'must contain a path, e.g. https://app.example/oauth/client.json'],
    ['https://agent.example.com/a/../client.json', 'must not contain . or .. path segments'],
    ['https://agent.example.com/./client.json', 'must not contain . or .. path segments'],
    ['https://agent.example.com/a/%2e%2E/client.json', 'must not contain . or .. path segments'],
    ['https://Agent.Example.com/client.json', 'must be written in normalized form (lowercase scheme and host, no default port, no dot segments, as a URL parser writes it)'],
    ['https://agent.example.com:443/client.json', 'must be written in normalized form (lowercase scheme and host, no default port, no dot segments, as a URL parser writes it)'],
    ['https://[::ffff:127.0.0.1]/client.json', 'must be written in normalized form (lowercase scheme and host, no default port, no dot segments, as a URL parser writes it)'],
    ['https://2130706433/client.json', 'must be written in normalized form (lowercase scheme and host, no default port, no dot segments, as a URL parser writes it)'],
    ['https://agent.exa\tmple.com/client.json', 'must be written in normalized form (lowercase scheme and host, no default port, no dot segments, as a URL parser writes it)'],
    ['not a url', 'is not an absolute URL'],
    [`https://agent.example.com/${'a'.repeat(2000)}`, 'is longer than 2000 characters'],
  ])('%s: %s', (url, problem) => {
    expect(clientIdUrlProblem(url)).toBe(problem);
  });

  test('a URL inside a document needs https and no fragment, but may be the root', () => {
    expect(fetchableUrlProblem('https://agent.example.com/')).toBeUndefined();
    expect(fetchableUrlProblem('javascript:alert(1)')).toBe('must use https');
    expect(fetchableUrlProblem('data:text/html,x')).toBe('must use https');
  });
});

describe('document validation (§4, §4.1)', () => {
  test('a public agent: what is kept, in domain names', () => {
    expect(validateClientMetadataDocument(URL_, { ...good, logo_uri: 'https://agent.example.com/logo.png', unknown_member: { a: 1 }, scope: 'patient/Observation.rs' })).toEqual({
      clientId: URL_, name: 'Example Agent', redirectUris: good.redirect_uris, grantTypes: ['authorization_code', 'refresh_token'],
      tokenEndpointAuthMethod: 'none', jwksUri: null, jwks: null, scope: 'patient/Observation.rs',
      clientUri: null, logoUri: 'https://agent.example.com/logo.png', policyUri: null, tosUri: null,
    });
  });

  test('omitted grant_types, response_types and token_endpoint_auth_method mean a public code-flow client', () => {
    const m = validateClientMetadataDocument(URL_, { client_id: URL_, redirect_uris: ['https://agent.example.com/cb'] });
    expect([m.grantTypes, m.tokenEndpointAuthMethod, m.name]).toEqual([['authorization_code'], 'none', null]);
  });

  test('private_key_jwt with a jwks_uri or public jwks', () => {
    expect(validateClientMetadataDocument(URL_, { ...good, token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'https://agent.example.com/jwks.json' }).jwksUri)
      .toBe('https://agent.example.com/jwks.json');
    const jwk = { kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' };
    expect(JSON.parse(validateClientMetadataDocument(URL_, { ...good, token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [jwk] } }).jwks!)).toEqual({ keys: [jwk] });
  });

  test('client_name loses control and bidirectional formatting characters, and a too-long name is refused, not cut', () => {
    expect(validateClientMetadataDocument(URL_, { ...good, client_name: '  Good\u202Egnp.exe\u0007  Agent\n' }).name).toBe('Goodgnp.exe Agent');
    expect(validateClientMetadataDocument(URL_, { ...good, client_name: '\u200F \u0000' }).name).toBeNull();
    expect(refusal(() => validateClientMetadataDocument(URL_, { ...good, client_name: 'x'.repeat(101) })).description)
      .toBe('client metadata document: client_name must be at most 100 characters');
  });

  const refused: Array<[string, unknown, string]> = [
    ['not an object', ['x'], 'must be a JSON object'],
    ['null', null, 'must be a JSON object'],
    ['no client_id', { ...good, client_id: undefined }, 'client_id must equal the URL the document was fetched from'],
    ['another client_id', { ...good, client_id: 'https://agent.example.com/other.json' }, 'client_id must equal the URL the document was fetched from'],
    ['client_id differing only in case', { ...good, client_id: URL_.toUpperCase() }, 'client_id must equal the URL the document was fetched from'],
    ['client_id with a trailing slash', { ...good, client_id: `${URL_}/` }, 'client_id must equal the URL the document was fetched from'],
    ['a client_secret', { ...good, client_secret: 's3cret' }, 'client_secret must not be present: a metadata document cannot carry a client secret or other credential'],
    ['client_secret_expires_at', { ...good, client_secret_expires_at: 0 }, 'client_secret_expires_at must not be present: a metadata document cannot carry a client secret or other credential'],
    ['client_secret_basic', { ...good, token_endpoint_auth_method: 'client_secret_basic' }, 'token_endpoint_auth_method must be none or private_key_jwt; shared-secret and other methods are not accepted'],
    ['client_secret_jwt', { ...good, token_endpoint_auth_method: 'client_secret_jwt' }, 'token_endpoint_auth_method must be none or private_key_jwt; shared-secret and other methods are not accepted'],
    ['tls_client_auth', { ...good, token_endpoint_auth_method: 'tls_client_auth' }, 'token_endpoint_auth_method must be none or private_key_jwt; shared-secret and other methods are not accepted'],
    ['private_key_jwt without keys', { ...good, token_endpoint_auth_method: 'private_key_jwt' }, 'token_endpoint_auth_method private_key_jwt needs jwks_uri (https) or jwks with the public keys'],
    ['an http jwks_uri', { ...good, token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'http://agent.example.com/jwks.json' }, 'jwks_uri must use https'],
    ['jwks and jwks_uri', { ...good, token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'https://agent.example.com/jwks', jwks: { keys: [{ kty: 'EC' }] } }, 'jwks and jwks_uri must not both be present (RFC 7591 §2)'],
    ['a private key', { ...good, jwks: { keys: [{ kty: 'EC', d: 'secret' }] } }, 'jwks.keys[0] contains private or symmetric key material (d); publish public keys only'],
    ['a symmetric key', { ...good, jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] } }, 'jwks.keys[0] contains private or symmetric key material (k); publish public keys only'],
    ['client_credentials', { ...good, grant_types: ['authorization_code', 'client_credentials'] }, 'grant_types may only contain authorization_code and refresh_token'],
    ['implicit', { ...good, grant_types: ['implicit'] }, 'grant_types may only contain authorization_code and refresh_token'],
    ['refresh_token alone', { ...good, grant_types: ['refresh_token'] }, 'grant_types must include authorization_code'],
    ['grant_types as a string', { ...good, grant_types: 'authorization_code' }, 'grant_types must be an array of strings'],
    ['response_type token', { ...good, response_types: ['code', 'token'] }, 'response_types may only contain code'],
    ['no redirect_uris', { ...good, redirect_uris: undefined }, 'redirect_uris is required'],
    ['empty redirect_uris', { ...good, redirect_uris: [] }, 'redirect_uris must list at least one redirect URI'],
    ['too many redirect_uris', { ...good, redirect_uris: Array.from({ length: 21 }, (_, i) => `https://agent.example.com/cb${i}`) }, 'redirect_uris must list at most 20 redirect URIs'],
    ['a javascript: redirect URI', { ...good, redirect_uris: ['javascript:alert(1)'] }, 'redirect_uris[0] the javascript: scheme is not allowed'],
    ['a wildcard redirect URI', { ...good, redirect_uris: ['https://agent.example.com/cb', 'https://*.example.com/cb'] }, 'redirect_uris[1] must not contain wildcards'],
    ['a redirect URI with a fragment', { ...good, redirect_uris: ['https://agent.example.com/cb#x'] }, 'redirect_uris[0] must not contain a fragment'],
    ['a plain http redirect URI', { ...good, redirect_uris: ['http://agent.example.com/cb'] }, 'redirect_uris[0] http is only allowed for loopback addresses (127.0.0.1, [::1]); use https'],
    ['a client_name object', { ...good, client_name: { en: 'x' } }, 'client_name must be a string'],
    ['a data: logo_uri', { ...good, logo_uri: 'data:image/png;base64,AAAA' }, 'logo_uri must use https'],
    ['a javascript: client_uri', { ...good, client_uri: 'javascript:alert(1)' }, 'client_uri must use https'],
    ['a scope with a quote', { ...good, scope: 'openid "x"' }, 'scope must be a space-separated list of scope tokens of at most 2000 characters'],
  ];
  test.each(refused)('refused: %s', (_name, doc, description) => {
    const err = refusal(() => validateClientMetadataDocument(URL_, JSON.parse(JSON.stringify(doc ?? null))));
    expect([err.error, err.status, err.problem, err.description]).toEqual(['invalid_client', 401, 'invalid_document', `client metadata document: ${description}`]);
  });

  test('the request redirect URI must be one of the document\'s, exactly: no loopback port variation, no trailing slash', () => {
    const m = validateClientMetadataDocument(URL_, good);
    expect(() => checkMetadataRedirectUri(m, 'https://agent.example.com/callback')).not.toThrow();
    for (const uri of ['https://agent.example.com/callback/', 'http://127.0.0.1:40000/callback', 'https://AGENT.example.com/callback', 'https://evil.example/callback']) {
      const err = refusal(() => checkMetadataRedirectUri(m, uri));
      expect([err.error, err.problem, err.description]).toEqual(['invalid_client', 'redirect_uri_not_registered', 'redirect_uri is not one of the redirect_uris of the client metadata document']);
    }
  });
});

describe('cache lifetime (§5.2, RFC 9111)', () => {
  const bounds = { minSeconds: 60, maxSeconds: 86_400 };
  test.each<[string | undefined, string | undefined, number | undefined]>([
    ['max-age=600', undefined, 600],
    ['public, max-age=600', '100', 500],
    ['max-age=5', undefined, 60],
    ['max-age=0', undefined, 60],
    ['max-age=9999999', undefined, 86_400],
    ['max-age="300"', undefined, 300],
    ['max-age=abc', undefined, 60],
    [undefined, undefined, 60],
    ['no-store', undefined, undefined],
    ['max-age=600, no-store', undefined, undefined],
    ['NO-STORE', undefined, undefined],
    ['no-cache, max-age=600', undefined, 60],
    ['max-age=600, no-cache', undefined, 60],
    ['max-age=100', '500', 60],
  ])('Cache-Control %s, Age %s → %s', (cacheControl, age, expected) => {
    expect(cacheLifetimeSeconds({ ...(cacheControl !== undefined ? { cacheControl } : {}), ...(age !== undefined ? { age } : {}) }, bounds)).toBe(expected);
  });
});
