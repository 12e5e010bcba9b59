// Which patients a token's user/ scopes reach at the gateway (45 CFR 164.502(b) minimum
// necessary; SMART user/ scopes: "resources the user is permitted to access"): the patients the
// subject's account may act for (src/identity/patients.ts: a practitioner's panel, a patient
// account's own record, nobody else), and nobody for a subject that is not a stored, active
// account (fail closed). Emergency access to a patient off the panel is break-glass, whose tokens carry patient/
// scopes instead (src/interaction/break-glass.ts).
//
// Looked up only for tokens that carry a user/ scope, and cached per subject for REACH_CACHE_MS
// (bounded to REACH_CACHE_MAX subjects; the cache is the server's, ctx.userReach): a panel change
// reaches the gateway within that time.
import { patientReach } from '../identity/patients.js';
import { recordCacheLookup } from '../ops/metrics.js';
import type { AppContext } from '../context/app-context.js';
import { BoundedCache } from '../util/bounded-cache.js';

export const REACH_CACHE_MS = 30_000;
const REACH_CACHE_MAX = 10_000;
const NOBODY: ReadonlySet<string> = new Set();

/** The server's cache of reaches (AppContext.userReach), built by the composition root. */
export function createUserReachCache(): AppContext['userReach'] {
  return new BoundedCache(REACH_CACHE_MAX);
}

// A prefix test, not a parse: it runs on every gateway request, and a token only carries scopes the
// authorization server validated (anything starting "user/" is treated as one: fail closed).
const hasUserScope = (scopes: readonly string[]) => scopes.some((s) => s.startsWith('user/'));

/** The patients this token's user/ scopes reach; undefined when it carries no user/ scope. */
export async function userReach(ctx: AppContext, token: { subject: string; scopes: readonly string[] }): Promise<ReadonlySet<string> | undefined> {
  if (!hasUserScope(token.scopes)) return undefined;
  const cache = ctx.userReach;
  const now = ctx.now();
  const hit = cache.get(token.subject);
  recordCacheLookup('user_reach', hit !== undefined && hit.until > now);
  if (hit && hit.until > now) return hit.reach;
  const user = await ctx.storage.users.getById(token.subject);
  const reach = user && !user.disabled ? patientReach(user) : NOBODY;
  cache.set(token.subject, { reach, until: now + REACH_CACHE_MS });
  return reach;
}
