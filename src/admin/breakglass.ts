// Emergency access review as the admin console and the admin API do it (45 CFR 164.312(a)(2)(ii)
// emergency access procedure; 164.308(a)(1)(ii)(D) information system activity review): the
// accesses waiting for review with the practitioners' reasons, the ones reviewed lately, each
// access's trail, and the review, attributed to the signed-in administrator (or the API client)
// rather than to a name typed on a command line. The review itself, and its rule that the account
// that took an access never reviews it, is src/breakglass/review.ts reviewAccess, shared with
// `caduceus breakglass review`.
//
// How the trail is found: the break-glass access belongs to one grant (break_glass_accesses
// .grant_id); its tokens carry that grant (the jti names it) and purpose_of_use ETREAT, and the
// gateway records every use as a phi.accessed or phi.denied event with the token's grantId and
// details.break_glass (src/gateway/audit-event.ts). The ledger has no grant column, so the trail is
// an indexed search by the practitioner (actor_user, event_time) over the access's lifetime,
// filtered to its grant: break-glass tokens live at most breakglass.token_ttl_seconds from the code
// exchange, which follows the access within tokens.authorization_code_ttl, and are never refreshed.
//
// Reasons and notes are sealed at rest (src/breakglass/sealed-text.ts) and opened only after the
// read that shows them has been recorded (audit.read, the reader as actor).
import type { AppContext } from '../context/app-context.js';
import type { AuditEvent } from '../audit/events.js';
import { searchEvents } from '../audit/search.js';
import { reviewAccess } from '../breakglass/review.js';
import { openAccessText } from '../breakglass/sealed-text.js';
import { ConfigError } from '../config/schema.js';
import type { BreakGlassAccessRecord } from '../storage/types.js';
import { recordLedgerRead, type LedgerReader } from './ledger.js';

/** An access with its reason (and review note) opened. */
export type OpenedAccess = BreakGlassAccessRecord;

/** A reviewed access as the list shows it: no free text. */
export type ReviewedAccessSummary = Omit<BreakGlassAccessRecord, 'reason' | 'reviewNote'>;

export const REVIEWED_LISTED = 20;
/** Most phi.* events of the practitioner looked at for one access's trail. */
export const TRAIL_SCAN_LIMIT = 1000;
/** Clock differences between instances, and the gateway's leeway on a token's expiry. */
const TRAIL_SLACK_MS = 120_000;

type Deps = Pick<AppContext, 'storage' | 'audit' | 'masterKey' | 'now' | 'config'>;

/**
 * The accesses waiting for review (oldest first, with their reasons) and the last REVIEWED_LISTED
 * reviewed (from the ledger's breakglass.reviewed events, newest first). Recorded first as one
 * audit.read (action breakglass_review_list, the ids listed), as `caduceus breakglass review` does.
 */
export async function listAccessesForReview(ctx: Deps, reader: LedgerReader, resource: string): Promise<{ open: OpenedAccess[]; reviewed: ReviewedAccessSummary[] }> {
  const [open, reviews] = await Promise.all([
    ctx.storage.breakGlass.listOpen(),
    searchEvents(ctx.storage.sql, { type: 'breakglass.reviewed', limit: REVIEWED_LISTED }),
  ]);
  const reviewed: ReviewedAccessSummary[] = [];
  for (const id of new Set(reviews.map((e) => e.resource).filter((r): r is string => r !== undefined))) {
    const access = await ctx.storage.breakGlass.get(id);
    if (access) {
      const { reason: _reason, reviewNote: _note, ...summary } = access;
      reviewed.push(summary);
    }
  }
  await recordLedgerRead(ctx, reader, {
    action: 'breakglass_review_list', resource,
    details: { results: open.length, reviewed: reviewed.length, breakglass_ids: open.map((a) => a.id).join(',') },
  });
  return { open: open.map((a) => opened(ctx, a)), reviewed };
}

export interface AccessWithTrail {
  access: OpenedAccess;
  /** The phi.* events of the access's grant, newest first. */
  trail: AuditEvent[];
  /** False when the practitioner's events in the window exceeded TRAIL_SCAN_LIMIT (the oldest are then missing). */
  trailComplete: boolean;
}

/** One access with its reason, review and trail; undefined (nothing recorded) when there is no such access. */
export async function readAccess(ctx: Deps, reader: LedgerReader, id: string, resource: string): Promise<AccessWithTrail | undefined> {
  const access = await ctx.storage.breakGlass.get(id);
  if (!access) return undefined;
  const scanned = await searchEvents(ctx.storage.sql, {
    actor: access.userId, type: ['phi.accessed', 'phi.denied'], since: access.createdAt,
    until: access.expiresAt + ctx.config.tokens.authorization_code_ttl * 1000 + TRAIL_SLACK_MS, limit: TRAIL_SCAN_LIMIT,
  });
  const trail = scanned.filter((e) => e.grantId === access.grantId);
  await recordLedgerRead(ctx, reader, {
    action: 'breakglass_access', resource, patient: `Patient/${access.patient}`, details: { breakglass_id: access.id, trail: trail.length },
  });
  return { access: opened(ctx, access), trail, trailComplete: scanned.length < TRAIL_SCAN_LIMIT };
}

function opened(ctx: Pick<AppContext, 'masterKey'>, access: BreakGlassAccessRecord): OpenedAccess {
  return {
    ...access,
    reason: openAccessText(ctx.masterKey, access.id, 'reason', access.reason),
    reviewNote: access.reviewNote === null ? null : openAccessText(ctx.masterKey, access.id, 'review_note', access.reviewNote),
  };
}

export type ReviewResult =
  | { ok: true }
  | { ok: false; problem: 'not_found' | 'already_reviewed' }
  /** The reviewer took this access: another administrator must review it. */
  | { ok: false; problem: 'own_access'; message: string }
  /** What is wrong with the field, as the rule says it (e.g. "use justified or unjustified"). */
  | { ok: false; problem: 'invalid'; field: 'outcome' | 'note'; message: string };

/**
 * Records the review of one access by `reviewer` (the administrator's user id, or client:ID for the
 * admin API), through reviewAccess: once, never by the account that took the access, a
 * breakglass.reviewed event with the reviewer as actor and `via` in its details.
 */
export async function reviewEmergencyAccess(
  ctx: Deps, reviewer: { actor: string; via: 'admin_console' | 'admin_api' }, id: string, input: { outcome?: string; note?: string },
): Promise<ReviewResult> {
  let done: boolean;
  try {
    done = await reviewAccess(ctx, id, { outcome: input.outcome ?? '', reviewer: reviewer.actor, via: reviewer.via, ...(input.note !== undefined ? { note: input.note } : {}) });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    // reviewAccess names the CLI's flags (--outcome, --note, --reviewer); here they are fields.
    const [flag, ...rest] = (err.problems[0] ?? '').split(': ');
    const message = rest.join(': ');
    if (flag === '--reviewer') return { ok: false, problem: 'own_access', message: 'You took this emergency access yourself: another administrator must review it.' };
    return { ok: false, problem: 'invalid', field: flag === '--note' ? 'note' : 'outcome', message };
  }
  if (done) return { ok: true };
  return { ok: false, problem: (await ctx.storage.breakGlass.get(id)) ? 'already_reviewed' : 'not_found' };
}
