// What a Client ID Metadata Document may say, checked before anything in it is used. Pure.
// draft-ietf-oauth-client-id-metadata-document (section numbers of -02; -03 keeps the titles):
// - §4: the document "MUST contain a client_id property whose value MUST match the Client
//   Identifier URL, which MUST also match the URL that the authorization server used to fetch the
//   document; comparisons MUST be made using simple string comparison" (RFC 3986 §6.2.1).
// - §4.1 Credential and Key Material Restrictions: token_endpoint_auth_method "MUST NOT include
//   client_secret_post, client_secret_basic, client_secret_jwt, or any other method based around a
//   shared symmetric secret"; "the client_secret and client_secret_expires_at properties MUST NOT
//   be used"; "private key material MUST NOT be included"; only public keys (jwks / jwks_uri).
// - §4.2 Redirect URL Registration: the redirect URL of a request must be "an exact match, using
//   simple string comparison, of a registered redirect URL" (RFC 9700 §4.1.3). Each registered one
//   must also pass this server's redirect URI rules (src/oauth/checks/redirect-uri.ts).
// - §8.6: "only fetch or parse URLs with known and supported URI schemes": every URL in the
//   document that this server keeps is https (client_uri, logo_uri, policy_uri, tos_uri, jwks_uri).
// This server's profile, on top (§4 lets a server restrict documents further): the client is public
// (`none`, also when token_endpoint_auth_method is absent, since RFC 7591's default
// client_secret_basic cannot exist here) or `private_key_jwt` with jwks_uri or jwks (RFC 7523 §2.2,
// §8.2); grant_types ⊆ {authorization_code, refresh_token} and must include authorization_code;
// response_types ⊆ {code}; bounded sizes; client_name cleaned of control and bidirectional
// formatting characters (a name cannot reorder the text around it on the consent page) and refused,
// not cut, when too long (cutting could hide the part that gives a spoof away).
//
// Descriptions name the field and never echo a value from the document. Unknown members are
// ignored (§4: a document "MAY define additional properties"); nothing unknown is kept.
// Deliberately not checked here: the request's redirect URI (checkMetadataRedirectUri below, per
// request), the scope the client may get (the self-registered agent policy decides; `scope` is only
// what the document asks for), what a jwks_uri serves (fetched and checked when a token request
// needs it), and the relation of redirect URIs to the client_id's origin (§8.1: MAY; not imposed).
import { metadataFieldReaders } from './fields.js';
import { redirectUriMatches, redirectUriProblem } from '../checks/redirect-uri.js';
import { ClientMetadataError } from './errors.js';
import { MAX_URL_LENGTH } from './client-id-url.js';

export type MetadataGrantType = 'authorization_code' | 'refresh_token';
export type MetadataAuthMethod = 'none' | 'private_key_jwt';

/** A validated document, in domain (camelCase) names. */
export interface ClientMetadata {
  /** The Client Identifier URL: the document's client_id, equal to the URL fetched. */
  clientId: string;
  /** client_name, cleaned; null when absent or empty (show the client_id's host instead). */
  name: string | null;
  redirectUris: string[];
  grantTypes: MetadataGrantType[];
  tokenEndpointAuthMethod: MetadataAuthMethod;
  /** private_key_jwt: the https URL of the client's public keys (or null when `jwks` is inline). */
  jwksUri: string | null;
  /** private_key_jwt: the inline public key set as JSON text (like ClientRecord.jwks), or null. */
  jwks: string | null;
  /** The scope string the document asks for, if any; a request, never a grant. */
  scope: string | null;
  clientUri: string | null;
  logoUri: string | null;
  policyUri: string | null;
  tosUri: string | null;
}

