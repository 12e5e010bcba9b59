// Which patients a token's user/ scopes reach at the gateway (45 CFR 164.502(b) minimum
// necessary; SMART user/ scopes: "resources the user is permitted to access"): a practitioner's
// panel (users.patient_panel, set with `caduceus user set-panel`), a patient account's own record,
// and nobody for any other account or a subject that is not a stored, active account (fail
// closed). Emergency access to a patient off the panel is break-glass, whose tokens carry patient/
// scopes instead (src/interaction/break-glass.ts).
//
// Looked up only for tokens that carry a user/ scope, and cached per subject for REACH_CACHE_MS
// (bounded to REACH_CACHE_MAX subjects): a panel change reaches the gateway within that time.
import { ownPatientId } from '../interaction/patient-context.js';
import { roleOf } from '../interaction/role-policy.js';
import { recordCacheLookup } from '../ops/metrics.js';
import type { AppContext } from '../server/context.js';

export const REACH_CACHE_MS = 30_000;
const REACH_CACHE_MAX = 10_000;
const NOBODY: ReadonlySet<string> = new Set();

const caches = new WeakMap<AppContext, Map<string, { reach: ReadonlySet<string>; until: number }>>();

// A prefix test, not a parse: it runs on every gateway request, and a token only carries scopes the
// authorization server validated (anything starting "user/" is treated as one: fail closed).
const hasUserScope = (scopes: readonly string[]) => scopes.some((s) => s.startsWith('user/'));

/** The patients this token's user/ scopes reach; undefined when it carries no user/ scope. */
export async function userReach(ctx: AppContext, token: { subject: string; scopes: readonly string[] }): Promise<ReadonlySet<string> | undefined> {
  if (!hasUserScope(token.scopes)) return undefined;
  let cache = caches.get(ctx);
  if (!cache) caches.set(ctx, (cache = new Map()));
  const now = ctx.now();
  const hit = cache.get(token.subject);
  recordCacheLookup('user_reach', hit !== undefined && hit.until > now);
  if (hit && hit.until > now) return hit.reach;
  const user = await ctx.storage.users.getById(token.subject);
  let reach = NOBODY;
  if (user && !user.disabled) {
    const role = roleOf(user);
    const own = role === 'patient' ? ownPatientId(user) : undefined;
    if (role === 'practitioner') reach = new Set(user.patientPanel ?? []);
    else if (own !== undefined) reach = new Set([own]);
  }
  cache.delete(token.subject);
  if (cache.size >= REACH_CACHE_MAX) cache.delete(cache.keys().next().value!);
  cache.set(token.subject, { reach, until: now + REACH_CACHE_MS });
  return reach;
}
