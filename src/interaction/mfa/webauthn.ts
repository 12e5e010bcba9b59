// WebAuthn passkeys (W3C Web Authentication Level 3) as a second factor, with @simplewebauthn/server
// doing the ceremonies' checks (challenge, origin, RP ID hash, signature, counter).
//
// RP ID = the issuer's host name, origin = the issuer's origin (§5.1.3/§7.1 step 9, §7.2). WebAuthn
// refuses IP addresses as RP IDs, so passkeys need an issuer with a DNS name (localhost works).
// User verification is preferred, not required: the passkey is the possession factor after the
// password. Attestation is not requested ('none'): no authenticator allow-list is enforced.
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { openJson, sealJson } from '../../crypto/envelope.js';
import { randomToken } from '../../crypto/random.js';
import type { AppContext } from '../../context/app-context.js';
import type { MfaFactorRecord, UserRecord } from '../../storage/types.js';
import { auditEnrolment, type AuditMeta, type FactorCheck } from './factors.js';

interface PasskeyData {
  credentialId: string;
  /** COSE public key, base64url. */
  publicKey: string;
  transports?: string[];
}

const CEREMONY_TIMEOUT_MS = 120_000;
/** Registration and assertion responses are a few kilobytes; anything far larger is refused unread. */
const MAX_RESPONSE_CHARS = 32_768;

export function relyingParty(ctx: AppContext): { rpID: string; origin: string } {
  const url = new URL(ctx.config.issuer);
  return { rpID: url.hostname, origin: url.origin };
}

const passkeyData = (ctx: AppContext, factor: MfaFactorRecord) => openJson<PasskeyData>(ctx.masterKey, factor.sealed, factor.id);

function parseResponse<T>(text: string | undefined): T | undefined {
  if (!text || text.length > MAX_RESPONSE_CHARS) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === 'object' && typeof (value as { id?: unknown }).id === 'string' ? (value as T) : undefined;
  } catch {
    return undefined;
  }
}

export async function passkeyRegistrationOptions(ctx: AppContext, user: UserRecord, factors: readonly MfaFactorRecord[]): Promise<PublicKeyCredentialCreationOptionsJSON> {
  const { rpID } = relyingParty(ctx);
  return generateRegistrationOptions({
    rpName: 'Caduceus',
    rpID,
    userName: user.username,
    // The opaque subject id, never a name or e-mail.
    userID: new TextEncoder().encode(user.id),
    attestationType: 'none',
    excludeCredentials: factors.filter((f) => f.kind === 'webauthn').map((f) => {
      const data = passkeyData(ctx, f);
      return { id: data.credentialId, transports: data.transports };
    }),
    authenticatorSelection: { residentKey: 'preferred', userVerification: 'preferred' },
    timeout: CEREMONY_TIMEOUT_MS,
  });
}

/** Verifies a registration response against the challenge and stores the passkey. */
export async function enrollPasskey(ctx: AppContext, user: UserRecord, challenge: string, responseText: string | undefined, meta: AuditMeta): Promise<boolean> {
  const response = parseResponse<RegistrationResponseJSON>(responseText);
  if (!response) return false;
  const { rpID, origin } = relyingParty(ctx);
  let verified;
  try {
    verified = await verifyRegistrationResponse({ response, expectedChallenge: challenge, expectedOrigin: origin, expectedRPID: rpID, requireUserVerification: false });
  } catch {
    return false;
  }
  if (!verified.verified) return false;
  const { credential } = verified.registrationInfo;
  const id = `mf_${randomToken(16)}`;
  const data: PasskeyData = { credentialId: credential.id, publicKey: Buffer.from(credential.publicKey).toString('base64url'), transports: credential.transports };
  const now = ctx.now();
  await ctx.storage.mfaFactors.create({
    id, userId: user.id, kind: 'webauthn', label: 'Passkey', sealed: sealJson(ctx.masterKey, data, id), counter: credential.counter,
    createdAt: now, lastUsedAt: now,
  });
  await auditEnrolment(ctx, user, 'mfa.webauthn', id, meta);
  return true;
}

export async function passkeyAuthenticationOptions(ctx: AppContext, factors: readonly MfaFactorRecord[]): Promise<PublicKeyCredentialRequestOptionsJSON> {
  const { rpID } = relyingParty(ctx);
  return generateAuthenticationOptions({
    rpID,
    allowCredentials: factors.filter((f) => f.kind === 'webauthn').map((f) => {
      const data = passkeyData(ctx, f);
      return { id: data.credentialId, transports: data.transports };
    }),
    userVerification: 'preferred',
    timeout: CEREMONY_TIMEOUT_MS,
  });
}

/** Verifies an assertion by one of the user's passkeys and records its new signature counter. */
export async function verifyPasskey(ctx: AppContext, userId: string, challenge: string, responseText: string | undefined): Promise<FactorCheck> {
  const response = parseResponse<AuthenticationResponseJSON>(responseText);
  if (!response) return { ok: false, reason: 'bad_passkey' };
  const factors = (await ctx.storage.mfaFactors.listByUser(userId)).filter((f) => f.kind === 'webauthn');
  const factor = factors.find((f) => passkeyData(ctx, f).credentialId === response.id);
  if (!factor) return { ok: false, reason: 'unknown_passkey' };
  const data = passkeyData(ctx, factor);
  const { rpID, origin } = relyingParty(ctx);
  try {
    const result = await verifyAuthenticationResponse({
      response, expectedChallenge: challenge, expectedOrigin: origin, expectedRPID: rpID, requireUserVerification: false,
      credential: { id: data.credentialId, publicKey: new Uint8Array(Buffer.from(data.publicKey, 'base64url')), counter: factor.counter, transports: data.transports },
    });
    if (!result.verified) return { ok: false, reason: 'bad_passkey' };
    await ctx.storage.mfaFactors.recordUse(factor.id, result.authenticationInfo.newCounter, ctx.now());
    return { ok: true, factor };
  } catch {
    return { ok: false, reason: 'bad_passkey' };
  }
}