export const MAX_REDIRECT_URIS = 20;
export const MAX_CLIENT_NAME_LENGTH = 100;
const MAX_SCOPE_LENGTH = 2000;
const MAX_KEYS = 10;
/** RFC 7591 §2 / RFC 7592: members that carry a server-issued or shared credential. */
const CREDENTIAL_MEMBERS = ['client_secret', 'client_secret_expires_at', 'registration_access_token'];
/** RFC 7518 §6.2.2, §6.3.2 (private EC/OKP/RSA parts) and §6.4.1 (`k`, a symmetric key). */
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
/** RFC 6749 §3.3 scope-token characters, space-separated. */
const SCOPE = /^[\x21\x23-\x5B\x5D-\x7E]+(?: [\x21\x23-\x5B\x5D-\x7E]+)*$/;
/** C0 and C1 controls, and the bidirectional formatting characters (Unicode UAX #9). */
const UNSAFE_TEXT = /[\u0000-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/g;

const invalid = (description: string, detail?: string) =>
  new ClientMetadataError('invalid_document', `client metadata document: ${description}`, detail);

const has = (doc: Record<string, unknown>, name: string) => Object.hasOwn(doc, name);

/**
 * Checks a fetched document against the URL it was fetched from and returns what this server
 * keeps of it. Throws ClientMetadataError('invalid_document') naming the first field at fault.
 */
export function validateClientMetadataDocument(fetchedFrom: string, document: unknown): ClientMetadata {
  if (typeof document !== 'object' || document === null || Array.isArray(document)) throw invalid('must be a JSON object');
  const doc = document as Record<string, unknown>;

  // §4: simple string comparison, no normalization.
  if (!has(doc, 'client_id') || doc.client_id !== fetchedFrom) throw invalid('client_id must equal the URL the document was fetched from');

  // §4.1: no shared secrets, ever.
  for (const name of CREDENTIAL_MEMBERS) {
    if (has(doc, name)) throw invalid(`${name} must not be present: a metadata document cannot carry a client secret or other credential`);
  }

  const method = has(doc, 'token_endpoint_auth_method') ? doc.token_endpoint_auth_method : 'none';
  if (method !== 'none' && method !== 'private_key_jwt') {
    throw invalid('token_endpoint_auth_method must be none or private_key_jwt; shared-secret and other methods are not accepted');
  }

  const jwks = has(doc, 'jwks') ? publicKeySetJson(doc.jwks, 'jwks') : null;
  const jwksUri = has(doc, 'jwks_uri') ? httpsUrl(doc.jwks_uri, 'jwks_uri') : null;
  if (jwks !== null && jwksUri !== null) throw invalid('jwks and jwks_uri must not both be present (RFC 7591 §2)');
  if (method === 'private_key_jwt' && jwks === null && jwksUri === null) {
    throw invalid('token_endpoint_auth_method private_key_jwt needs jwks_uri (https) or jwks with the public keys');
  }

  const grantTypes = stringList(doc, 'grant_types', ['authorization_code']);
  if (grantTypes.some((g) => g !== 'authorization_code' && g !== 'refresh_token')) {
    throw invalid('grant_types may only contain authorization_code and refresh_token');
  }
  if (!grantTypes.includes('authorization_code')) throw invalid('grant_types must include authorization_code');
  const responseTypes = stringList(doc, 'response_types', ['code']);
  if (responseTypes.some((r) => r !== 'code')) throw invalid('response_types may only contain code');

  if (!has(doc, 'redirect_uris')) throw invalid('redirect_uris is required');
  const redirectUris = stringList(doc, 'redirect_uris', []);
  if (redirectUris.length === 0) throw invalid('redirect_uris must list at least one redirect URI');
  if (redirectUris.length > MAX_REDIRECT_URIS) throw invalid(`redirect_uris must list at most ${MAX_REDIRECT_URIS} redirect URIs`);
  redirectUris.forEach((uri, i) => {
    if (uri.length > MAX_URL_LENGTH) throw invalid(`redirect_uris[${i}] is longer than ${MAX_URL_LENGTH} characters`);
    const problem = redirectUriProblem(uri);
    if (problem !== undefined) throw invalid(`redirect_uris[${i}] ${problem}`);
  });

  let scope: string | null = null;
  if (has(doc, 'scope')) {
    if (typeof doc.scope !== 'string' || doc.scope.length > MAX_SCOPE_LENGTH || !SCOPE.test(doc.scope)) {
      throw invalid(`scope must be a space-separated list of scope tokens of at most ${MAX_SCOPE_LENGTH} characters`);
    }
    scope = doc.scope;
  }

  return {
    clientId: fetchedFrom,
    name: clientName(doc),
    redirectUris: [...new Set(redirectUris)],
    grantTypes: [...new Set(grantTypes)] as MetadataGrantType[],
    tokenEndpointAuthMethod: method,
    jwksUri: method === 'private_key_jwt' ? jwksUri : null,
    jwks: method === 'private_key_jwt' ? jwks : null,
    scope,
    clientUri: has(doc, 'client_uri') ? httpsUrl(doc.client_uri, 'client_uri') : null,
    logoUri: has(doc, 'logo_uri') ? httpsUrl(doc.logo_uri, 'logo_uri') : null,
    policyUri: has(doc, 'policy_uri') ? httpsUrl(doc.policy_uri, 'policy_uri') : null,
    tosUri: has(doc, 'tos_uri') ? httpsUrl(doc.tos_uri, 'tos_uri') : null,
  };
}

/**
 * §4.2, RFC 9700 §4.1.3: the request's redirect_uri must be one of the document's, compared as
 * strings. Deliberately exact: no port variation for loopback (RFC 8252 §7.3), which the statically
 * registered clients get through redirectUriMatches; a native agent lists the URI it uses.
 */
export function checkMetadataRedirectUri(metadata: Pick<ClientMetadata, 'redirectUris'>, redirectUri: string): void {
  if (!metadata.redirectUris.includes(redirectUri)) {
    throw new ClientMetadataError('redirect_uri_not_registered', 'redirect_uri is not one of the redirect_uris of the client metadata document',
      redirectUriMatches(metadata.redirectUris, redirectUri) ? 'differs only in the loopback port' : undefined);
  }
}

const { stringList, httpsUrl } = metadataFieldReaders(invalid, 50);

function clientName(doc: Record<string, unknown>): string | null {
  if (!has(doc, 'client_name')) return null;
  if (typeof doc.client_name !== 'string') throw invalid('client_name must be a string');
  const cleaned = doc.client_name.normalize('NFC').replace(UNSAFE_TEXT, '').replace(/\s+/g, ' ').trim();
  if ([...cleaned].length > MAX_CLIENT_NAME_LENGTH) throw invalid(`client_name must be at most ${MAX_CLIENT_NAME_LENGTH} characters`);
  return cleaned === '' ? null : cleaned;
}

/**
 * §4.1: public keys only. Returns the set as JSON text. `name` is how the description calls the
 * value (jwks in a document, or the key set fetched from a jwks_uri).
 */
export function publicKeySetJson(value: unknown, name: string): string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(`${name} must be a JSON Web Key Set object`);
  const keys = (value as Record<string, unknown>).keys;
  if (!Array.isArray(keys) || keys.length === 0 || keys.length > MAX_KEYS) throw invalid(`${name}.keys must be an array of 1 to ${MAX_KEYS} keys`);
  keys.forEach((key, i) => {
    if (typeof key !== 'object' || key === null || Array.isArray(key) || typeof (key as Record<string, unknown>).kty !== 'string') {
      throw invalid(`${name}.keys[${i}] must be a JSON Web Key with a kty`);
    }
    const found = PRIVATE_JWK_MEMBERS.filter((m) => Object.hasOwn(key, m));
    if (found.length > 0) throw invalid(`${name}.keys[${i}] contains private or symmetric key material (${found.join(', ')}); publish public keys only`);
  });
  return JSON.stringify({ keys });
}
