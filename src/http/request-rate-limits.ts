// Request rate limits at the token endpoints and the password forms (45 CFR
// 164.308(a)(5)(ii)(C) log-in monitoring; NIST SP 800-63B §5.2.2; RFC 6585 §4). Every request is
// counted, successes included, in fixed one-minute windows aligned to the clock
// (src/http/rate-limit.ts): `rate_limits.*` requests per minute across every instance, 0 = off.
//
// Shared across instances (docs/configuration.md "`rate_limits`: request rate limits"): decisions
// are made in memory, and every SYNC_INTERVAL_MS each process adds its new counts to the shared
// store (PostgreSQL or SQLite, or Redis with `cache`; keys as keyed digests) and learns the totals
// of the windows it holds. So N instances allow the limit in all, overshooting by at most what they
// accept in about one interval before they hear of each other's counts. When the store cannot be
// reached, each process keeps its own count (never fewer refusals than one instance alone would
// make) and retries at the next interval.
//
// - /token, /introspect, /revoke, /par and the EHR launch API /smart/launch (counted together):
//   per source address, then per client id
//   as presented (Basic user name, client_id, or the assertion's iss), before client
//   authentication, so a flood never reaches the database or the signature checks. Refused with
//   429, Retry-After and {"error": "temporarily_unavailable"} (RFC 6749 §5.2 has no code of its own
//   for this; OAuth 2.1 and RFC 6749 §4.1.2.1 use temporarily_unavailable for an overloaded server).
// - the password forms: per source address, then per account (the lower-cased username, known or
//   not, held only as a SHA-256 digest). Refused with the login page, status 429 and one message
//   that is the same whether the account exists. A refused request is not a login attempt: it is
//   not counted toward the lockout of src/interaction/login.ts, and no password is checked.
//
// Audit: the first refusal per key and window is recorded (`token.failed` or `login.failed`,
// reason `rate_limited`), with the client id and user id when known and the source address, never
// a username; later refusals in that window are not, so a flood cannot flood the ledger.
// - dynamic client registration (POST, GET and DELETE /register): per source address only (nobody
//   is authenticated yet when a registration arrives). Refused like the token endpoints; the first
//   refusal per window is recorded as `client.changed` (action register, reason `rate_limited`).
// Deliberately not done: keys other than these (e.g. the second-factor forms, whose failures are
// throttled by src/interaction/login.ts).
import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { OAuthError } from '../errors/oauth-error.js';
import type { AuditEventInput, AuditSink } from '../audit/events.js';
import type { CaduceusConfig } from '../config/schema.js';
import { keyedDigest } from '../crypto/digest.js';
import type { MasterKey } from '../crypto/master-key.js';
import type { Logger } from '../ops/logging.js';
import { schedulePeriodic, type PeriodicTask } from '../ops/periodic.js';
import type { RateLimitShare, Storage } from '../storage/types.js';
import { FixedWindowLimiter, type WindowShare } from './rate-limit.js';

/** The window of every `rate_limits.*` value: they are requests per minute. */
export const RATE_LIMIT_WINDOW_MS = 60_000;

/** Shown on the login page when a password form is refused; it says nothing about the account. */
export const RATE_LIMITED_LOGIN = 'Too many sign-in attempts. Wait a minute, then try again.';

export type TokenEndpointName = 'token' | 'introspect' | 'revoke' | 'par' | 'launch';

type LimitName = 'token_endpoints.per_address' | 'token_endpoints.per_client' | 'login.per_address' | 'login.per_account' | 'registration.per_address';

/** How often each process exchanges its counts with the shared store. */
export const SYNC_INTERVAL_MS = 1_000;
/** The most windows one exchange carries (those with new requests first). */
const MAX_SHARES_PER_SYNC = 1_000;

/** An address longer than this is not an IP address; it is cut so a key stays small. */
const MAX_ADDRESS_CHARS = 64;

/** The request counters of one server process: one limiter per `rate_limits.*` value. */
export type RequestLimiters = Readonly<Record<LimitName, FixedWindowLimiter>>;

