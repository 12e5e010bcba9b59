// BreakGlassStore over SQL: one row per emergency access (45 CFR 164.312(a)(2)(ii)); the review
// is written once (UPDATE … WHERE reviewed_at IS NULL), so a second review cannot overwrite it.
import type { BreakGlassAccessRecord, BreakGlassStore } from '../types.js';
import type { SqlExecutor } from '../sql.js';
import { insertNew } from './rows.js';

type BreakGlassRow = {
  id: string;
  user_id: string;
  client_id: string;
  grant_id: string;
  patient: string;
  reason: string;
  created_at: number;
  expires_at: number;
  reviewed_at: number | null;
  reviewed_by: string | null;
  review_outcome: string | null;
  review_note: string | null;
};

const COLUMNS = 'id, user_id, client_id, grant_id, patient, reason, created_at, expires_at, reviewed_at, reviewed_by, review_outcome, review_note';

function toRecord(row: BreakGlassRow): BreakGlassAccessRecord {
  return {
    id: row.id,
    userId: row.user_id,
    clientId: row.client_id,
    grantId: row.grant_id,
    patient: row.patient,
    reason: row.reason,
    createdAt: Number(row.created_at),
    expiresAt: Number(row.expires_at),
    reviewedAt: row.reviewed_at === null ? null : Number(row.reviewed_at),
    reviewedBy: row.reviewed_by,
    reviewOutcome: row.review_outcome === 'justified' || row.review_outcome === 'unjustified' ? row.review_outcome : null,
    reviewNote: row.review_note,
  };
}

export function createBreakGlassStore(sql: SqlExecutor): BreakGlassStore {
  return {
    async create(record) {
      await insertNew(sql, 'break_glass_accesses', {
        id: record.id,
        user_id: record.userId,
        client_id: record.clientId,
        grant_id: record.grantId,
        patient: record.patient,
        reason: record.reason,
        created_at: record.createdAt,
        expires_at: record.expiresAt,
        reviewed_at: record.reviewedAt,
        reviewed_by: record.reviewedBy,
        review_outcome: record.reviewOutcome,
        review_note: record.reviewNote,
      });
    },
    async get(id) {
      const row = await sql.get<BreakGlassRow>(`SELECT ${COLUMNS} FROM break_glass_accesses WHERE id = $1`, [id]);
      return row && toRecord(row);
    },
    async listOpen() {
      const rows = await sql.all<BreakGlassRow>(`SELECT ${COLUMNS} FROM break_glass_accesses WHERE reviewed_at IS NULL ORDER BY created_at, id`);
      return rows.map(toRecord);
    },
    async review(id, review) {
      const updated = await sql.run(
        `UPDATE break_glass_accesses SET reviewed_at = $1, reviewed_by = $2, review_outcome = $3, review_note = $4
         WHERE id = $5 AND reviewed_at IS NULL`,
        [review.reviewedAt, review.reviewedBy, review.outcome, review.note, id],
      );
      return updated > 0;
    },
    async claimDelivery(id, rounds, leaseUntil) {
      return (await sql.run(
        `UPDATE break_glass_accesses SET notify_attempts = notify_attempts + 1, notify_next_at = $1
         WHERE id = $2 AND notify_attempts = $3 AND notified_at IS NULL`,
        [leaseUntil, id, rounds],
      )) > 0;
    },
    async deferDelivery(id, nextAt) {
      await sql.run('UPDATE break_glass_accesses SET notify_next_at = $1 WHERE id = $2 AND notified_at IS NULL', [nextAt, id]);
    },
    async markDelivered(id, at) {
      await sql.run('UPDATE break_glass_accesses SET notified_at = $1 WHERE id = $2 AND notified_at IS NULL', [at, id]);
    },
    async dueDeliveries(now, since, grace, limit) {
      const rows = await sql.all<BreakGlassRow & { notify_attempts: number }>(
        `SELECT ${COLUMNS}, notify_attempts FROM break_glass_accesses
         WHERE notified_at IS NULL AND created_at >= $1 AND COALESCE(notify_next_at, created_at + $2) <= $3
         ORDER BY created_at, id LIMIT $4`,
        [since, grace, now, limit],
      );
      return rows.map((row) => ({ access: toRecord(row), rounds: Number(row.notify_attempts) }));
    },
  };
}
