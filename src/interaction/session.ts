// Login sessions with automatic logoff (45 CFR 164.312(a)(2)(iii)): they end after the idle
// timeout (default 15 minutes) and the absolute timeout (default 12 hours). A session starts only
// once every required factor has been checked; its amr (RFC 8176) says which were used. Stricter
// per-client limits, capped by these global ones, are checked at the authorization step
// (src/interaction/client-session-policy.ts).
import type { FastifyReply, FastifyRequest } from 'fastify';
import { keyedDigest } from '../crypto/digest.js';
import { randomToken } from '../crypto/random.js';
import type { AppContext } from '../context/app-context.js';
import type { SessionRecord, UserRecord } from '../storage/types.js';
import { SESSION_COOKIE, clearCookie, readCookie, setCookie } from '../http/cookies.js';

export interface ActiveSession {
  record: SessionRecord;
  /** The cookie value, for CSRF tokens bound to the session. */
  cookie: string;
  /** The signed-in account (enabled). */
  user: UserRecord;
  /** When the session was last used before this request (record.lastSeenAt is now): its idle age. */
  previousSeenAt: number;
}

const digestOf = (ctx: AppContext, cookie: string) => keyedDigest(ctx.masterKey.digestKey('session'), cookie);

export async function currentSession(ctx: AppContext, req: FastifyRequest, reply: FastifyReply): Promise<ActiveSession | undefined> {
  const cookie = readCookie(req, SESSION_COOKIE);
  if (!cookie) return undefined;
  const digest = digestOf(ctx, cookie);
  const record = await ctx.storage.sessions.get(digest);
  if (!record) return undefined;
  const now = ctx.now();
  const { idle_timeout: idle, absolute_timeout: absolute } = ctx.config.session;
  if (now - record.lastSeenAt >= idle * 1000 || now - record.createdAt >= absolute * 1000) {
    await ctx.storage.sessions.remove(digest);
    clearCookie(reply, SESSION_COOKIE);
    await ctx.audit.record({
      type: 'session.expired', actor: { userId: record.userId }, outcome: 'success',
      reason: now - record.createdAt >= absolute * 1000 ? 'absolute_timeout' : 'idle_timeout',
      requestId: String(req.id), sourceAddress: req.ip,
    });
    return undefined;
  }
  const user = await ctx.storage.users.getById(record.userId);
  if (!user || user.disabled) return undefined;
  await ctx.storage.sessions.touch(digest, now);
  return { record: { ...record, lastSeenAt: now }, cookie, user, previousSeenAt: record.lastSeenAt };
}

/** Starts a session for a user who passed every required factor; `amr` lists them (RFC 8176). */
export async function startSession(ctx: AppContext, reply: FastifyReply, user: UserRecord, amr: readonly string[] = ['pwd']): Promise<ActiveSession> {
  const cookie = randomToken(32);
  const now = ctx.now();
  const record: SessionRecord = { digest: digestOf(ctx, cookie), userId: user.id, createdAt: now, lastSeenAt: now, authTime: now, amr: [...amr] };
  await ctx.storage.sessions.create(record);
  // A session cookie (no Max-Age): it also ends when the browser closes.
  setCookie(reply, SESSION_COOKIE, cookie);
  return { record, cookie, user, previousSeenAt: now };
}

export async function endSession(ctx: AppContext, req: FastifyRequest, reply: FastifyReply): Promise<void> {
  const cookie = readCookie(req, SESSION_COOKIE);
  if (cookie) await ctx.storage.sessions.remove(digestOf(ctx, cookie));
  clearCookie(reply, SESSION_COOKIE);
}
