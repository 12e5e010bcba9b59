// The WWW-Authenticate challenge of every protected resource of this server: RFC 6750 §3 (Bearer),
// RFC 9449 §7.1 (DPoP, with `algs`), RFC 9728 §5.1 (`resource_metadata`, the URL of the
// resource's metadata document; sent only when the resource passes one).
//
// Every parameter value is an RFC 9110 §11.2 quoted-string: `"` and `\` are escaped as a
// quoted-pair, not dropped. A character no header field can carry (a control character other than
// HTAB) becomes a space. RFC 6750 §3 further limits error, error_description and scope to
// printable ASCII without `"` and `\`: the descriptions this server writes keep to that, and the
// escaping only guarantees that a value can never end the quoted-string early.
//
// The one error serializer (serializer.ts) writes these through the errors that carry a
// challenge (OAuthError.headers): the refusals of protected resources
// (src/oauth/resource-server/errors.ts) and client authentication's Basic challenge.
import type { ResourceAccessReason } from './catalogue.js';

/** The reasons of a request that carried no credentials: RFC 6750 §3.1, no error code in the challenge. */
export const NO_CREDENTIALS: readonly ResourceAccessReason[] = ['ERR_TOKEN_MISSING', 'ERR_TOKEN_SCHEME'];

export interface Challenge {
  scheme: 'Bearer' | 'DPoP';
  realm?: string;
  error?: string;
  errorDescription?: string;
  scope?: string;
  /** RFC 9449 §7.1: the JWS algorithms accepted for DPoP proofs. */
  algs?: readonly string[];
  /** RFC 9728 §5.1: the URL of the protected resource metadata. */
  resourceMetadata?: string;
}

/** RFC 9110 §11.2 quoted-string. */
export function quotedString(value: string): string {
  return `"${value.replace(/[\x00-\x08\x0A-\x1F\x7F]/g, ' ').replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

/** One challenge: the scheme, then realm, error, error_description, scope, algs, resource_metadata when present. */
export function buildChallenge(c: Challenge): string {
  const params: [string, string | undefined][] = [
    ['realm', c.realm], ['error', c.error], ['error_description', c.errorDescription], ['scope', c.scope],
    ['algs', c.algs?.join(' ')], ['resource_metadata', c.resourceMetadata],
  ];
  const parts = params.filter((p): p is [string, string] => p[1] !== undefined && p[1] !== '').map(([name, value]) => `${name}=${quotedString(value)}`);
  return parts.length ? `${c.scheme} ${parts.join(', ')}` : c.scheme;
}

/** What a protected resource adds to each of its challenges. */
export interface ResourceChallengeParams {
  /** RFC 6750 §3 realm; DPoP challenges carry none, like the examples of RFC 9449 §7.1. */
  realm?: string;
  /** The scope the resource needs: named when credentials are missing and for insufficient_scope. */
  scope?: string;
  /** RFC 9728 §5.1. */
  resourceMetadata?: string;
}

/** A refusal at a protected resource (ResourceAccessError and its subclasses). */
export interface Refusal {
  status: number;
  error: string;
  description: string;
  reason?: string;
  scheme?: 'Bearer' | 'DPoP';
  requiredScope?: string | undefined;
  /** RFC 9449 §7.1: the algorithms a DPoP refusal names. */
  algs?: readonly string[] | undefined;
}

/**
 * The WWW-Authenticate value for a refusal, or undefined when the refusal takes none (a 4xx or 5xx
 * other than 401 and insufficient_scope). RFC 6750 §3.1: "If the request lacks any authentication
 * information …, the resource server SHOULD NOT include an error code or other error information".
 */
export function challengeFor(refusal: Refusal, resource: ResourceChallengeParams): string | undefined {
  const resourceMetadata = resource.resourceMetadata !== undefined ? { resourceMetadata: resource.resourceMetadata } : {};
  if (refusal.scheme === 'DPoP') {
    return buildChallenge({ scheme: 'DPoP', error: refusal.error, errorDescription: refusal.description, ...(refusal.algs ? { algs: refusal.algs } : {}), ...resourceMetadata });
  }
  const realm = resource.realm !== undefined ? { realm: resource.realm } : {};
  if (refusal.error === 'insufficient_scope') {
    const scope = refusal.requiredScope ?? resource.scope;
    return buildChallenge({ scheme: 'Bearer', ...realm, error: refusal.error, errorDescription: refusal.description, ...(scope !== undefined ? { scope } : {}), ...resourceMetadata });
  }
  // RFC 9728 §5.1: a resource with published metadata points to it from every 401 and 403; a 403
  // other than insufficient_scope (a patient outside the token's compartment) names no error code.
  if (refusal.status === 403 && resource.resourceMetadata !== undefined) return buildChallenge({ scheme: 'Bearer', ...realm, ...resourceMetadata });
  if (refusal.status !== 401) return undefined;
  if (refusal.reason !== undefined && NO_CREDENTIALS.includes(refusal.reason as ResourceAccessReason)) {
    return buildChallenge({ scheme: 'Bearer', ...realm, ...(resource.scope !== undefined ? { scope: resource.scope } : {}), ...resourceMetadata });
  }
  return buildChallenge({ scheme: 'Bearer', ...realm, error: refusal.error, errorDescription: refusal.description, ...resourceMetadata });
}
