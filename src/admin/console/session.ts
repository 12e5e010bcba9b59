// The administrator's console session: its own `__Host-` cookie, its own table and its own limits
// (admin_console.idle_timeout, default 15 minutes; absolute_timeout, default 8 hours; 45 CFR
// 164.312(a)(2)(iii) automatic logoff), so that an end user's session never opens the console and a
// console session is never an app's session. The cookie is random; only its keyed digest is stored.
// The session also remembers when the second factor was last checked, for step-up.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { keyedDigest } from '../../crypto/digest.js';
import { randomToken } from '../../crypto/random.js';
import type { AppContext } from '../../context/app-context.js';
import { clearCookie, readCookie, setCookie } from '../../http/cookies.js';
import { roleOf } from '../../identity/role-policy.js';
import type { AdminSessionRecord, UserRecord } from '../../storage/types.js';

export const ADMIN_SESSION_COOKIE = '__Host-caduceus-admin';

export interface AdminSession {
  record: AdminSessionRecord;
  /** The cookie value: CSRF tokens are bound to it. */
  cookie: string;
  /** The signed-in administrator (enabled, still an administrator). */
  user: UserRecord;
}

const digestOf = (ctx: AppContext, cookie: string) => keyedDigest(ctx.masterKey.digestKey('admin-session'), cookie);

/**
 * The console session of this request, or undefined. An expired session is removed and audited
 * (session.expired, details.console); a session whose account was disabled or lost the
 * administrator role ends at once.
 */
export async function currentAdminSession(ctx: AppContext, req: FastifyRequest, reply: FastifyReply): Promise<AdminSession | undefined> {
  const cookie = readCookie(req, ADMIN_SESSION_COOKIE);
  if (!cookie) return undefined;
  const digest = digestOf(ctx, cookie);
  const record = await ctx.storage.adminSessions.get(digest);
  if (!record) return undefined;
  const now = ctx.now();
  const { idle_timeout: idle, absolute_timeout: absolute } = ctx.config.admin_console;
  const user = await ctx.storage.users.getById(record.userId);
  const expired = now - record.lastSeenAt >= idle * 1000 ? 'idle_timeout' : now - record.createdAt >= absolute * 1000 ? 'absolute_timeout' : undefined;
  const revoked = !user || user.disabled || roleOf(user) !== 'administrator' ? 'not_administrator' : undefined;
  if (expired || revoked) {
    await ctx.storage.adminSessions.remove(digest);
    clearCookie(reply, ADMIN_SESSION_COOKIE);
    await ctx.audit.record({
      type: 'session.expired', actor: { userId: record.userId }, outcome: 'success', reason: expired ?? revoked,
      requestId: String(req.id), sourceAddress: req.ip, details: { console: 'admin' },
    });
    return undefined;
  }
  await ctx.storage.adminSessions.touch(digest, now);
  return { record: { ...record, lastSeenAt: now }, cookie, user: user! };
}

/** Starts a console session for an administrator who just passed both factors. */
export async function startAdminSession(ctx: AppContext, req: FastifyRequest, reply: FastifyReply, user: UserRecord): Promise<AdminSession> {
  const cookie = randomToken(32);
  const now = ctx.now();
  const record: AdminSessionRecord = { digest: digestOf(ctx, cookie), userId: user.id, createdAt: now, lastSeenAt: now, stepUpAt: now, sourceAddress: req.ip };
  await ctx.storage.adminSessions.create(record);
  setCookie(reply, ADMIN_SESSION_COOKIE, cookie);
  return { record, cookie, user };
}

export async function endAdminSession(ctx: AppContext, req: FastifyRequest, reply: FastifyReply): Promise<void> {
  const cookie = readCookie(req, ADMIN_SESSION_COOKIE);
  if (cookie) await ctx.storage.adminSessions.remove(digestOf(ctx, cookie));
  clearCookie(reply, ADMIN_SESSION_COOKIE);
}

/** Whether the second factor was checked recently enough for a sensitive action (admin_console.step_up_max_age). */
export function stepUpFresh(ctx: AppContext, session: AdminSession): boolean {
  return ctx.now() - session.record.stepUpAt < ctx.config.admin_console.step_up_max_age * 1000;
}

export async function recordStepUp(ctx: AppContext, session: AdminSession): Promise<void> {
  const now = ctx.now();
  await ctx.storage.adminSessions.stepUp(session.record.digest, now);
  session.record = { ...session.record, stepUpAt: now, lastSeenAt: now };
}
