// private_key_jwt (RFC 7523 §2.2 and §3, OpenID Connect Core §9): a JWT signed with the client's
// registered key; iss = sub = client_id, aud = our issuer or token endpoint, short exp, and a jti
// that is accepted once (RFC 7523 §3: "MAY ensure that JWTs are not replayed" — we do).
import { createLocalJWKSet, createRemoteJWKSet, decodeJwt, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { invalidClient } from '../../errors/oauth-error.js';
import type { AppContext } from '../../context/app-context.js';
import type { ClientRecord } from '../../storage/types.js';

export const ASSERTION_ALGORITHMS = ['ES256', 'ES384', 'RS256', 'RS384', 'PS256', 'PS384', 'EdDSA'];
/** SMART backend services: assertions live at most five minutes. */
const MAX_ASSERTION_LIFETIME_S = 300;

const remoteSets = new Map<string, JWTVerifyGetKey>();

function keySetOf(client: ClientRecord): JWTVerifyGetKey {
  if (client.jwks) return createLocalJWKSet(JSON.parse(client.jwks));
  if (client.jwksUri) {
    // A self-registered agent chose this URL: fetched here, without the SSRF rules of
    // src/oauth/client-metadata/fetch-document.ts, it would let anyone who can register make this
    // server send requests to its own network. Its keys come only through that hardened fetch.
    if (client.source === 'dynamic') throw invalidClient('client authentication failed', 'the jwks_uri of a self-registered agent is not fetched without the SSRF guard');
    let set = remoteSets.get(client.jwksUri);
    if (!set) {
      set = createRemoteJWKSet(new URL(client.jwksUri), { timeoutDuration: 5000, cooldownDuration: 30_000 });
      remoteSets.set(client.jwksUri, set);
    }
    return set;
  }
  throw invalidClient('client has no registered keys');
}

/** Reads the client id an assertion claims to come from, before its signature is checked. */
export function assertionIssuer(assertion: string): string {
  try {
    const { iss } = decodeJwt(assertion);
    if (typeof iss === 'string') return iss;
  } catch {
    /* fall through */
  }
  throw invalidClient('client_assertion is not a readable JWT');
}

export async function verifyClientAssertion(ctx: AppContext, client: ClientRecord, assertion: string, tokenEndpoint: string): Promise<void> {
  let payload;
  try {
    ({ payload } = await jwtVerify(assertion, keySetOf(client), {
      algorithms: ASSERTION_ALGORITHMS,
      issuer: client.clientId,
      subject: client.clientId,
      audience: [ctx.config.issuer, tokenEndpoint],
      clockTolerance: 10,
      currentDate: new Date(ctx.now()),
      requiredClaims: ['exp', 'jti'],
    }));
  } catch (err) {
    throw invalidClient('client assertion rejected', (err as Error).message);
  }
  const nowS = Math.floor(ctx.now() / 1000);
  if (payload.exp! - nowS > MAX_ASSERTION_LIFETIME_S) throw invalidClient('client assertion lives too long (at most 5 minutes)');
  const fresh = await ctx.storage.replay.useOnce(`pkjwt:${client.clientId}:${payload.jti}`, payload.exp! * 1000, ctx.now());
  if (!fresh) throw invalidClient('client assertion was already used (jti replay)');
}
