// What an agent may send to POST /register (src/oauth/registration/validate-request.ts), RFC 7591
// §2 and §3.2.2: each refusal with its error code and the description that names the field, and
// the values kept from an accepted request. Pure: no server (test/agents/dynamic-registration.test.ts
// runs the endpoint).
import { describe, expect, test } from 'vitest';
import { RegistrationError, validateRegistrationRequest } from '../../src/oauth/registration/validate-request.js';

const ok = { redirect_uris: ['https://agent.example/callback'] };
const publicKey = { kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' };

function refusal(body: unknown): { error: string; error_description: string; status: number } {
  try {
    validateRegistrationRequest(body);
  } catch (err) {
    if (err instanceof RegistrationError) return { ...err.toJSON(), status: err.status };
    throw err;
  }
  throw new Error('the request was accepted');
}

describe('an accepted registration request', () => {
  test('with only redirect_uris gets the defaults of this server: a public client with the code flow', () => {
    expect(validateRegistrationRequest(ok)).toEqual({
      redirectUris: ['https://agent.example/callback'], tokenEndpointAuthMethod: 'none', jwksUri: null, jwks: null,
      grantTypes: ['authorization_code'], clientName: null, scope: null, metadata: {},
    });
  });

  test('keeps what agents need, cleans the name, and ignores unknown members and client-chosen credentials', () => {
    const request = validateRegistrationRequest({
      redirect_uris: ['http://127.0.0.1:33418/callback', 'com.example.agent:/cb', 'http://127.0.0.1:33418/callback'],
      grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], client_name: '  Clinical\u202E  copilot \u0007',
      client_uri: 'https://agent.example/', logo_uri: 'https://agent.example/logo.png', scope: 'openid patient/Observation.rs openid',
      software_id: 'copilot-4f1c', software_version: '2.1.0', client_id: 'i-choose-my-id', client_secret: 'mine', contacts: ['a@b.example'],
      software_statement: 'eyJ...', jwks_uri: 'https://agent.example/jwks',
    });
    expect(request).toEqual({
      redirectUris: ['http://127.0.0.1:33418/callback', 'com.example.agent:/cb'], tokenEndpointAuthMethod: 'none', jwksUri: null, jwks: null,
      grantTypes: ['authorization_code', 'refresh_token'], clientName: 'Clinical copilot', scope: ['openid', 'patient/Observation.rs'],
      metadata: { clientUri: 'https://agent.example/', logoUri: 'https://agent.example/logo.png', softwareId: 'copilot-4f1c', softwareVersion: '2.1.0' },
    });
  });

  test('private_key_jwt with inline public keys or an https jwks_uri', () => {
    expect(validateRegistrationRequest({ ...ok, token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [publicKey] } }))
      .toMatchObject({ tokenEndpointAuthMethod: 'private_key_jwt', jwks: JSON.stringify({ keys: [publicKey] }), jwksUri: null });
    expect(validateRegistrationRequest({ ...ok, token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'https://agent.example/jwks.json' }))
      .toMatchObject({ tokenEndpointAuthMethod: 'private_key_jwt', jwks: null, jwksUri: 'https://agent.example/jwks.json' });
  });
});

