// Password login: argon2id, one generic failure message (no user enumeration), and throttling of
// repeated failures per account and per address (45 CFR 164.308(a)(5)(ii)(C) log-in monitoring).
import { dummyVerify, verifyPassword } from '../crypto/password.js';
import type { AppContext } from '../server/context.js';
import type { UserRecord } from '../storage/types.js';

export type LoginResult = { ok: true; user: UserRecord } | { ok: false; reason: 'bad_credentials' | 'throttled'; userId?: string };

export const GENERIC_LOGIN_FAILURE = 'The username or password is not correct, or the account cannot sign in right now.';

export async function checkLogin(ctx: AppContext, username: string, password: string, address: string): Promise<LoginResult> {
  const now = ctx.now();
  const { max_failures_per_account: perAccount, max_failures_per_address: perAddress, failure_window: window } = ctx.config.login;
  const accountKey = `login:user:${username.toLowerCase()}`;
  const addressKey = `login:addr:${address}`;
  const windowMs = window * 1000;
  const user = username ? await ctx.storage.users.getByUsername(username) : undefined;
  if ((await ctx.storage.throttle.count(accountKey, now, windowMs)) >= perAccount
    || (await ctx.storage.throttle.count(addressKey, now, windowMs)) >= perAddress) {
    await dummyVerify();
    return { ok: false, reason: 'throttled', userId: user?.id };
  }
  const valid = user && !user.disabled ? await verifyPassword(user.passwordHash, password) : await dummyVerify();
  if (!valid || !user) {
    await ctx.storage.throttle.hit(accountKey, now, windowMs);
    await ctx.storage.throttle.hit(addressKey, now, windowMs);
    return { ok: false, reason: 'bad_credentials', userId: user?.id };
  }
  await ctx.storage.throttle.reset(accountKey);
  return { ok: true, user };
}
