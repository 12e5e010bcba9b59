// DPoP proof verification: RFC 9449 §4.3 "Checking DPoP Proofs", with the FAPI 2.0 clock rule
// (§5.3.2.1: accept iat up to 10 s in the future, refuse proofs older than 60 s).
//
// One operation, used by the token endpoint, the PAR endpoint and the resource-server helper
// (resource.ts). It reads no configuration and no HTTP request: the caller passes the method and
// the URL the client addressed, the server nonce policy and the replay store.
//
// Order: the JOSE header is checked (typ, alg, jwk) before any key is used; the signature is
// verified before any claim is read; the jti is recorded last, so a proof refused for another
// reason does not fill the replay cache.
//
// Deliberately not checked here: whether the key is the one a token or code is bound to (the
// caller compares the returned jkt), and whether DPoP was required at all.
import { createHash } from 'node:crypto';
import { EmbeddedJWK, calculateJwkThumbprint, decodeProtectedHeader, jwtVerify, type JWK, type JWTPayload } from 'jose';
import { constantTimeEqual } from '../../crypto/digest.js';
import type { ReplayStore } from '../../storage/types.js';
import { DpopError, invalidDpopProof } from './errors.js';
import type { DpopNoncePolicy } from '../../crypto/dpop-nonce.js';

/**
 * Asymmetric algorithms only (RFC 9449 §4.3 step 5: not `none`, not a MAC). PS256, ES256 and
 * EdDSA (Ed25519) are the FAPI 2.0 set; ES384 and RS256 are accepted for existing clients.
 */
export const DPOP_ALGORITHMS = ['ES256', 'ES384', 'PS256', 'EdDSA', 'RS256'] as const;
export type DpopAlgorithm = (typeof DPOP_ALGORITHMS)[number];

/** A proof older than this is refused (FAPI 2.0 §5.3.2.1: "reject … more than 60 seconds"). */
export const DPOP_MAX_AGE_SECONDS = 60;
/** A proof from a client whose clock is ahead by at most this much is accepted (FAPI 2.0). */
export const DPOP_MAX_FUTURE_SECONDS = 10;

const MAX_PROOF_CHARS = 8192;
const JWS_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
/** RFC 7518 §6.2.2, §6.3.2, §6.4.1 and RFC 8037 §2: members only a private or symmetric key has. */
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
const PRINTABLE = /^[\x21-\x7E]{1,256}$/;
/** FAPI 2.0 §5.4.1: RSA keys of at least 2048 bits. */
const MIN_RSA_MODULUS_BYTES = 256;

export interface VerifyDpopProofInput {
  /** The DPoP header field values as received (Node: IncomingMessage.headersDistinct.dpop). */
  proof: string | readonly string[];
  /** The HTTP method of the request (§4.3 step 8). */
  method: string;
  /** The absolute URL the client addressed (public scheme, host and path); query and fragment are ignored. */
  url: string;
  /** For requests to a protected resource: the access token, whose hash `ath` must carry (§4.3 step 10, §7.1). */
  accessToken?: string;
  /** The server nonce policy (§8, §9); absent when this server never asks for nonces. */
  nonce?: DpopNoncePolicy;
  /** Epoch milliseconds. */
  now: number;
  /** The jti cache (§11.1). Keys are `dpop:<jkt>:<jti>`, kept until the proof could no longer be accepted. */
  replay: Pick<ReplayStore, 'useOnce'>;
}

export interface VerifiedDpopProof {
  /** RFC 7638 SHA-256 thumbprint of the proof key, base64url: the value of `cnf.jkt` (§6.1). */
  jkt: string;
  /** The public key from the proof header. */
  jwk: JWK;
  jti: string;
  /** Epoch seconds. */
  iat: number;
}