/** The limiters of one server, from its configuration (built by createContext: `ctx.rateLimits`). */
export function createRequestLimiters(rateLimits: CaduceusConfig['rate_limits']): RequestLimiters {
  const { token_endpoints: token, login, registration, max_keys: maxKeys } = rateLimits;
  const make = (limit: number) => new FixedWindowLimiter({ limit, windowMs: RATE_LIMIT_WINDOW_MS, maxKeys });
  return {
    'token_endpoints.per_address': make(token.per_address),
    'token_endpoints.per_client': make(token.per_client),
    'login.per_address': make(login.per_address),
    'login.per_account': make(login.per_account),
    'registration.per_address': make(registration.per_address),
  };
}

/** What the rate limits read and write: an application context (src/context/app-context.ts) is one. */
export interface RateLimitContext {
  rateLimits: RequestLimiters;
  now(): number;
  masterKey: Pick<MasterKey, 'digestKey'>;
  storage: Pick<Storage, 'rateLimitCounts' | 'users'>;
  audit: AuditSink;
}

/**
 * Exchanges this process's counts with the shared store: adds what it counted since the last
 * exchange and learns every open window's total. Tests call it directly; servers run it every
 * SYNC_INTERVAL_MS (scheduleRateLimitSync). Rejects when the store fails (the counts stay pending).
 */
export async function syncRateLimits(ctx: RateLimitContext): Promise<void> {
  const all = ctx.rateLimits;
  const now = ctx.now();
  const digestKey = ctx.masterKey.digestKey('rate-limit');
  const taken: Array<{ limit: LimitName; share: WindowShare }> = [];
  for (const limit of Object.keys(all) as LimitName[]) {
    for (const share of all[limit].share(now, MAX_SHARES_PER_SYNC - taken.length)) taken.push({ limit, share });
  }
  if (taken.length === 0) return;
  const shares: RateLimitShare[] = taken.map(({ limit, share }) => ({
    limit, keyDigest: keyedDigest(digestKey, share.key), windowStart: share.windowStart, delta: share.delta,
  }));
  let totals: number[];
  try {
    totals = await ctx.storage.rateLimitCounts.add(shares, Math.max(...shares.map((s) => s.windowStart)) + 2 * RATE_LIMIT_WINDOW_MS);
  } catch (err) {
    for (const limit of Object.keys(all) as LimitName[]) all[limit].restore(taken.filter((t) => t.limit === limit).map((t) => t.share));
    throw err;
  }
  taken.forEach(({ limit, share }, i) => all[limit].learn(share.key, share.windowStart, totals[i]!));
}

/** Runs syncRateLimits every SYNC_INTERVAL_MS in a server process; a failed exchange is logged and retried. */
export function scheduleRateLimitSync(ctx: RateLimitContext, logger: Logger): PeriodicTask {
  let failing = false;
  return schedulePeriodic(async () => {
    try {
      await syncRateLimits(ctx);
      failing = false;
    } catch (err) {
      // One line when the exchange starts failing, not one a second.
      if (!failing) logger.log('error', 'rate-limit counts could not be shared; each instance counts alone until the store answers', { component: 'rate_limits', error: (err as Error).name });
      failing = true;
    }
  }, { firstMs: SYNC_INTERVAL_MS, intervalMs: SYNC_INTERVAL_MS });
}

interface Refusal {
  limit: LimitName;
  key: string;
  retryAfterSeconds: number;
  report: boolean;
}

/** Counts the request against each [limit, key] in turn; the first refusal stops the count. */
function take(ctx: RateLimitContext, checks: ReadonlyArray<readonly [LimitName, string | undefined]>): Refusal | undefined {
  const all = ctx.rateLimits;
  const now = ctx.now();
  for (const [limit, key] of checks) {
    if (key === undefined) continue;
    const decision = all[limit].take(key, now);
    if (!decision.allowed) return { limit, key, retryAfterSeconds: decision.retryAfterSeconds, report: decision.report };
  }
  return undefined;
}

/** Audits the first refusal of a window; when the ledger cannot take it, the next refusal tries again. */
async function report(ctx: RateLimitContext, refusal: Refusal, event: AuditEventInput): Promise<void> {
  if (!refusal.report) return;
  try {
    await ctx.audit.record(event);
  } catch (err) {
    ctx.rateLimits[refusal.limit].unreport(refusal.key);
    throw err;
  }
}

