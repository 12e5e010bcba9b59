// Password login and account lockout: argon2id, one generic failure message (no user enumeration),
// throttling per address, and per account a lockout whose delay doubles with each further lockout
// (45 CFR 164.308(a)(5)(ii)(C) log-in monitoring; NIST SP 800-63B §5.2.2 rate limiting).
//
// Failures of the password and of the second factor count alike, per lower-cased username, known or
// not (so a locked unknown name behaves like a locked account). Counts live in the ThrottleStore:
// - `login:user:NAME` one hit per failure, window login.failure_window;
// - `login:addr:ADDRESS` one hit per failure, window login.failure_window;
// - `login:lock:NAME` one hit per lockout, remembered LOCKOUT_MEMORY_MS. The number of these hits
//   is the lockout level L; the account is locked while the newest of them is younger than
//   lockoutSeconds(L). A failure that brings the failures in the window to
//   login.max_failures_per_account (or beyond, after a lockout ended) starts lockout L + 1.
// Only a complete sign-in (every factor) clears the failures and the lockout level: clearing them
// after the password alone would let someone who knows it guess second factors without limit.
// A refused sign-in says that it is paused and for how long (signInPause, pauseMessage): the
// same words for a username with or without an account, so the pause reveals nothing.
import { dummyVerify, verifyPassword } from '../crypto/password.js';
import type { AppContext } from '../context/app-context.js';
import type { UserRecord } from '../storage/types.js';

export type LoginResult =
  | { ok: true; user: UserRecord }
  /** pause: sign-in is refused for a while (a lockout of the username, or of the address). */
  | { ok: false; reason: 'bad_credentials' | 'throttled' | 'locked'; userId?: string; pause?: SignInPause };

export const GENERIC_LOGIN_FAILURE = 'The username or password is not correct, or the account cannot sign in right now.';

/**
 * Sign-in is refused for `seconds` more: for this username (`username`, known or not: the lockout
 * is keyed by the name typed, so the same message comes for a name that has no account), or for
 * every name from this address (`address`).
 */
export interface SignInPause {
  scope: 'username' | 'address';
  seconds: number;
}

/** "45 seconds", "2 minutes", "about 3 hours". */
export function waitText(seconds: number): string {
  if (seconds < 60) return `${seconds} second${seconds === 1 ? '' : 's'}`;
  const minutes = Math.ceil(seconds / 60);
  if (minutes < 120) return `${minutes} minute${minutes === 1 ? '' : 's'}`;
  return `about ${Math.round(minutes / 60)} hours`;
}

/**
 * What a refused sign-in says: that it is paused and for how long, never whether the account
 * exists (NIST SP 800-63B §5.2.2 throttling; the same text for any username in the same state).
 */
export function pauseMessage(pause: SignInPause): string {
  return pause.scope === 'username'
    ? `Too many failed sign-ins with this username. Sign-in with it is paused: try again in ${waitText(pause.seconds)}.`
    : `Too many failed sign-ins from your network. Sign-in is paused: try again in ${waitText(pause.seconds)}.`;
}

/** The message of a failed sign-in: the pause when there is one, the generic failure otherwise. */
export function loginFailureMessage(result: { pause?: SignInPause }): string {
  return result.pause ? pauseMessage(result.pause) : GENERIC_LOGIN_FAILURE;
}

/** How long lockouts are remembered for the doubling: a quiet day starts again at the base delay. */
export const LOCKOUT_MEMORY_MS = 24 * 60 * 60 * 1000;

const accountKey = (username: string) => `login:user:${username.toLowerCase()}`;
const lockKey = (username: string) => `login:lock:${username.toLowerCase()}`;
const addressKey = (address: string) => `login:addr:${address}`;

/** The delay of lockout number `level` (1, 2, …): base · 2^(level-1), at most max. Pure. */
export function lockoutSeconds(level: number, baseSeconds: number, maxSeconds: number): number {
  if (level < 1) return 0;
  return Math.min(baseSeconds * 2 ** Math.min(level - 1, 30), maxSeconds);
}

/** Whether the account (by username, known or not) is inside a lockout now. */
export async function accountLocked(ctx: AppContext, username: string): Promise<boolean> {
  const now = ctx.now();
  const level = await ctx.storage.throttle.count(lockKey(username), now, LOCKOUT_MEMORY_MS);
  if (level === 0) return false;
  const seconds = lockoutSeconds(level, ctx.config.login.lockout_base_seconds, ctx.config.login.lockout_max_seconds);
  return (await ctx.storage.throttle.count(lockKey(username), now, seconds * 1000)) > 0;
}

/**
 * Seconds until fewer than `below` hits of `key` are left in the sliding window of `windowMs`
 * ending now (0 when that is already so). ThrottleStore only counts, so this finds the age of the
 * hit that keeps the count up by bisecting the window: about log2(window in seconds) counts.
 */
async function secondsUntilBelow(ctx: AppContext, key: string, windowMs: number, below: number): Promise<number> {
  const now = ctx.now();
  const total = Math.ceil(windowMs / 1000);
  if ((await ctx.storage.throttle.count(key, now, total * 1000)) < below) return 0;
  // count(lo) < below <= count(hi): the hit that matters is between lo and hi seconds old.
  let lo = 0;
  let hi = total;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if ((await ctx.storage.throttle.count(key, now, mid * 1000)) < below) lo = mid;
    else hi = mid;
  }
  return total - lo;
}

