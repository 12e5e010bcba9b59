// The client metadata an AI agent may send to POST /register (RFC 7591 §2, §3.1), checked before
// anything in it is used. Pure.
//
// RFC 7591 §2: "The authorization server MUST ignore any client metadata sent by the client that
// it does not understand": unknown members are ignored and nothing unknown is kept. §3.2.2: an
// invalid redirect URI is `invalid_redirect_uri`, any other invalid value `invalid_client_metadata`.
// §3.2.1: the server "MAY reject or replace any of the client's requested metadata values ... and
// substitute them with suitable values": the scope is narrowed by the agent policy (the caller), and
// an absent token_endpoint_auth_method is `none`, not the RFC default client_secret_basic, since this
// server issues no client secret to an agent.
//
// This server's profile: what an agent needs and nothing more.
// - redirect_uris (required; the rules of src/oauth/checks/redirect-uri.ts: https, loopback http,
//   reverse-domain private-use schemes; no wildcard, fragment or user information);
// - token_endpoint_auth_method `none` (a public client with PKCE) or `private_key_jwt` with
//   `jwks_uri` (https) or `jwks` (public keys only), never both (RFC 7591 §2);
// - grant_types ⊆ {authorization_code, refresh_token}, with authorization_code; response_types ⊆ {code};
// - client_name (cleaned of control and bidirectional formatting characters, refused when too long),
//   client_uri and logo_uri (https), scope (RFC 6749 §3.3 syntax), software_id, software_version.
// Descriptions name the field and never echo a value from the request.
// Deliberately not checked here: what the scope may grant (src/oauth/agent-policy.ts), what a
// jwks_uri serves (fetched, under the SSRF rules of src/oauth/client-metadata/, when a token request
// needs it), and software statements (RFC 7591 §2.3; not supported, so ignored like any unknown member).
import { metadataFieldReaders } from '../client-metadata/fields.js';
import { OAuthError } from '../../errors/oauth-error.js';
import { PRIVATE_JWK_MEMBERS } from '../../config/schema.js';
import type { ClientRegistrationMetadata } from '../../storage/types.js';
import { redirectUriProblem } from '../checks/redirect-uri.js';
import { MAX_URL_LENGTH } from '../client-metadata/client-id-url.js';

export type RegistrationAuthMethod = 'none' | 'private_key_jwt';
export type RegistrationGrantType = 'authorization_code' | 'refresh_token';

/** A validated registration request, in domain (camelCase) names. */
export interface RegistrationRequest {
  redirectUris: string[];
  tokenEndpointAuthMethod: RegistrationAuthMethod;
  /** private_key_jwt only: the https URL of the agent's public keys, or null. */
  jwksUri: string | null;
  /** private_key_jwt only: the inline public key set as JSON text, or null. */
  jwks: string | null;
  grantTypes: RegistrationGrantType[];
  /** client_name, cleaned; null when absent or empty. */
  clientName: string | null;
  /** The scope tokens asked for; null when `scope` is absent. A request, never a grant. */
  scope: string[] | null;
  /** client_uri, logo_uri, software_id, software_version, when present. */
  metadata: ClientRegistrationMetadata;
}