describe('a refused registration request', () => {
  const metadata = (description: string) => ({ error: 'invalid_client_metadata', error_description: description, status: 400 });
  const redirect = (description: string) => ({ error: 'invalid_redirect_uri', error_description: description, status: 400 });

  test.each<[string, unknown, ReturnType<typeof metadata>]>([
    ['a body that is not a JSON object', ['https://agent.example/cb'], metadata('the request body must be a JSON object of client metadata (Content-Type: application/json)')],
    ['a form body', new URLSearchParams({ redirect_uris: 'https://agent.example/cb' }), metadata('the request body must be a JSON object of client metadata (Content-Type: application/json)')],
    ['no body', undefined, metadata('the request body must be a JSON object of client metadata (Content-Type: application/json)')],
    ['no redirect_uris', { client_name: 'x' }, redirect('redirect_uris is required')],
    ['an empty redirect_uris', { redirect_uris: [] }, redirect('redirect_uris must list at least one redirect URI')],
    ['a redirect_uris string', { redirect_uris: 'https://agent.example/cb' }, redirect('redirect_uris must be an array of strings')],
    ['an http redirect URI off loopback', { redirect_uris: ['https://agent.example/cb', 'http://agent.example/cb'] }, redirect('redirect_uris[1] http is only allowed for loopback addresses (127.0.0.1, [::1]); use https')],
    ['a redirect URI with a fragment', { redirect_uris: ['https://agent.example/cb#x'] }, redirect('redirect_uris[0] must not contain a fragment')],
    ['a wildcard redirect URI', { redirect_uris: ['https://*.agent.example/cb'] }, redirect('redirect_uris[0] must not contain wildcards')],
    ['a javascript: redirect URI', { redirect_uris: ['javascript:alert(1)'] }, redirect('redirect_uris[0] the javascript: scheme is not allowed')],
    ['21 redirect URIs', { redirect_uris: Array.from({ length: 21 }, (_, i) => `https://agent.example/cb${i}`) }, redirect('redirect_uris must list at most 20 redirect URIs')],
    ['client_secret_basic', { ...ok, token_endpoint_auth_method: 'client_secret_basic' }, metadata('token_endpoint_auth_method must be none or private_key_jwt: this server issues no client secret to an agent')],
    ['client_secret_post', { ...ok, token_endpoint_auth_method: 'client_secret_post' }, metadata('token_endpoint_auth_method must be none or private_key_jwt: this server issues no client secret to an agent')],
    ['private_key_jwt without keys', { ...ok, token_endpoint_auth_method: 'private_key_jwt' }, metadata('token_endpoint_auth_method private_key_jwt needs jwks_uri (https) or jwks with the public keys')],
    ['both jwks and jwks_uri', { ...ok, token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [publicKey] }, jwks_uri: 'https://agent.example/jwks' }, metadata('jwks and jwks_uri must not both be present (RFC 7591 §2)')],
    ['a private key in jwks', { ...ok, token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [{ ...publicKey, d: 'secret' }] } }, metadata('jwks.keys[0] contains private or symmetric key material (d); register public keys only')],
    ['a symmetric key in jwks', { ...ok, token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] } }, metadata('jwks.keys[0] contains private or symmetric key material (k); register public keys only')],
    ['an http jwks_uri', { ...ok, token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'http://agent.example/jwks' }, metadata('jwks_uri must use https')],
    ['client_credentials', { ...ok, grant_types: ['client_credentials'] }, metadata('grant_types may only contain authorization_code and refresh_token')],
    ['refresh_token alone', { ...ok, grant_types: ['refresh_token'] }, metadata('grant_types must include authorization_code')],
    ['the implicit response type', { ...ok, response_types: ['code', 'token'] }, metadata('response_types may only contain code')],
    ['a scope with a quote', { ...ok, scope: 'openid "patient/*.rs"' }, metadata('scope must be a space-separated list of scope tokens of at most 2000 characters')],
    ['a scope list', { ...ok, scope: ['openid'] }, metadata('scope must be a space-separated list of scope tokens of at most 2000 characters')],
    ['a client_name of 101 characters', { ...ok, client_name: 'a'.repeat(101) }, metadata('client_name must be at most 100 characters')],
    ['an http client_uri', { ...ok, client_uri: 'http://agent.example/' }, metadata('client_uri must use https')],
    ['a logo_uri with user information', { ...ok, logo_uri: 'https://user:pw@agent.example/logo.png' }, metadata('logo_uri must not contain user information')],
    ['a software_id with a line break', { ...ok, software_id: 'agent\nid' }, metadata('software_id must be printable ASCII text of at most 200 characters')],
    ['a numeric software_version', { ...ok, software_version: 2 }, metadata('software_version must be printable ASCII text of at most 200 characters')],
  ])('%s', (_name, body, expected) => {
    expect(refusal(body)).toEqual(expected);
  });
});
