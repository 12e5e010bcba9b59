// RFC 7638 JWK thumbprint of an EC public key: SHA-256 over the required members (crv, kty, x, y)
// in lexicographic order, without whitespace (§3.2), base64url. Used as the signing key's kid.

import { createHash } from 'node:crypto';

export interface EcPublicJwkMembers {
  kty: string;
  crv: string;
  x: string;
  y: string;
}

export function ecJwkThumbprint(jwk: EcPublicJwkMembers): string {
  // Object literal order is insertion order, which is the lexicographic order §3.2 requires.
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
  return createHash('sha256').update(canonical, 'utf8').digest('base64url');
}
