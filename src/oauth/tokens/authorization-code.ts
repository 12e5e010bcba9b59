// Authorization codes: 256-bit random, single use, at most 60 s (FAPI 2.0 §5.3.2.1), bound to the
// client, the redirect URI and the PKCE challenge (RFC 6749 §4.1.3, RFC 7636 §4.6). Stored by keyed
// digest with the request data sealed under the master key.
import { keyedDigest } from '../../crypto/digest.js';
import { openJson, sealJson } from '../../crypto/envelope.js';
import { randomToken } from '../../crypto/random.js';
import type { AppContext } from '../../context/app-context.js';
import type { AuthorizationCodeRecord } from '../../storage/types.js';

export interface CodeData {
  userId: string;
  redirectUri: string;
  codeChallenge: string;
  scope: string;
  resource: string;
  consentId: string | null;
  nonce: string | null;
  authTime: number;
  /** OIDC Core §2: how the user authenticated (RFC 8176 values) and the level reached; absent on codes issued before MFA. */
  amr?: string[];
  acr?: string;
}

export function codeDigest(ctx: AppContext, code: string): string {
  return keyedDigest(ctx.masterKey.digestKey('authorization-code'), code);
}

export function openCode(ctx: AppContext, record: AuthorizationCodeRecord): CodeData {
  return openJson<CodeData>(ctx.masterKey, record.sealed, record.digest);
}

export async function issueAuthorizationCode(ctx: AppContext, clientId: string, grantId: string, data: CodeData): Promise<string> {
  const code = randomToken(32);
  const digest = codeDigest(ctx, code);
  await ctx.storage.codes.save({
    digest,
    clientId,
    grantId,
    sealed: sealJson(ctx.masterKey, data, digest),
    expiresAt: ctx.now() + ctx.config.tokens.authorization_code_ttl * 1000,
    consumedAt: null,
  });
  return code;
}
