// A sign-in between the password and the second factor, or an enrolment in progress: the state
// lives sealed in the PendingLoginStore under the digest of a random `__Host-` cookie, for at most
// 10 minutes. The password step alone never starts a session (src/interaction/session.ts).
import type { FastifyReply, FastifyRequest } from 'fastify';
import { openJson, sealJson } from '../../crypto/envelope.js';
import { randomToken } from '../../crypto/random.js';
import type { AppContext } from '../../context/app-context.js';
import { clearCookie, readCookie, setCookie } from '../../http/cookies.js';
import { mfaDigest } from './digest.js';

export const MFA_COOKIE = '__Host-caduceus-mfa';
const PENDING_TTL_MS = 10 * 60 * 1000;

export interface PendingState {
  /** 'login': the password was right, a factor is still due; 'manage': enrolment from the account page. */
  purpose: 'login' | 'manage';
  userId: string;
  /** Login: check an enrolled factor ('verify') or enrol the first one ('enroll', role requires MFA). */
  stage: 'verify' | 'enroll';
  /** Where the browser goes when done: "/interaction/<id>" or "/account". Set by us only. */
  returnTo: string;
  /** The client of the interaction, for the audit actor. */
  clientId?: string;
  /** A TOTP secret (base32) shown for enrolment and not yet confirmed. */
  totpSecret?: string;
  /** The outstanding WebAuthn challenge (base64url); cleared when a response is checked. */
  challenge?: string;
}

export interface Pending {
  digest: string;
  /** The cookie value: CSRF tokens of the MFA forms are bound to it. */
  cookie: string;
  state: PendingState;
}

export async function beginPending(ctx: AppContext, req: FastifyRequest, reply: FastifyReply, state: PendingState): Promise<Pending> {
  const previous = readCookie(req, MFA_COOKIE);
  if (previous) await ctx.storage.pendingLogins.remove(mfaDigest(ctx.masterKey, 'pending-login', previous));
  const cookie = randomToken(32);
  const digest = mfaDigest(ctx.masterKey, 'pending-login', cookie);
  const now = ctx.now();
  await ctx.storage.pendingLogins.save({
    digest, userId: state.userId, sealed: sealJson(ctx.masterKey, state, digest), createdAt: now, expiresAt: now + PENDING_TTL_MS,
  });
  setCookie(reply, MFA_COOKIE, cookie);
  return { digest, cookie, state };
}

/** The pending sign-in of this browser, if it has one that has not expired. */
export async function loadPending(ctx: AppContext, req: FastifyRequest): Promise<Pending | undefined> {
  const cookie = readCookie(req, MFA_COOKIE);
  if (!cookie) return undefined;
  const digest = mfaDigest(ctx.masterKey, 'pending-login', cookie);
  const record = await ctx.storage.pendingLogins.get(digest);
  if (!record || record.expiresAt <= ctx.now()) return undefined;
  const state = openJson<PendingState>(ctx.masterKey, record.sealed, digest);
  if (state.userId !== record.userId) return undefined;
  return { digest, cookie, state };
}

export async function savePending(ctx: AppContext, pending: Pending, state: PendingState): Promise<void> {
  pending.state = state;
  await ctx.storage.pendingLogins.update(pending.digest, sealJson(ctx.masterKey, state, pending.digest));
}

export async function endPending(ctx: AppContext, req: FastifyRequest, reply: FastifyReply): Promise<void> {
  const cookie = readCookie(req, MFA_COOKIE);
  if (!cookie) return;
  await ctx.storage.pendingLogins.remove(mfaDigest(ctx.masterKey, 'pending-login', cookie));
  clearCookie(reply, MFA_COOKIE);
}