export const MAX_REDIRECT_URIS = 20;
export const MAX_CLIENT_NAME_LENGTH = 100;
const MAX_SCOPE_LENGTH = 2000;
const MAX_KEYS = 10;
const MAX_SOFTWARE_TEXT = 200;
/** RFC 6749 §3.3 scope-token characters, space-separated. */
const SCOPE = /^[\x21\x23-\x5B\x5D-\x7E]+(?: [\x21\x23-\x5B\x5D-\x7E]+)*$/;
/** C0 and C1 controls, and the bidirectional formatting characters (Unicode UAX #9). */
const UNSAFE_TEXT = /[\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/g;
/** software_id / software_version: printable ASCII, no spaces at either end. */
const SOFTWARE_TEXT = /^[\x21-\x7E](?:[\x20-\x7E]*[\x21-\x7E])?$/;

/** RFC 7591 §3.2.2 error codes. */
export type RegistrationErrorCode = 'invalid_client_metadata' | 'invalid_redirect_uri';

/** A refused registration request: 400 with the RFC 7591 §3.2.2 error and a description naming the field. */
export class RegistrationError extends OAuthError {
  constructor(code: RegistrationErrorCode, description: string, detail?: string) {
    super(code, description, detail, 400);
  }
}

const invalidMetadata = (description: string) => new RegistrationError('invalid_client_metadata', description);
const invalidRedirect = (description: string) => new RegistrationError('invalid_redirect_uri', description);
const has = (body: Record<string, unknown>, name: string) => Object.hasOwn(body, name);

/** Checks the JSON body of POST /register; throws RegistrationError naming the first field at fault. */
export function validateRegistrationRequest(body: unknown): RegistrationRequest {
  // A plain object is what JSON.parse gives; a form body arrives as URLSearchParams and is refused here.
  if (typeof body !== 'object' || body === null || Object.getPrototypeOf(body) !== Object.prototype) {
    throw invalidMetadata('the request body must be a JSON object of client metadata (Content-Type: application/json)');
  }
  const doc = body as Record<string, unknown>;

  // RFC 7591 §2: redirect_uris is required for the redirect-based flows, the only ones offered.
  if (!has(doc, 'redirect_uris')) throw invalidRedirect('redirect_uris is required');
  const redirectUris = doc.redirect_uris;
  if (!Array.isArray(redirectUris) || redirectUris.some((u) => typeof u !== 'string')) throw invalidRedirect('redirect_uris must be an array of strings');
  if (redirectUris.length === 0) throw invalidRedirect('redirect_uris must list at least one redirect URI');
  if (redirectUris.length > MAX_REDIRECT_URIS) throw invalidRedirect(`redirect_uris must list at most ${MAX_REDIRECT_URIS} redirect URIs`);
  (redirectUris as string[]).forEach((uri, i) => {
    if (uri.length > MAX_URL_LENGTH) throw invalidRedirect(`redirect_uris[${i}] is longer than ${MAX_URL_LENGTH} characters`);
    const problem = redirectUriProblem(uri);
    if (problem !== undefined) throw invalidRedirect(`redirect_uris[${i}] ${problem}`);
  });

  const method = has(doc, 'token_endpoint_auth_method') ? doc.token_endpoint_auth_method : 'none';
  if (method !== 'none' && method !== 'private_key_jwt') {
    throw invalidMetadata('token_endpoint_auth_method must be none or private_key_jwt: this server issues no client secret to an agent');
  }
  let jwks: string | null = null;
  let jwksUri: string | null = null;
  if (method === 'private_key_jwt') {
    if (has(doc, 'jwks') && has(doc, 'jwks_uri')) throw invalidMetadata('jwks and jwks_uri must not both be present (RFC 7591 §2)');
    if (has(doc, 'jwks')) jwks = publicKeySetJson(doc.jwks);
    else if (has(doc, 'jwks_uri')) jwksUri = httpsUrl(doc.jwks_uri, 'jwks_uri');
    else throw invalidMetadata('token_endpoint_auth_method private_key_jwt needs jwks_uri (https) or jwks with the public keys');
  }

  const grantTypes = stringList(doc, 'grant_types', ['authorization_code']);
  if (grantTypes.some((g) => g !== 'authorization_code' && g !== 'refresh_token')) {
    throw invalidMetadata('grant_types may only contain authorization_code and refresh_token');
  }
  if (!grantTypes.includes('authorization_code')) throw invalidMetadata('grant_types must include authorization_code');
  // RFC 7591 §2.1: authorization_code goes with the code response type; nothing else is offered.
  const responseTypes = stringList(doc, 'response_types', ['code']);
  if (responseTypes.some((r) => r !== 'code')) throw invalidMetadata('response_types may only contain code');

  let scope: string[] | null = null;
  if (has(doc, 'scope')) {
    if (typeof doc.scope !== 'string' || doc.scope.length > MAX_SCOPE_LENGTH || !SCOPE.test(doc.scope)) {
      throw invalidMetadata(`scope must be a space-separated list of scope tokens of at most ${MAX_SCOPE_LENGTH} characters`);
    }
    scope = [...new Set(doc.scope.split(' '))];
  }

  const metadata: ClientRegistrationMetadata = {};
  if (has(doc, 'client_uri')) metadata.clientUri = httpsUrl(doc.client_uri, 'client_uri');
  if (has(doc, 'logo_uri')) metadata.logoUri = httpsUrl(doc.logo_uri, 'logo_uri');
  if (has(doc, 'software_id')) metadata.softwareId = softwareText(doc.software_id, 'software_id');
  if (has(doc, 'software_version')) metadata.softwareVersion = softwareText(doc.software_version, 'software_version');

  return {
    redirectUris: [...new Set(redirectUris as string[])],
    tokenEndpointAuthMethod: method,
    jwksUri,
    jwks,
    grantTypes: [...new Set(grantTypes)] as RegistrationGrantType[],
    clientName: clientName(doc),
    scope,
    metadata,
  };
}

const { stringList, httpsUrl } = metadataFieldReaders(invalidMetadata, 10);

function softwareText(value: unknown, name: string): string {
  if (typeof value !== 'string' || value.length > MAX_SOFTWARE_TEXT || !SOFTWARE_TEXT.test(value)) {
    throw invalidMetadata(`${name} must be printable ASCII text of at most ${MAX_SOFTWARE_TEXT} characters`);
  }
  return value;
}

function clientName(doc: Record<string, unknown>): string | null {
  if (!has(doc, 'client_name')) return null;
  if (typeof doc.client_name !== 'string') throw invalidMetadata('client_name must be a string');
  const cleaned = doc.client_name.normalize('NFC').replace(UNSAFE_TEXT, '').replace(/\s+/g, ' ').trim();
  // Refused, not cut: cutting could hide the part of a name that gives a spoof away.
  if ([...cleaned].length > MAX_CLIENT_NAME_LENGTH) throw invalidMetadata(`client_name must be at most ${MAX_CLIENT_NAME_LENGTH} characters`);
  return cleaned === '' ? null : cleaned;
}

/** RFC 7591 §2 jwks: public keys only (the same rule as clients[].jwks in the configuration). Returns the set as JSON text. */
function publicKeySetJson(value: unknown): string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidMetadata('jwks must be a JSON Web Key Set object');
  const keys = (value as Record<string, unknown>).keys;
  if (!Array.isArray(keys) || keys.length === 0 || keys.length > MAX_KEYS) throw invalidMetadata(`jwks.keys must be an array of 1 to ${MAX_KEYS} keys`);
  keys.forEach((key, i) => {
    if (typeof key !== 'object' || key === null || Array.isArray(key) || typeof (key as Record<string, unknown>).kty !== 'string') {
      throw invalidMetadata(`jwks.keys[${i}] must be a JSON Web Key with a kty`);
    }
    const found = PRIVATE_JWK_MEMBERS.filter((m) => Object.hasOwn(key, m));
    if (found.length > 0) throw invalidMetadata(`jwks.keys[${i}] contains private or symmetric key material (${found.join(', ')}); register public keys only`);
  });
  return JSON.stringify({ keys });
}