export async function verifyDpopProof(input: VerifyDpopProofInput): Promise<VerifiedDpopProof> {
  // §4.3 step 1: "There is not more than one DPoP HTTP request header field." A JWS has no comma,
  // so a comma means a client (or proxy) folded two fields into one.
  const values = typeof input.proof === 'string' ? [input.proof] : [...input.proof];
  if (values.length !== 1 || values[0]!.includes(',')) throw invalidDpopProof('exactly one DPoP header is required');
  const proof = values[0]!.trim();
  // §4.3 step 2: "The DPoP HTTP request header field value is a single and well-formed JWT."
  if (proof.length > MAX_PROOF_CHARS || !JWS_COMPACT.test(proof)) throw invalidDpopProof('the DPoP proof is not a compact JWS');

  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(proof);
  } catch {
    throw invalidDpopProof('the DPoP proof header cannot be read');
  }
  // §4.3 step 4: "The typ JOSE Header Parameter has the value dpop+jwt."
  if (typeof header.typ !== 'string' || header.typ.toLowerCase() !== 'dpop+jwt') throw invalidDpopProof('the DPoP proof typ must be dpop+jwt');
  // §4.3 step 5: "The alg JOSE Header Parameter indicates a registered asymmetric digital
  // signature algorithm …, is not none, is supported by the application, and is acceptable per local policy."
  if (typeof header.alg !== 'string' || !(DPOP_ALGORITHMS as readonly string[]).includes(header.alg)) {
    throw invalidDpopProof(`the DPoP proof algorithm is not accepted; use one of ${DPOP_ALGORITHMS.join(', ')}`);
  }
  const jwk = checkPublicJwk(header.jwk);

  // §4.3 step 6: "The JWT signature verifies with the public key contained in the jwk JOSE Header Parameter."
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(proof, EmbeddedJWK, {
      algorithms: [...DPOP_ALGORITHMS],
      typ: 'dpop+jwt',
      currentDate: new Date(input.now),
      // §4.3 step 3: "All required claims per Section 4.2 are contained in the JWT."
      requiredClaims: ['jti', 'htm', 'htu', 'iat'],
    }));
  } catch (err) {
    throw invalidDpopProof('the DPoP proof signature or claims are not valid', (err as Error).message);
  }

  const { jti, htm, htu, iat } = payload as JWTPayload & { htm?: unknown; htu?: unknown };
  if (typeof jti !== 'string' || !PRINTABLE.test(jti)) throw invalidDpopProof('the DPoP proof jti must be a string of 1-256 printable characters');
  // §4.3 step 8: "The htm claim matches the HTTP method of the current request."
  if (htm !== input.method) throw invalidDpopProof('the DPoP proof htm does not match the request method');
  // §4.3 step 9: "The htu claim matches the HTTP URI value for the HTTP request in which the JWT
  // was received, ignoring any query and fragment parts." Compared after RFC 3986 §6.2.2 and
  // §6.2.3 normalisation (case of scheme and host, default port, dot segments), as URL parsing does.
  if (typeof htu !== 'string' || !sameTarget(htu, input.url)) throw invalidDpopProof('the DPoP proof htu does not match the request URL');
  // §4.3 step 11: iat within an acceptable window (FAPI 2.0: at most 10 s ahead, at most 60 s old).
  const nowS = input.now / 1000;
  if (typeof iat !== 'number' || !Number.isFinite(iat)) throw invalidDpopProof('the DPoP proof iat is missing');
  if (iat - nowS > DPOP_MAX_FUTURE_SECONDS) throw invalidDpopProof('the DPoP proof iat is in the future');
  if (nowS - iat > DPOP_MAX_AGE_SECONDS) throw invalidDpopProof('the DPoP proof is too old (iat)');

  // §4.3 step 10 / §7.1: with an access token, `ath` is the base64url SHA-256 of its ASCII bytes.
  if (input.accessToken !== undefined) {
    const ath = payload.ath;
    if (typeof ath !== 'string') throw invalidDpopProof('the DPoP proof has no ath for the access token');
    if (!constantTimeEqual(ath, accessTokenHash(input.accessToken))) throw invalidDpopProof('the DPoP proof ath does not match the access token');
  }

  // §8 / §9: "If the server provided a nonce value to the client, the nonce claim matches the server-provided nonce value."
  if (input.nonce) {
    const nonce = payload.nonce;
    if (nonce !== undefined || input.nonce.required) {
      if (typeof nonce !== 'string' || !input.nonce.isValid(nonce, input.now)) {
        const fresh = input.nonce.issue(input.now);
        throw new DpopError('use_dpop_nonce', nonce === undefined ? 'a DPoP nonce is required' : 'the DPoP nonce is not valid or has expired', undefined, fresh);
      }
    }
  }

  const jkt = await calculateJwkThumbprint(jwk, 'sha256');
  // §11.1: the jti is remembered per key for as long as the proof would be accepted.
  const fresh = await input.replay.useOnce(`dpop:${jkt}:${jti}`, Math.ceil((iat + DPOP_MAX_AGE_SECONDS + 1) * 1000), input.now);
  if (!fresh) throw invalidDpopProof('the DPoP proof was already used (jti replay)');
  return { jkt, jwk, jti, iat };
}

/** base64url(SHA-256(ASCII(access token))): the `ath` claim (RFC 9449 §4.2). */
export function accessTokenHash(accessToken: string): string {
  return createHash('sha256').update(accessToken, 'ascii').digest('base64url');
}

/** §4.3 step 7: "The jwk JOSE Header Parameter does not contain a private key." */
function checkPublicJwk(value: unknown): JWK {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalidDpopProof('the DPoP proof header has no jwk');
  const jwk = value as Record<string, unknown>;
  if (PRIVATE_JWK_MEMBERS.some((m) => m in jwk)) throw invalidDpopProof('the DPoP proof jwk holds private key material');
  if (jwk.kty === 'RSA') {
    if (typeof jwk.n !== 'string' || Buffer.from(jwk.n, 'base64url').length < MIN_RSA_MODULUS_BYTES) {
      throw invalidDpopProof('the DPoP proof RSA key must have at least 2048 bits');
    }
  } else if (jwk.kty === 'OKP') {
    if (jwk.crv !== 'Ed25519') throw invalidDpopProof('the DPoP proof OKP key must be Ed25519');
  } else if (jwk.kty !== 'EC') {
    throw invalidDpopProof('the DPoP proof jwk must be an EC, RSA or Ed25519 public key');
  }
  return jwk as JWK;
}

function sameTarget(htu: string, url: string): boolean {
  let a: URL;
  let b: URL;
  try {
    a = new URL(htu);
    b = new URL(url);
  } catch {
    return false;
  }
  return a.protocol === b.protocol && a.host === b.host && a.pathname === b.pathname;
}
