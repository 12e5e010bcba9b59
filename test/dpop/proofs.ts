// DPoP proofs for tests, signed with jose exactly as a client would (RFC 9449 §4.2), with every
// header and claim overridable so the negative tests can corrupt one thing at a time.
import { randomBytes } from 'node:crypto';
import { SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK, type CryptoKey } from 'jose';
import type { ReplayStore } from '../../src/storage/types.js';

export interface DpopKey {
  alg: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
  privateJwk: JWK;
  jkt: string;
}

export async function dpopKey(alg = 'ES256'): Promise<DpopKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  return { alg, privateKey, publicKey, publicJwk, privateJwk: await exportJWK(privateKey), jkt: await calculateJwkThumbprint(publicJwk, 'sha256') };
}

export interface ProofOptions {
  htm?: string;
  htu?: string;
  /** Epoch seconds. */
  iat?: number;
  jti?: string;
  nonce?: string;
  ath?: string;
  typ?: string;
  /** The jwk header; defaults to the public key. */
  jwk?: JWK;
  omit?: ('jti' | 'htm' | 'htu' | 'iat')[];
}

export async function proof(key: DpopKey, htm: string, htu: string, o: ProofOptions = {}): Promise<string> {
  const claims: Record<string, unknown> = {
    jti: o.jti ?? randomBytes(16).toString('base64url'),
    htm: o.htm ?? htm,
    htu: o.htu ?? htu,
    iat: o.iat ?? Math.floor(Date.now() / 1000),
  };
  if (o.nonce !== undefined) claims.nonce = o.nonce;
  if (o.ath !== undefined) claims.ath = o.ath;
  for (const name of o.omit ?? []) delete claims[name];
  return new SignJWT(claims).setProtectedHeader({ typ: o.typ ?? 'dpop+jwt', alg: key.alg, jwk: o.jwk ?? key.publicJwk }).sign(key.privateKey);
}

/** The ReplayStore contract in memory, for the unit tests. */
export function memoryReplay(): Pick<ReplayStore, 'useOnce'> & { keys: Map<string, number> } {
  const keys = new Map<string, number>();
  return {
    keys,
    async useOnce(key, expiresAt, now) {
      const existing = keys.get(key);
      if (existing !== undefined && existing > now) return false;
      keys.set(key, expiresAt);
      return true;
    },
  };
}
