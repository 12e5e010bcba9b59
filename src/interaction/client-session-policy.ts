// Automatic logoff per client (45 CFR 164.312(a)(2)(iii): "terminate an electronic session after a
// predetermined time of inactivity"). A client may ask for stricter idle and absolute limits than
// the global `session.*` ones, in two places: `clients[].session` in the configuration file, or
// `caduceus client add|update --session-idle/--session-absolute` (stored with the client row,
// migration 006). The strictest value set applies, and no value can loosen the global limit: a
// larger one is capped by it.
//
// A session beyond this client's limits ends, as one beyond the global limits does: the user signs
// in again (login_required with prompt=none) and the new session serves every client. Keeping it
// for the other clients would let the sign-in page shown here refresh the idle time it measured
// (any use of the session moves lastSeenAt), so a second try would get a code without a password.
//
// Checked at the authorization step and again at the consent form's POST (a consent page left open
// past the limit needs a new sign-in). Not checked here: the global limits themselves
// (currentSession ends such sessions before this runs). The idle
// time is the session's, not the client's: a use of the session by another client within this
// client's idle limit counts as activity (a per-client last use would need a column per session
// and client).
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { CaduceusConfig } from '../config/schema.js';
import type { AppContext } from '../context/app-context.js';
import { SESSION_COOKIE, clearCookie } from '../http/cookies.js';
import type { ActiveSession } from './session.js';

/** Effective limits of one client, in seconds. */
export interface SessionLimits {
  idleTimeout: number;
  absoluteTimeout: number;
}

/** A client's own limits in seconds, each absent when not set. */
export interface ClientLimitValues {
  idleTimeout?: number;
  absoluteTimeout?: number;
}

export type SessionLimitKind = 'idle' | 'absolute';

const strictest = (...values: Array<number | undefined>): number => Math.min(...values.filter((v): v is number => v !== undefined));

/** The limits that apply to a client: each the smaller of the client's (when set) and the global one. */
export function effectiveSessionLimits(global: CaduceusConfig['session'], ...client: ClientLimitValues[]): SessionLimits {
  return {
    idleTimeout: strictest(global.idle_timeout, ...client.map((c) => c.idleTimeout)),
    absoluteTimeout: strictest(global.absolute_timeout, ...client.map((c) => c.absoluteTimeout)),
  };
}

/**
 * Which limit a session exceeds at `now` (milliseconds), or undefined when it is within both. The
 * idle age runs from the last use before this request (`previousSeenAt`), the absolute age from
 * the session's start; reaching a limit exceeds it, as in currentSession. Absolute wins when both.
 */
export function exceededSessionLimit(limits: SessionLimits, session: { createdAt: number; previousSeenAt: number }, now: number): SessionLimitKind | undefined {
  if (now - session.createdAt >= limits.absoluteTimeout * 1000) return 'absolute';
  if (now - session.previousSeenAt >= limits.idleTimeout * 1000) return 'idle';
  return undefined;
}

/** The limits of a client from the configuration file and from storage, capped by the global ones. */
export async function clientSessionLimits(ctx: AppContext, clientId: string): Promise<SessionLimits> {
  const declared = ctx.config.clients.find((c) => c.client_id === clientId)?.session;
  const stored = await ctx.storage.clientPolicies.get(clientId);
  return effectiveSessionLimits(
    ctx.config.session,
    { idleTimeout: declared?.idle_timeout, absoluteTimeout: declared?.absolute_timeout },
    { idleTimeout: stored?.sessionIdleTimeout, absoluteTimeout: stored?.sessionAbsoluteTimeout },
  );
}

/**
 * When the session is too idle or too old for this client: ends it (record and cookie), records a
 * `session.expired` event (reason `client_idle_timeout` or `client_absolute_timeout`, action
 * `client_limit`, the client id and the limit in seconds: no PHI) and resolves true; the caller
 * then asks the user to sign in again. Resolves false, changing nothing, when it is within them.
 */
export async function endSessionBeyondClientLimits(ctx: AppContext, req: FastifyRequest, reply: FastifyReply, session: ActiveSession, clientId: string): Promise<boolean> {
  const limits = await clientSessionLimits(ctx, clientId);
  const exceeded = exceededSessionLimit(limits, { createdAt: session.record.createdAt, previousSeenAt: session.previousSeenAt }, ctx.now());
  if (!exceeded) return false;
  await ctx.storage.sessions.remove(session.record.digest);
  clearCookie(reply, SESSION_COOKIE);
  await ctx.audit.record({
    type: 'session.expired', actor: { userId: session.record.userId, clientId }, outcome: 'success', action: 'client_limit',
    reason: exceeded === 'idle' ? 'client_idle_timeout' : 'client_absolute_timeout',
    requestId: String(req.id), sourceAddress: req.ip,
    details: { limit: exceeded, limit_seconds: exceeded === 'idle' ? limits.idleTimeout : limits.absoluteTimeout },
  });
  return true;
}