const addressOf = (req: FastifyRequest) => String(req.ip).slice(0, MAX_ADDRESS_CHARS);

const details = (ctx: RateLimitContext, refusal: Refusal) => ({
  limit: `rate_limits.${refusal.limit}`,
  max: ctx.rateLimits[refusal.limit].limit,
  window_seconds: RATE_LIMIT_WINDOW_MS / 1000,
});

/**
 * At /token, /introspect, /revoke, /par and /smart/launch, before client authentication: throws a 429
 * temporarily_unavailable OAuthError, with Retry-After set on the reply, when the source address or
 * the presented client id is over its limit. The caller reads the client id as presented (Basic
 * user name, client_id or the assertion's iss: presentedClientId in src/oauth/client-auth/throttle.ts).
 */
export async function enforceTokenEndpointRateLimit(
  ctx: RateLimitContext, req: FastifyRequest, reply: FastifyReply, clientId: string | undefined, endpoint: TokenEndpointName,
): Promise<void> {
  const sourceAddress = addressOf(req);
  const refusal = take(ctx, [['token_endpoints.per_address', sourceAddress], ['token_endpoints.per_client', clientId]]);
  if (refusal === undefined) return;
  reply.header('retry-after', String(refusal.retryAfterSeconds));
  await report(ctx, refusal, {
    type: 'token.failed', actor: { clientId }, outcome: 'denied', action: endpoint, reason: 'rate_limited',
    requestId: String(req.id), sourceAddress, details: details(ctx, refusal),
  });
  throw new OAuthError('temporarily_unavailable', `too many requests; retry after ${refusal.retryAfterSeconds} seconds`, `${refusal.limit} exceeded`, 429);
}

/**
 * At /register and /register/:client_id (RFC 7591, RFC 7592), before anything else: throws a 429
 * temporarily_unavailable OAuthError, with Retry-After set on the reply, when the source address is
 * over `rate_limits.registration.per_address`.
 */
export async function enforceRegistrationRateLimit(ctx: RateLimitContext, req: FastifyRequest, reply: FastifyReply, action: string): Promise<void> {
  const sourceAddress = addressOf(req);
  const refusal = take(ctx, [['registration.per_address', sourceAddress]]);
  if (refusal === undefined) return;
  reply.header('retry-after', String(refusal.retryAfterSeconds));
  await report(ctx, refusal, {
    type: 'client.changed', actor: {}, outcome: 'denied', action, reason: 'rate_limited',
    requestId: String(req.id), sourceAddress, details: details(ctx, refusal),
  });
  throw new OAuthError('temporarily_unavailable', `too many requests; retry after ${refusal.retryAfterSeconds} seconds`, `${refusal.limit} exceeded`, 429);
}

/**
 * At the password forms, before the password is checked: when the source address or the account
 * is over its limit, sets Retry-After and resolves the message to show with status 429; otherwise
 * resolves undefined.
 */
export async function limitLoginRequest(
  ctx: RateLimitContext, req: FastifyRequest, reply: FastifyReply, username: string, actor: { clientId?: string } = {},
): Promise<string | undefined> {
  const sourceAddress = addressOf(req);
  const account = createHash('sha256').update(username.toLowerCase()).digest('base64url');
  const refusal = take(ctx, [['login.per_address', sourceAddress], ['login.per_account', account]]);
  if (refusal === undefined) return undefined;
  reply.header('retry-after', String(refusal.retryAfterSeconds));
  if (refusal.report) {
    // The user id only when the name is an account's; the name itself is never recorded.
    const user = username ? await ctx.storage.users.getByUsername(username) : undefined;
    await report(ctx, refusal, {
      type: 'login.failed', actor: { userId: user?.id, clientId: actor.clientId }, outcome: 'denied', action: 'pwd', reason: 'rate_limited',
      requestId: String(req.id), sourceAddress, details: details(ctx, refusal),
    });
  }
  return RATE_LIMITED_LOGIN;
}
