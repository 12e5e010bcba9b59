// OpenID Connect Core §2 ID tokens, with minimal claims: no name, e-mail or other PHI.
import { createHash } from 'node:crypto';
import { signJwt } from './jwt.js';
import type { AppContext } from '../../context/app-context.js';

/** OIDC Core §3.1.3.6: at_hash is the left half of SHA-256 of the access token, base64url. */
export function atHash(accessToken: string): string {
  return createHash('sha256').update(accessToken).digest().subarray(0, 16).toString('base64url');
}

export async function issueIdToken(
  ctx: AppContext,
  input: {
    clientId: string; userId: string; authTime: number; nonce?: string; accessToken?: string;
    /** RFC 8176 methods of the login (e.g. ["pwd", "otp"]); ["pwd"] when not known (codes from before MFA). */
    amr?: readonly string[];
    /** The authentication context class reached (src/interaction/mfa/acr.ts); left out when not known. */
    /** SMART fhirUser: absolute URL of the user's FHIR resource (an identifier, not demographics). */
    fhirUser?: string;
    acr?: string;
  },
): Promise<string> {
  const iat = Math.floor(ctx.now() / 1000);
  const claims: Record<string, unknown> = {
    iss: ctx.config.issuer,
    sub: input.userId,
    aud: input.clientId,
    exp: iat + ctx.config.tokens.id_token_ttl,
    iat,
    auth_time: Math.floor(input.authTime / 1000),
    // OIDC Core §2: amr and acr describe the authentication that auth_time dates.
    amr: input.amr && input.amr.length > 0 ? [...input.amr] : ['pwd'],
  };
  if (input.acr !== undefined) claims.acr = input.acr;
  if (input.fhirUser !== undefined) claims.fhirUser = input.fhirUser;
  if (input.nonce !== undefined) claims.nonce = input.nonce;
  if (input.accessToken) claims.at_hash = atHash(input.accessToken);
  return signJwt(ctx, 'JWT', claims);
}
