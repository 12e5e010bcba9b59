// Pushed authorization requests, RFC 9126. POST /par takes the authorization request parameters
// with client authentication, validates them exactly as /authorize does (but answers errors as
// JSON, §2.3), stores the request and returns a one-time request_uri (§2.2). /authorize then
// redeems it with redeemPushedRequest.
//
// Also here: binding the request's codes to a DPoP key (RFC 9449 §10.1), from `dpop_jkt` or from
// a DPoP proof sent with the push.
import { findClient } from '../clients.js';
import { ClientMetadataError } from '../client-metadata/errors.js';
import type { FastifyInstance } from 'fastify';
import { OAuthError, invalidRequest } from '../../errors/oauth-error.js';
import { formParams, requestMeta } from '../../http/request-info.js';
import { enforceTokenEndpointRateLimit } from '../../http/request-rate-limits.js';
import { openJson, sealJson } from '../../crypto/envelope.js';
import { keyedDigest } from '../../crypto/digest.js';
import { randomToken } from '../../crypto/random.js';
import { authenticateClient } from '../client-auth/index.js';
import { presentedClientId } from '../client-auth/throttle.js';
import {
  RedirectableError, UntrustedRedirectError, attachLaunchContext, checkAuthorizationParams, checkClientAndRedirect, type AuthorizationRequest,
} from '../authorization-request.js';
import { DpopError } from '../dpop/errors.js';
import { bindCodeToDpopKey, dpopProofAt, sendErrorNonce, sendFreshNonce } from '../dpop/server.js';
import type { Params } from '../checks/duplicate-params.js';
import type { AppContext } from '../../context/app-context.js';
import type { ClientRecord } from '../../storage/types.js';

/** RFC 9126 §2.2: "urn:ietf:params:oauth:request_uri:" followed by a value the client cannot guess. */
export const REQUEST_URI_PREFIX = 'urn:ietf:params:oauth:request_uri:';
const REQUEST_URI = /^urn:ietf:params:oauth:request_uri:[A-Za-z0-9_-]{43}$/;
/** Client authentication parameters: checked by authenticateClient, never part of the request. */
const CLIENT_AUTH_PARAMS = ['client_secret', 'client_assertion', 'client_assertion_type'];

/** Stored by keyed digest of the client id and the request_uri: the value is never stored, and it only exists for its client. */
export function requestUriDigest(ctx: AppContext, clientId: string, requestUri: string): string {
  return keyedDigest(ctx.derivedKeys.get('par-request-uri'), `${clientId}\n${requestUri}`);
}

/**
 * RFC 9449 §10: the codes of this request may be redeemed only with a proof by its dpopJkt key.
 * Throws invalid_request when its PKCE challenge is already bound to another key.
 */
export async function bindRequestToDpopKey(ctx: AppContext, request: AuthorizationRequest): Promise<void> {
  if (request.dpopJkt === undefined) return;
  if (!(await bindCodeToDpopKey(ctx, request.clientId, request.codeChallenge, request.dpopJkt))) {
    throw invalidRequest('this code_challenge is already bound to another DPoP key; use a fresh code_challenge');
  }
}

