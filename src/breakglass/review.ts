// After-the-fact review of emergency accesses (break-glass, 45 CFR 164.312(a)(2)(ii) emergency
// access procedure; 164.308(a)(1)(ii)(D) information system activity review). Every access stays
// open until a reviewer records an outcome, once; both the reading of the open list (which shows
// the practitioners' stated reasons) and each review are recorded in the audit ledger before
// anything is shown or returned.
//
// The reviewer's note stays in the break_glass_accesses row, like the reason, and both are sealed
// there (src/breakglass/sealed-text.ts): the ledger event holds identifiers and the outcome only.
import type { AuditSink } from '../audit/events.js';
import { ConfigError } from '../config/schema.js';
import type { MasterKey } from '../crypto/master-key.js';
import type { BreakGlassAccessRecord, Storage } from '../storage/types.js';
import { openAccessText, sealAccessText } from './sealed-text.js';

export type ReviewOutcome = 'justified' | 'unjustified';
export const REVIEW_OUTCOMES: readonly ReviewOutcome[] = ['justified', 'unjustified'];
export const MAX_REVIEW_NOTE_LENGTH = 2000;

export interface BreakGlassReviewDeps {
  storage: Storage;
  audit: AuditSink;
  now: () => number;
  masterKey: MasterKey;
}

export function isReviewOutcome(value: string): value is ReviewOutcome {
  return (REVIEW_OUTCOMES as readonly string[]).includes(value);
}

/**
 * The accesses not yet reviewed, oldest first. The read is recorded first (audit.read, the reader
 * as actor, the ids listed): when the ledger cannot record it, this rejects and nothing is shown.
 */
export async function listOpenAccesses(deps: Pick<BreakGlassReviewDeps, 'storage' | 'audit' | 'masterKey'>, reader: string): Promise<BreakGlassAccessRecord[]> {
  const open = await deps.storage.breakGlass.listOpen();
  await deps.audit.record({
    type: 'audit.read', actor: { userId: reader }, outcome: 'success', resource: 'break_glass_accesses', action: 'breakglass_review_list',
    details: { via: 'cli', results: open.length, breakglass_ids: open.map((a) => a.id).join(',') },
  });
  return open.map((a) => ({ ...a, reason: openAccessText(deps.masterKey, a.id, 'reason', a.reason) }));
}

/**
 * Records the outcome of one access's review, once, and a 'breakglass.reviewed' ledger event with
 * the reviewer as actor. Resolves false when the access is unknown or was already reviewed (the
 * first review stands). Fails with ConfigError on an invalid outcome or note, and when the reviewer
 * is the account that took the access: an emergency access is reviewed by someone else (45 CFR
 * 164.308(a)(1)(ii)(D) information system activity review).
 */
export async function reviewAccess(
  deps: BreakGlassReviewDeps,
  id: string,
  input: {
    outcome: string; note?: string;
    /** The reviewing account's user id (reviewed_by and the event's actor). */
    reviewer: string;
    /** Who ran the review, for the event (e.g. cli:<operating-system user>). */
    via?: string;
  },
): Promise<boolean> {
  if (!isReviewOutcome(input.outcome)) {
    throw new ConfigError([`--outcome: use ${REVIEW_OUTCOMES.join(' or ')}`]);
  }
  const note = input.note?.trim() ? input.note.trim() : null;
  if (note !== null && note.length > MAX_REVIEW_NOTE_LENGTH) {
    throw new ConfigError([`--note: at most ${MAX_REVIEW_NOTE_LENGTH} characters`]);
  }
  const access = await deps.storage.breakGlass.get(id);
  if (!access || access.reviewedAt !== null) return false;
  if (access.userId === input.reviewer) {
    throw new ConfigError(['--reviewer: the account that took this emergency access cannot review it; another administrator must']);
  }
  // Atomic (UPDATE … WHERE reviewed_at IS NULL): of two concurrent reviews, one wins.
  const sealedNote = note === null ? null : sealAccessText(deps.masterKey, id, 'review_note', note);
  const reviewed = await deps.storage.breakGlass.review(id, { reviewedAt: deps.now(), reviewedBy: input.reviewer, outcome: input.outcome, note: sealedNote });
  if (!reviewed) return false;
  await deps.audit.record({
    type: 'breakglass.reviewed', actor: { userId: input.reviewer }, outcome: 'success', patient: `Patient/${access.patient}`,
    resource: access.id, grantId: access.grantId, action: 'review',
    details: {
      breakglass_id: access.id, outcome: input.outcome, user_id: access.userId, client_id: access.clientId, has_note: note !== null,
      ...(input.via !== undefined ? { via: input.via } : {}),
    },
  });
  return true;
}
