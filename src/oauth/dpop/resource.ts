// DPoP at a protected resource (RFC 9449 §7): after the access token itself is
// verified (signature, issuer, audience, expiry, revocation), this decides whether the way it was
// presented matches its binding.
//
//   token with cnf.jkt   + `Authorization: DPoP …` + one valid proof with ath, same key → ok
//   token with cnf.jkt   + `Authorization: Bearer …`                                    → refused (§7.2)
//   token without cnf    + `Authorization: DPoP …`                                      → refused (§7.1)
//   token without cnf    + `Authorization: Bearer …`                                    → ok, unbound
//
// This is the last step of the protected-resource authenticator
// (src/oauth/resource-server/authenticator.ts). Deliberately not done here: parsing the
// Authorization header (the caller knows the scheme), verifying the token, and sending the
// response. The error is a ResourceAccessError with the DPoP scheme and, for use_dpop_nonce, the
// DPoP-Nonce value.
import type { ReplayStore } from '../../storage/types.js';
import { DpopError } from './errors.js';
import type { DpopNoncePolicy } from '../../crypto/dpop-nonce.js';
import { DPOP_ALGORITHMS, verifyDpopProof } from './proof.js';
import { challengeFor } from '../../errors/challenge.js';
import { ResourceAccessError } from '../resource-server/errors.js';

export interface DpopResourceRequest {
  method: string;
  /** The absolute URL the client addressed (the public one, not the upstream's); query is ignored. */
  url: string;
  /** The Authorization scheme the token came with (compare case-insensitively before calling). */
  scheme: 'Bearer' | 'DPoP';
  /** The access token exactly as presented. */
  accessToken: string;
  /** Every DPoP header field value (IncomingMessage.headersDistinct.dpop). */
  dpop: string | readonly string[] | undefined;
}

export interface DpopResourceOptions {
  /** Epoch milliseconds. */
  now: number;
  /** The shared jti cache (ctx.storage.replay). */
  replay: Pick<ReplayStore, 'useOnce'>;
  /** The resource server's nonce policy (§9), if it uses nonces. */
  nonce?: DpopNoncePolicy;
}

export type DpopResourceResult = { bound: false } | { bound: true; jkt: string };

export type DpopResourceErrorCode = 'invalid_token' | 'invalid_dpop_proof' | 'use_dpop_nonce';

const REASON = { invalid_token: 'ERR_DPOP_BINDING', invalid_dpop_proof: 'ERR_DPOP_PROOF', use_dpop_nonce: 'ERR_DPOP_NONCE' } as const;

/** A refusal: 401 with a DPoP challenge (and DPoP-Nonce when nonce is set). */
export class DpopResourceError extends ResourceAccessError {
  override name = 'DpopResourceError';
  declare readonly error: DpopResourceErrorCode;
  constructor(error: DpopResourceErrorCode, description: string, nonce?: string, detail?: string) {
    super(error, description, REASON[error], { status: 401, scheme: 'DPoP', algs: DPOP_ALGORITHMS, ...(nonce !== undefined ? { nonce } : {}), ...(detail !== undefined ? { detail } : {}) });
  }

  /** RFC 9449 §7.1: the DPoP scheme, the error and the accepted algorithms. */
  get challenge(): string {
    return challengeFor(this, {})!;
  }
}

/** The `cnf.jkt` of verified access-token claims, if the token is DPoP-bound (RFC 9449 §6.1). */
export function boundJkt(claims: { cnf?: unknown }): string | undefined {
  const cnf = claims.cnf;
  if (cnf === null || typeof cnf !== 'object') return undefined;
  const jkt = (cnf as { jkt?: unknown }).jkt;
  return typeof jkt === 'string' ? jkt : undefined;
}

export async function verifyDpopForResource(
  req: DpopResourceRequest,
  claims: { cnf?: unknown },
  options: DpopResourceOptions,
): Promise<DpopResourceResult> {
  const jkt = boundJkt(claims);
  if (jkt === undefined) {
    // §7.1: the DPoP scheme asserts a binding the token does not have.
    if (req.scheme === 'DPoP') throw new DpopResourceError('invalid_token', 'the access token is not DPoP-bound; present it as a Bearer token');
    return { bound: false };
  }
  // §7.2: "a protected resource … MUST NOT accept a DPoP-bound access token as a bearer token".
  if (req.scheme !== 'DPoP') throw new DpopResourceError('invalid_token', 'the access token is DPoP-bound; present it with the DPoP scheme and a proof');
  if (req.dpop === undefined || (typeof req.dpop !== 'string' && req.dpop.length === 0)) {
    throw new DpopResourceError('invalid_dpop_proof', 'a DPoP proof is required for this access token');
  }
  let proofJkt: string;
  try {
    ({ jkt: proofJkt } = await verifyDpopProof({
      proof: req.dpop, method: req.method, url: req.url, accessToken: req.accessToken, nonce: options.nonce, now: options.now, replay: options.replay,
    }));
  } catch (err) {
    if (err instanceof DpopError) throw new DpopResourceError(err.dpopError, err.description, err.nonce, err.detail);
    throw err;
  }
  // §7.1: "the public key from the DPoP proof matches the public key to which the access token is bound".
  if (proofJkt !== jkt) throw new DpopResourceError('invalid_token', 'the DPoP proof key is not the key the access token is bound to');
  return { bound: true, jkt };
}