export function registerParEndpoint(app: FastifyInstance, ctx: AppContext): void {
  const endpoint = `${ctx.config.issuer}/par`;
  app.post('/par', async (req, reply) => {
    const meta = requestMeta(req);
    const params = formParams(req);
    await enforceTokenEndpointRateLimit(ctx, req, reply, presentedClientId(req.headers.authorization, params), 'par');
    // §2.1: "the request also includes … client authentication"; a confidential client must authenticate.
    const client = await authenticateClient(ctx, { authorization: req.headers.authorization, params, endpoint, ...meta });
    try {
      // §2.1: "The request_uri authorization request parameter is one exception, and it MUST NOT be provided."
      if (params.request_uri !== undefined) throw invalidRequest('request_uri must not be sent to the pushed authorization request endpoint');
      const request = await validatePushedRequest(ctx, client, params);
      const proof = await dpopProofAt(ctx, req, endpoint);
      // RFC 9449 §10.1: a proof sent with the push binds the codes too; with dpop_jkt as well, both must name the same key.
      if (proof) {
        if (request.dpopJkt !== undefined && request.dpopJkt !== proof.jkt) {
          throw new DpopError('invalid_dpop_proof', 'dpop_jkt does not match the key of the DPoP proof');
        }
        request.dpopJkt = proof.jkt;
      }
      await bindRequestToDpopKey(ctx, request);

      const now = ctx.now();
      const ttl = ctx.config.par.request_uri_ttl;
      const requestUri = `${REQUEST_URI_PREFIX}${randomToken(32)}`;
      const digest = requestUriDigest(ctx, client.clientId, requestUri);
      await ctx.storage.pushedRequests.save({
        digest, clientId: client.clientId, sealed: sealJson(ctx.masterKey, request, digest), createdAt: now, expiresAt: now + ttl * 1000, consumedAt: null,
      });
      reply.code(201).header('cache-control', 'no-store').header('pragma', 'no-cache');
      if (proof) sendFreshNonce(ctx, reply);
      // §2.2: "expires_in … the lifetime of the request URI in seconds".
      return { request_uri: requestUri, expires_in: ttl };
    } catch (err) {
      sendErrorNonce(reply, err);
      if (err instanceof OAuthError && !(err instanceof DpopError && err.dpopError === 'use_dpop_nonce')) {
        await ctx.audit.record({
          type: 'authz.denied', actor: { clientId: client.clientId }, outcome: 'denied', reason: err.error, action: 'par',
          requestId: meta.requestId, sourceAddress: meta.sourceAddress,
        });
      }
      throw err;
    }
  });
}

/**
 * The pushed parameters, validated like a front-channel request, redirect URI first; every problem
 * becomes a JSON error (§2.3). FAPI 2.0 §5.3.2.2: "shall require the redirect_uri parameter in
 * pushed authorization requests"; it must be registered like at /authorize.
 */
async function validatePushedRequest(ctx: AppContext, client: ClientRecord, params: Params): Promise<AuthorizationRequest> {
  const own = authorizationParams(client, params);
  try {
    const { redirectUri } = await checkClientAndRedirect(ctx, own);
    const request = await checkAuthorizationParams(ctx, client, redirectUri, own);
    return await attachLaunchContext(ctx, request, own);
  } catch (err) {
    if (err instanceof UntrustedRedirectError) throw invalidRequest(err.description);
    if (err instanceof RedirectableError) throw err.oauth;
    throw err;
  }
}

function authorizationParams(client: ClientRecord, params: Params): Params {
  const own: Params = Object.create(null);
  for (const [name, value] of Object.entries(params)) if (!CLIENT_AUTH_PARAMS.includes(name)) own[name] = value;
  // With client_secret_basic or private_key_jwt the body may lack client_id; authentication named the client.
  own.client_id = client.clientId;
  return own;
}

/**
 * /authorize with a request_uri: the pushed request, used once (RFC 9126 §4), only by the client
 * that pushed it, before it expires. Every problem is shown on our own error page: the redirect
 * URI of an unknown request cannot be trusted.
 */
export async function redeemPushedRequest(ctx: AppContext, params: Params): Promise<{ client: ClientRecord; request: AuthorizationRequest }> {
  if (params.client_id === undefined) throw new UntrustedRedirectError('The request has no client_id.');
  let client: ClientRecord | undefined;
  try {
    client = await findClient(ctx, params.client_id);
  } catch (err) {
    if (err instanceof ClientMetadataError) throw new UntrustedRedirectError(`The application's metadata document cannot be used: ${err.description}.`);
    throw err;
  }
  if (!client) throw new UntrustedRedirectError('The application that sent you here is not registered.');
  const requestUri = params.request_uri ?? '';
  if (!REQUEST_URI.test(requestUri)) throw new UntrustedRedirectError('The request_uri was not issued by this server.');
  const now = ctx.now();
  const consumed = await ctx.storage.pushedRequests.consume(requestUriDigest(ctx, client.clientId, requestUri), now);
  if (consumed.status === 'unknown') throw new UntrustedRedirectError('This sign-in request is not known for this application.');
  if (consumed.status === 'replayed') throw new UntrustedRedirectError('This sign-in request was already used. Start again from the application.');
  if (consumed.record.expiresAt <= now) throw new UntrustedRedirectError('This sign-in request has expired. Start again from the application.');
  return { client, request: openJson<AuthorizationRequest>(ctx.masterKey, consumed.record.sealed, consumed.record.digest) };
}
