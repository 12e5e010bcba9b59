// DPoP at this authorization server's own endpoints (/token, /par): reading the DPoP header,
// the server nonce policy (RFC 9449 §8, `dpop.require_nonce`) and the binding of authorization
// codes to a DPoP key (§10, the `dpop_jkt` parameter).
//
// The code binding is kept beside the code rather than inside it: codes are issued by the
// interaction pages (src/interaction/complete.ts), which copy named request fields only. The
// binding is keyed by the client and the PKCE code_challenge, which the code carries and which is
// fresh per authorization request (RFC 7636 §4.1); a second request reusing a challenge with
// another key is refused.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { keyedDigest } from '../../crypto/digest.js';
import type { AppContext } from '../../context/app-context.js';
import { DpopError } from './errors.js';
import type { DerivedKeys } from '../../crypto/derived-keys.js';
import { createDpopNonces, type DpopNoncePolicy } from '../../crypto/dpop-nonce.js';
import type { CaduceusConfig } from '../../config/schema.js';
import { verifyDpopProof, type VerifiedDpopProof } from './proof.js';

/** A code binding outlives every code it can apply to: PAR (≤ 10 min) + interaction (10 min) + code (≤ 60 s). */
const CODE_BINDING_TTL_MS = 30 * 60 * 1000;

/**
 * The server nonce policy, or undefined when `dpop.require_nonce` is off (no nonce is ever handed
 * out then). Built once per server by the composition root (createDpopServerNonces).
 */
export function serverNoncePolicy(ctx: AppContext): DpopNoncePolicy | undefined {
  return ctx.dpopNonces;
}

/** The nonce policy of a server with this configuration and derived keys (src/server/start.ts createContext). */
export function createDpopServerNonces(dpop: CaduceusConfig['dpop'], keys: DerivedKeys): DpopNoncePolicy | undefined {
  if (!dpop.require_nonce) return undefined;
  return createDpopNonces(keys.get('dpop-nonce'), { required: true, lifetimeSeconds: dpop.nonce_lifetime });
}

/**
 * Verifies the request's DPoP proof for `endpoint` (the public URL, built from the issuer) and
 * resolves its key, or undefined when the request has no DPoP header.
 */
export async function dpopProofAt(ctx: AppContext, req: FastifyRequest, endpoint: string): Promise<VerifiedDpopProof | undefined> {
  const values = req.raw.headersDistinct?.dpop ?? (req.headers.dpop !== undefined ? [String(req.headers.dpop)] : undefined);
  if (values === undefined || values.length === 0) return undefined;
  return verifyDpopProof({ proof: values, method: req.method, url: endpoint, nonce: serverNoncePolicy(ctx), now: ctx.now(), replay: ctx.storage.replay });
}

/** RFC 9449 §8.2: a fresh nonce on successful responses too, so the client's next proof can carry it. */
export function sendFreshNonce(ctx: AppContext, reply: FastifyReply): void {
  const policy = serverNoncePolicy(ctx);
  if (policy) reply.header('dpop-nonce', policy.issue(ctx.now()));
}

/** Puts the nonce of a use_dpop_nonce error on the response (§8: "DPoP-Nonce" header). */
export function sendErrorNonce(reply: FastifyReply, err: unknown): void {
  if (err instanceof DpopError && err.nonce !== undefined) reply.header('dpop-nonce', err.nonce);
}

function codeBindingKey(ctx: AppContext, clientId: string, codeChallenge: string): string {
  return keyedDigest(ctx.derivedKeys.get('dpop-code-binding'), `${clientId}\n${codeChallenge}`);
}

/**
 * RFC 9449 §10: the codes of this authorization request may be redeemed only with a proof by
 * this key. Resolves false when the challenge is already bound to another key.
 */
export function bindCodeToDpopKey(ctx: AppContext, clientId: string, codeChallenge: string, jkt: string): Promise<boolean> {
  const now = ctx.now();
  return ctx.storage.dpopCodeBindings.bind(codeBindingKey(ctx, clientId, codeChallenge), jkt, now + CODE_BINDING_TTL_MS, now);
}

/** The DPoP key a code of this client and challenge is bound to, if any. */
export function boundCodeKey(ctx: AppContext, clientId: string, codeChallenge: string): Promise<string | undefined> {
  return ctx.storage.dpopCodeBindings.get(codeBindingKey(ctx, clientId, codeChallenge), ctx.now());
}