/** How long sign-in stays refused for this username, or from this address; undefined when it is not. */
export async function signInPause(ctx: AppContext, username: string, address: string): Promise<SignInPause | undefined> {
  const now = ctx.now();
  const level = await ctx.storage.throttle.count(lockKey(username), now, LOCKOUT_MEMORY_MS);
  if (level > 0) {
    const seconds = lockoutSeconds(level, ctx.config.login.lockout_base_seconds, ctx.config.login.lockout_max_seconds);
    const left = await secondsUntilBelow(ctx, lockKey(username), seconds * 1000, 1);
    if (left > 0) return { scope: 'username', seconds: left };
  }
  const { max_failures_per_address: perAddress, failure_window: window } = ctx.config.login;
  const left = await secondsUntilBelow(ctx, addressKey(address), window * 1000, perAddress);
  return left > 0 ? { scope: 'address', seconds: left } : undefined;
}

/** Whether attempts for this account or from this address are refused right now. */
export async function loginRefused(ctx: AppContext, username: string, address: string): Promise<boolean> {
  const { max_failures_per_address: perAddress, failure_window: window } = ctx.config.login;
  if (await accountLocked(ctx, username)) return true;
  return (await ctx.storage.throttle.count(addressKey(address), ctx.now(), window * 1000)) >= perAddress;
}

export interface FailureInput {
  username: string;
  userId?: string;
  clientId?: string;
  /** Which step failed: 'pwd', 'otp', 'hwk' or 'recovery'. */
  action: string;
  /** Audit reason code, e.g. bad_credentials, bad_otp, otp_replay, locked, throttled. */
  reason: string;
  meta: { requestId?: string; sourceAddress: string };
  /** A refused attempt (locked or throttled) is audited but adds no hit. */
  counted: boolean;
}

/** Audits a failed step as login.failed and, for a counted failure, may start a lockout (login.locked). Resolves whether the account is locked now. */
export async function recordLoginFailure(ctx: AppContext, input: FailureInput): Promise<{ locked: boolean }> {
  const { meta } = input;
  const actor = { userId: input.userId, clientId: input.clientId };
  await ctx.audit.record({
    type: 'login.failed', actor, outcome: 'denied', action: input.action, reason: input.reason,
    requestId: meta.requestId, sourceAddress: meta.sourceAddress,
  });
  if (!input.counted) return { locked: await accountLocked(ctx, input.username) };
  const now = ctx.now();
  const { max_failures_per_account: perAccount, failure_window: window, lockout_base_seconds: base, lockout_max_seconds: max } = ctx.config.login;
  const failures = await ctx.storage.throttle.hit(accountKey(input.username), now, window * 1000);
  await ctx.storage.throttle.hit(addressKey(meta.sourceAddress), now, window * 1000);
  if (failures < perAccount) return { locked: false };
  const level = await ctx.storage.throttle.hit(lockKey(input.username), now, LOCKOUT_MEMORY_MS);
  const seconds = lockoutSeconds(level, base, max);
  await ctx.audit.record({
    type: 'login.locked', actor, outcome: 'denied', action: 'account', reason: 'too_many_failures',
    requestId: meta.requestId, sourceAddress: meta.sourceAddress, details: { lockout: level, seconds, failures },
  });
  return { locked: true };
}

/** After a complete sign-in: the account's failures and lockout level start again from zero. */
export async function clearLoginFailures(ctx: AppContext, username: string): Promise<void> {
  await ctx.storage.throttle.reset(accountKey(username));
  await ctx.storage.throttle.reset(lockKey(username));
}

/**
 * The password step. Audits every failure (login.failed, and login.locked when it starts a
 * lockout); success is audited when the whole sign-in completes (src/interaction/mfa/flow.ts).
 */
export async function checkLogin(
  ctx: AppContext, username: string, password: string, address: string, request: { requestId?: string; clientId?: string } = {},
): Promise<LoginResult> {
  const meta = { requestId: request.requestId, sourceAddress: address };
  const { clientId } = request;
  const user = username ? await ctx.storage.users.getByUsername(username) : undefined;
  if (await loginRefused(ctx, username, meta.sourceAddress)) {
    await dummyVerify();
    const locked = await accountLocked(ctx, username);
    const reason = locked ? 'locked' : 'throttled';
    await recordLoginFailure(ctx, { username, userId: user?.id, clientId, action: 'pwd', reason, meta, counted: false });
    return { ok: false, reason, userId: user?.id, pause: await signInPause(ctx, username, meta.sourceAddress) };
  }
  const valid = user && !user.disabled ? await verifyPassword(user.passwordHash, password) : await dummyVerify();
  if (!valid || !user) {
    const { locked } = await recordLoginFailure(ctx, { username, userId: user?.id, clientId, action: 'pwd', reason: 'bad_credentials', meta, counted: true });
    // The failure that starts a lockout already says so (for any username alike).
    return { ok: false, reason: 'bad_credentials', userId: user?.id, ...(locked ? { pause: await signInPause(ctx, username, meta.sourceAddress) } : {}) };
  }
  return { ok: true, user };
}
