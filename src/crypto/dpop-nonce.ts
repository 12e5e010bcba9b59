// Server-provided DPoP nonces, RFC 9449 §8 (authorization server) and §9 (resource server).
//
// Stateless: a nonce is the issue time (48-bit seconds) and a truncated HMAC-SHA-256 over it, so
// every instance that shares the key accepts the nonces of the others and nothing is stored. A
// nonce stays valid for `lifetimeSeconds`; it limits how far ahead a stolen key can pre-compute
// proofs (§11.2). Replay of a whole proof is stopped by the jti cache, not by the nonce.
//
// Deliberately not done: one-time nonces (they would need storage and a round trip per request).
// Here in crypto/ rather than beside the rest of DPoP (src/oauth/dpop/) because a server holds
// its policy (AppContext.dpopNonces), and the application context sits below oauth/.
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface DpopNoncePolicy {
  /** When true, a proof without a valid `nonce` claim is refused with use_dpop_nonce. */
  readonly required: boolean;
  /** Whether a nonce presented in a proof is one of ours and still fresh. */
  isValid(nonce: string, now: number): boolean;
  /** A fresh nonce for the DPoP-Nonce response header. */
  issue(now: number): string;
}

const TIME_BYTES = 6;
const MAC_BYTES = 16;
const NONCE = /^[A-Za-z0-9_-]{30}$/;
/** Nonces from an instance whose clock is a little ahead are still accepted. */
const FUTURE_SKEW_S = 5;

export function createDpopNonces(key: Buffer, options: { required: boolean; lifetimeSeconds: number }): DpopNoncePolicy {
  if (!Buffer.isBuffer(key) || key.length < 32) throw new TypeError('createDpopNonces: key must be a Buffer of at least 32 bytes');
  const mac = (time: Buffer) => createHmac('sha256', key).update('caduceus/dpop-nonce/v1').update(time).digest().subarray(0, MAC_BYTES);
  return {
    required: options.required,
    issue(now) {
      const time = Buffer.alloc(TIME_BYTES);
      time.writeUIntBE(Math.floor(now / 1000), 0, TIME_BYTES);
      return Buffer.concat([time, mac(time)]).toString('base64url');
    },
    isValid(nonce, now) {
      if (typeof nonce !== 'string' || !NONCE.test(nonce)) return false;
      const raw = Buffer.from(nonce, 'base64url');
      if (raw.length !== TIME_BYTES + MAC_BYTES) return false;
      const time = raw.subarray(0, TIME_BYTES);
      if (!timingSafeEqual(raw.subarray(TIME_BYTES), mac(time))) return false;
      const age = Math.floor(now / 1000) - time.readUIntBE(0, TIME_BYTES);
      return age >= -FUTURE_SKEW_S && age <= options.lifetimeSeconds;
    },
  };
}
