// Validation of an authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3, RFC 8707 §2, OIDC Core
// §3.1.2.1). Two phases: client_id and redirect_uri are checked first, and while either is bad the
// user sees an error page and is never redirected (RFC 6749 §4.1.2.1, RFC 9700 §4.11). After
// that, errors go back to the client's redirect URI with state and iss (RFC 9207).
import { OAuthError, invalidRequest, unauthorizedClient } from '../errors/oauth-error.js';
import { checkCodeChallenge } from './checks/pkce.js';
import { redirectUriMatches } from './checks/redirect-uri.js';
import { checkRequestedScopes, formatScope, parseScope } from './checks/scope.js';
import { resolveResource } from './checks/resource-indicator.js';
import type { Params } from './checks/duplicate-params.js';
import type { AppContext } from '../context/app-context.js';
import type { ClientRecord, LaunchContext } from '../storage/types.js';
import { redeemLaunch } from '../smart/launch-context.js';
import { findClient, loadAgentPolicy } from './clients.js';
import { ClientMetadataError } from './client-metadata/errors.js';

export interface AuthorizationRequest {
  clientId: string;
  redirectUri: string;
  state: string | null;
  scope: string;
  resource: string;
  codeChallenge: string;
  nonce: string | null;
  prompt: string[];
  /** RFC 9449 §10: the codes of this request are bound to the DPoP key with this thumbprint. */
  dpopJkt?: string;
  /** SMART EHR launch: the context redeemed from the `launch` parameter. */
  launch?: LaunchContext;
}

/** An error shown on our own page: the redirect URI could not be trusted. */
export class UntrustedRedirectError extends Error {
  constructor(readonly description: string) {
    super(description);
  }
}

/** An error sent back to the (verified) redirect URI. */
export class RedirectableError extends Error {
  constructor(readonly oauth: OAuthError, readonly redirectUri: string, readonly state: string | null) {
    super(oauth.message);
  }
}

export async function checkClientAndRedirect(ctx: AppContext, params: Params): Promise<{ client: ClientRecord; redirectUri: string }> {
  if (params.client_id === undefined) throw new UntrustedRedirectError('The request has no client_id.');
  if (params.redirect_uri === undefined) throw new UntrustedRedirectError('The request has no redirect_uri.');
  let client: ClientRecord | undefined;
  try {
    client = await findClient(ctx, params.client_id, { redirectUri: params.redirect_uri });
  } catch (err) {
    // A metadata document that cannot be fetched or does not list this redirect URI: never redirect.
    if (err instanceof ClientMetadataError) throw new UntrustedRedirectError(`The application's metadata document cannot be used: ${err.description}.`);
    throw err;
  }
  if (!client) throw new UntrustedRedirectError('The application that sent you here is not registered.');
  if (!redirectUriMatches(client.redirectUris, params.redirect_uri)) {
    throw new UntrustedRedirectError('The redirect address is not registered for this application.');
  }
  return { client, redirectUri: params.redirect_uri };
}

const PROMPTS = new Set(['none', 'login', 'consent']);

export async function checkAuthorizationParams(ctx: AppContext, client: ClientRecord, redirectUri: string, params: Params): Promise<AuthorizationRequest> {
  const state = params.state ?? null;
  try {
    if (params.request !== undefined) throw new OAuthError('invalid_request', 'request objects are not supported', undefined, 400);
    if (params.request_uri !== undefined) throw new OAuthError('invalid_request', 'request_uri is not supported', undefined, 400);
    if (params.response_type === undefined) throw invalidRequest('response_type is required');
    // OAuth 2.1 §4.1.1 and RFC 9700 §2.1.2: only the code flow; no implicit, no hybrid.
    if (params.response_type !== 'code') throw new OAuthError('unsupported_response_type', 'only response_type=code is supported');
    if (params.response_mode !== undefined && params.response_mode !== 'query') throw invalidRequest('only response_mode=query is supported');
    if (!client.grantTypes.includes('authorization_code')) throw unauthorizedClient('this client may not use the authorization code flow');
    const codeChallenge = checkCodeChallenge(params.code_challenge, params.code_challenge_method);
    let requested = parseScope(params.scope);
    if (requested.length === 0) throw new OAuthError('invalid_scope', 'scope is required');
    const resource = resolveResource(client, params.resource ?? params.aud);
    // A self-registered AI agent gets what the agent policy allows, whatever it asks for: by
    // default read-only patient/ scopes, no offline_access; an administrator's approval widens it.
    const policy = await loadAgentPolicy(ctx, client);
    if (policy?.refusal) throw unauthorizedClient(policy.refusal.description);
    if (policy) {
      requested = policy.allowedScopes(requested);
      if (requested.length === 0) throw new OAuthError('invalid_scope', 'none of the requested scopes may be granted to this AI agent');
    }
    checkRequestedScopes(requested, policy ? requested : parseScope(client.scope), ctx.resources.get(resource)?.scopes);
    const prompt = (params.prompt ?? '').split(' ').filter(Boolean);
    for (const p of prompt) if (!PROMPTS.has(p)) throw invalidRequest('unsupported prompt value');
    if (prompt.includes('none') && prompt.length > 1) throw invalidRequest('prompt=none cannot be combined with other values');
    if (params.nonce !== undefined && params.nonce.length > 255) throw invalidRequest('nonce is too long');
    if (state !== null && state.length > 2048) throw invalidRequest('state is too long');
    // RFC 9449 §10: dpop_jkt is the base64url SHA-256 JWK thumbprint (RFC 7638) of the client's DPoP key.
    if (params.dpop_jkt !== undefined && !/^[A-Za-z0-9_-]{43}$/.test(params.dpop_jkt)) throw invalidRequest('dpop_jkt must be a base64url SHA-256 JWK thumbprint');
    return {
      clientId: client.clientId, redirectUri, state, scope: formatScope(requested), resource, codeChallenge, nonce: params.nonce ?? null, prompt,
      ...(params.dpop_jkt !== undefined ? { dpopJkt: params.dpop_jkt } : {}),
    };
  } catch (err) {
    if (err instanceof OAuthError) throw new RedirectableError(err, redirectUri, state);
    throw err;
  }
}

/** SMART EHR launch: redeems the `launch` parameter into the request (once; see src/smart/launch-context.ts). */
export async function attachLaunchContext(ctx: AppContext, request: AuthorizationRequest, params: Params): Promise<AuthorizationRequest> {
  if (params.launch === undefined) return request;
  const launch = await redeemLaunch(ctx, request.clientId, params.launch, request.scope.split(' '));
  return { ...request, launch };
}

/** The redirect back to the client, with RFC 9207 `iss` on success and on error. */
export function clientRedirect(ctx: AppContext, redirectUri: string, values: Record<string, string | null | undefined>): string {
  const url = new URL(redirectUri);
  for (const [k, v] of Object.entries(values)) if (v !== null && v !== undefined) url.searchParams.set(k, v);
  url.searchParams.set('iss', ctx.config.issuer);
  return url.href;
}
