// TOTP factors and recovery codes of a user: enrolment (the first valid code confirms the secret),
// verification with replay refusal, and one-time recovery codes. Secrets are sealed at rest under
// the master key (45 CFR 164.312(a)(2)(iv)); recovery codes are kept only as keyed digests.
import { randomBytes } from 'node:crypto';
import QRCode from 'qrcode';
import { REDACTED } from '../../audit/events.js';
import { openJson, sealJson } from '../../crypto/envelope.js';
import { randomToken } from '../../crypto/random.js';
import type { AppContext } from '../../context/app-context.js';
import type { MfaFactorRecord, UserRecord } from '../../storage/types.js';
import { generateRecoveryCodes, recoveryCodeDigest } from './recovery-codes.js';
import { TOTP_DIGITS, TOTP_STEP_SECONDS, base32Decode, base32Encode, matchTotp } from './totp.js';

export interface AuditMeta {
  requestId: string;
  sourceAddress: string;
}

export type FactorCheck = { ok: true; factor?: MfaFactorRecord } | { ok: false; reason: string };

/** A new TOTP secret: 160 random bits (RFC 4226 §4 R6), base32 as authenticator apps take it. */
export function newTotpSecret(): string {
  return base32Encode(randomBytes(20));
}

/** The otpauth:// URI of the Key Uri Format that authenticator apps read from the QR code. */
export function otpauthUri(ctx: AppContext, username: string, secret: string): string {
  const issuer = `Caduceus ${new URL(ctx.config.issuer).hostname}`;
  const label = `${encodeURIComponent(issuer)}:${encodeURIComponent(username)}`;
  const params = new URLSearchParams({ secret, issuer, algorithm: 'SHA1', digits: String(TOTP_DIGITS), period: String(TOTP_STEP_SECONDS) });
  return `otpauth://totp/${label}?${params.toString()}`;
}

/** The QR code of `text` as an SVG data: URL (the page CSP allows img-src data:). */
export async function qrCodeDataUrl(text: string): Promise<string> {
  const svg = await QRCode.toString(text, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
  return `data:image/svg+xml;base64,${Buffer.from(svg, 'utf8').toString('base64')}`;
}

/** "ABCD EFGH …": the secret in groups of four for typing it in by hand. */
export function formatSecretForHumans(secret: string): string {
  return secret.replace(/(.{4})(?=.)/g, '$1 ');
}

export async function listFactors(ctx: AppContext, userId: string): Promise<MfaFactorRecord[]> {
  return ctx.storage.mfaFactors.listByUser(userId);
}

/**
 * Confirms a TOTP enrolment: `code` must be the current code of `secret`. The factor is stored with
 * that code's step as used, so the same code cannot sign in afterwards. Audited as user.changed.
 */
export async function enrollTotp(ctx: AppContext, user: UserRecord, secret: string, code: string, meta: AuditMeta): Promise<boolean> {
  const now = ctx.now();
  const step = matchTotp(base32Decode(secret), code, now);
  if (step === undefined) return false;
  const id = `mf_${randomToken(16)}`;
  await ctx.storage.mfaFactors.create({
    id, userId: user.id, kind: 'totp', label: 'Authenticator app', sealed: sealJson(ctx.masterKey, { secret }, id),
    counter: step, createdAt: now, lastUsedAt: now,
  });
  await auditEnrolment(ctx, user, 'mfa.totp', id, meta);
  return true;
}

export async function auditEnrolment(ctx: AppContext, user: UserRecord, field: string, factorId: string, meta: AuditMeta): Promise<void> {
  await ctx.audit.record({
    type: 'user.changed', actor: { userId: user.id }, outcome: 'success', action: 'mfa_enroll', resource: user.id,
    changes: [{ field, before: null, after: REDACTED }], requestId: meta.requestId, sourceAddress: meta.sourceAddress,
    details: { factor_id: factorId },
  });
}

/** Checks a TOTP code against the user's authenticators; a code already accepted is refused (RFC 6238 §5.2). */
export async function verifyTotpCode(ctx: AppContext, userId: string, code: string): Promise<FactorCheck> {
  const now = ctx.now();
  for (const factor of await ctx.storage.mfaFactors.listByUser(userId)) {
    if (factor.kind !== 'totp') continue;
    const { secret } = openJson<{ secret: string }>(ctx.masterKey, factor.sealed, factor.id);
    const step = matchTotp(base32Decode(secret), code, now);
    if (step === undefined) continue;
    // The step must be newer than the last accepted one: one conditional UPDATE, so two requests
    // racing with one code cannot both pass.
    if (await ctx.storage.mfaFactors.advanceCounter(factor.id, step, now)) return { ok: true, factor };
    return { ok: false, reason: 'otp_replay' };
  }
  return { ok: false, reason: 'bad_otp' };
}

/** Replaces the user's recovery codes with ten new ones and returns them: the only time they exist in clear. */
export async function issueRecoveryCodes(ctx: AppContext, user: UserRecord, meta: AuditMeta): Promise<string[]> {
  const codes = generateRecoveryCodes();
  const digests = codes.map((c) => recoveryCodeDigest(ctx.masterKey, c)!);
  const before = await ctx.storage.recoveryCodes.countUnused(user.id);
  await ctx.storage.recoveryCodes.replace(user.id, digests, ctx.now());
  await ctx.audit.record({
    type: 'user.changed', actor: { userId: user.id }, outcome: 'success', action: 'mfa_recovery_codes', resource: user.id,
    changes: [{ field: 'mfa.recovery_codes', before: before > 0 ? REDACTED : null, after: REDACTED }],
    requestId: meta.requestId, sourceAddress: meta.sourceAddress, details: { codes: codes.length },
  });
  return codes;
}

/** Uses one recovery code of the user; each works once. */
export async function useRecoveryCode(ctx: AppContext, userId: string, code: string): Promise<FactorCheck> {
  const digest = recoveryCodeDigest(ctx.masterKey, code);
  if (digest === undefined) return { ok: false, reason: 'bad_recovery_code' };
  return (await ctx.storage.recoveryCodes.consume(userId, digest, ctx.now())) ? { ok: true } : { ok: false, reason: 'bad_recovery_code' };
}
