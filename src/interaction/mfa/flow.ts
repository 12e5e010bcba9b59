// What happens after a right password (45 CFR 164.312(d); the 2025 NPRM makes MFA the rule):
// - the user has a second factor: it is asked for (/login/mfa);
// - the role requires one (mfa.required_roles) and there is none: enrolment first (/login/mfa/enroll),
//   before any consent;
// - otherwise the session starts with amr ["pwd"].
// A session starts only here (completeLogin), with the amr of every factor used (RFC 8176).
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../../context/app-context.js';
import type { UserRecord } from '../../storage/types.js';
import { clearLoginFailures } from '../login.js';
import { mfaRequiredFor, roleOf } from '../../identity/role-policy.js';
import { startSession, type ActiveSession } from '../session.js';
import { acrFor, hasSecondFactor } from './acr.js';
import { beginPending } from './pending.js';

export interface SignInContext {
  /** Where to go once signed in: "/interaction/<id>" or "/account". */
  returnTo: string;
  clientId?: string;
  meta: { requestId: string; sourceAddress: string };
}

export function mfaRequired(ctx: AppContext, user: UserRecord): boolean {
  return mfaRequiredFor(roleOf(user), ctx.config.mfa.required_roles);
}

/** Whether a session is strong enough for its user under the current policy (e.g. after a role change). */
export function sessionMeetsPolicy(ctx: AppContext, session: ActiveSession): boolean {
  return !mfaRequired(ctx, session.user) || hasSecondFactor(session.record.amr);
}

/** The next step after the password; resolves the location to redirect to (303). */
export async function continueAfterPassword(ctx: AppContext, req: FastifyRequest, reply: FastifyReply, user: UserRecord, signIn: SignInContext): Promise<string> {
  const factors = await ctx.storage.mfaFactors.listByUser(user.id);
  const base = { purpose: 'login' as const, userId: user.id, returnTo: signIn.returnTo, clientId: signIn.clientId };
  if (factors.length > 0) {
    await beginPending(ctx, req, reply, { ...base, stage: 'verify' });
    return '/login/mfa';
  }
  if (mfaRequired(ctx, user)) {
    await beginPending(ctx, req, reply, { ...base, stage: 'enroll' });
    return '/login/mfa/enroll';
  }
  await completeLogin(ctx, reply, user, ['pwd'], 'pwd', signIn);
  return signIn.returnTo;
}

/**
 * Starts the session once every required factor passed, clears the account's failures and
 * lockout level, and audits login.succeeded with the last factor as action ('pwd', 'otp',
 * 'recovery' or 'hwk') and the amr and acr reached.
 */
export async function completeLogin(
  ctx: AppContext, reply: FastifyReply, user: UserRecord, amr: readonly string[], action: string, signIn: Omit<SignInContext, 'returnTo'>,
): Promise<ActiveSession> {
  const session = await startSession(ctx, reply, user, amr);
  await clearLoginFailures(ctx, user.username);
  await ctx.audit.record({
    type: 'login.succeeded', actor: { userId: user.id, clientId: signIn.clientId }, outcome: 'success', action,
    requestId: signIn.meta.requestId, sourceAddress: signIn.meta.sourceAddress, sessionId: session.record.digest.slice(0, 16),
    details: { amr: amr.join(' '), acr: acrFor(amr) },
  });
  return session;
}
