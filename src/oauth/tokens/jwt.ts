// Signs JWTs with the current ES256 key. Signing uses node:crypto directly (src/crypto/jwt-sign.ts;
// see docs/performance.md for why); verification everywhere uses jose.
import { signJwt as signCompact } from '../../crypto/jwt-sign.js';
import type { AppContext } from '../../context/app-context.js';

export async function signJwt(ctx: AppContext, typ: string, payload: object): Promise<string> {
  const key = await ctx.keys.signer(ctx.now());
  return signCompact(payload as Record<string, unknown>, { kid: key.kid, key: key.key }, { typ });
}
