// Housekeeping: deletes short-lived state that can no longer be used, so tables that every login
// and token request writes do not grow without bound. Each rule below names why the rows it
// deletes can never be accepted again; nothing here decides whether a credential is valid (every
// read already checks expiry), so a purge that is late or fails weakens nothing.
//
// Never purged: the audit ledger (append-only, 45 CFR 164.316(b)(2) retention), consents and
// grants (the evidence behind /account and `caduceus audit disclosures`), break-glass accesses
// (open until reviewed), users, clients, signing keys, second factors.
//
// Rows go in batches of PURGE_BATCH, each its own statement, with a turn of the event loop between
// them: better-sqlite3 is synchronous, and one DELETE of a large backlog would stall every request.
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { SqlDriver } from './sql.js';

export const PURGE_BATCH = 500;

/** How long after its expiry an authorization code is kept, so a replay still finds it (see below). */
export const CODE_REPLAY_WINDOW_MS = 24 * 60 * 60_000;
/** Rate-limit windows (one minute) are kept this long after they opened. */
export const RATE_LIMIT_RETENTION_MS = 5 * 60_000;
/** Failed-login hits are kept at least this long (src/storage/repositories/throttle.ts keeps as long). */
export const THROTTLE_RETENTION_MS = 24 * 60 * 60_000;

export interface PurgePolicy {
  /** session.idle_timeout and session.absolute_timeout, in ms: a session past either is refused. */
  sessionIdleMs: number;
  sessionAbsoluteMs: number;
  /** The widest window a throttle counts over (login.failure_window), in ms. */
  throttleWindowMs: number;
}

interface PurgeRule {
  table: string;
  /** The column that identifies a row; null when there is none (the batch is then chosen by `timeColumn`). */
  key: string | null;
  /** For rows without a key: the time column the condition is on. */
  timeColumn?: string;
  /** A condition on the row; $1 is the cut-off it is given. */
  where: string;
  cutoff: (now: number, policy: PurgePolicy) => number;
  /**
   * For rows that record a use of a grant: the column holding the time of that use. Before such
   * rows go, the latest use is kept in grants.last_used_at, so /account still says when an app
   * was last used.
   */
  usedAt?: string;
}

const RULES: readonly PurgeRule[] = [
  // A code lives 60 s; RFC 6749 §4.1.2 asks that a second use revoke the tokens of the first, so
  // an expired code is kept for a day before it is forgotten (a replay then is simply unknown).
  { table: 'authorization_codes', key: 'digest', where: 'expires_at < $1', cutoff: (now) => now - CODE_REPLAY_WINDOW_MS, usedAt: 'consumed_at' },
  // Past its absolute expiry every token of the family is dead, so reuse detection (RFC 9700
  // §4.14.2) has nothing left to protect; consumed and revoked ones are kept until then.
  { table: 'refresh_tokens', key: 'digest', where: 'absolute_expires_at < $1', cutoff: (now) => now, usedAt: 'created_at' },
  // A revoked jti matters only while the JWT could still pass its own exp check.
  { table: 'access_tokens', key: 'jti', where: 'expires_at < $1', cutoff: (now) => now },
  { table: 'interactions', key: 'id', where: 'expires_at < $1', cutoff: (now) => now },
  { table: 'pending_logins', key: 'digest', where: 'expires_at < $1', cutoff: (now) => now },
  { table: 'pushed_authorization_requests', key: 'digest', where: 'expires_at < $1', cutoff: (now) => now },
  { table: 'launch_contexts', key: 'digest', where: 'expires_at < $1', cutoff: (now) => now },
  { table: 'replay_values', key: 'replay_key', where: 'expires_at < $1', cutoff: (now) => now },
  { table: 'dpop_code_bindings', key: 'binding_key', where: 'expires_at < $1', cutoff: (now) => now },
  // Automatic logoff (45 CFR 164.312(a)(2)(iii)): past the idle or absolute limit a session is refused.
  { table: 'sessions', key: 'digest', where: 'last_seen_at < $1', cutoff: (now, p) => now - p.sessionIdleMs },
  { table: 'sessions', key: 'digest', where: 'created_at < $1', cutoff: (now, p) => now - p.sessionAbsoluteMs },
  { table: 'throttle_hits', key: null, timeColumn: 'at', where: 'at < $1', cutoff: (now, p) => now - Math.max(THROTTLE_RETENTION_MS, p.throttleWindowMs) },
  // Request rate-limit windows last a minute; a window that ended is never counted again.
  { table: 'rate_limit_counts', key: null, timeColumn: 'window_start', where: 'window_start < $1', cutoff: (now) => now - RATE_LIMIT_RETENTION_MS },
];

/** Rows deleted, by table. */
export type PurgeCounts = Record<string, number>;

/** Deletes one batch of a rule's rows; resolves how many went. */
async function purgeBatch(sql: SqlDriver, rule: PurgeRule, cutoff: number): Promise<number> {
  if (rule.key === null) {
    // Every row at a chosen instant goes with the batch, so a batch may be a little larger.
    const column = rule.timeColumn!;
    return sql.run(`DELETE FROM ${rule.table} WHERE ${column} IN (SELECT ${column} FROM ${rule.table} WHERE ${rule.where} LIMIT ${PURGE_BATCH})`, [cutoff]);
  }
  const key = rule.key;
  return sql.transaction(async (tx) => {
    const used = rule.usedAt ? `, grant_id, ${rule.usedAt} AS used_at` : '';
    const rows = await tx.all<{ row_key: string; grant_id?: string; used_at?: number | null }>(
      `SELECT ${key} AS row_key${used} FROM ${rule.table} WHERE ${rule.where} LIMIT ${PURGE_BATCH}`, [cutoff],
    );
    if (rows.length === 0) return 0;
    if (rule.usedAt) {
      const latest = new Map<string, number>();
      for (const row of rows) {
        if (row.used_at === null || row.used_at === undefined) continue;
        const at = Number(row.used_at);
        if (at > (latest.get(row.grant_id!) ?? -Infinity)) latest.set(row.grant_id!, at);
      }
      for (const [grantId, at] of latest) {
        await tx.run('UPDATE grants SET last_used_at = $1 WHERE grant_id = $2 AND (last_used_at IS NULL OR last_used_at < $1)', [at, grantId]);
      }
    }
    const placeholders = rows.map((_, i) => `$${i + 1}`).join(', ');
    return tx.run(`DELETE FROM ${rule.table} WHERE ${key} IN (${placeholders})`, rows.map((r) => r.row_key));
  });
}

/** Deletes every expired row the rules allow, in batches; resolves the counts by table. */
export async function purgeExpired(sql: SqlDriver, now: number, policy: PurgePolicy): Promise<PurgeCounts> {
  const counts: PurgeCounts = {};
  for (const rule of RULES) {
    const cutoff = rule.cutoff(now, policy);
    let total = counts[rule.table] ?? 0;
    for (;;) {
      const deleted = await purgeBatch(sql, rule, cutoff);
      total += deleted;
      if (deleted < PURGE_BATCH) break;
      await nextTurn();
    }
    counts[rule.table] = total;
  }
  return counts;
}
/** The policy a configuration implies. */
export function purgePolicyOf(config: { session: { idle_timeout: number; absolute_timeout: number }; login: { failure_window: number } }): PurgePolicy {
  return {
    sessionIdleMs: config.session.idle_timeout * 1000,
    sessionAbsoluteMs: config.session.absolute_timeout * 1000,
    throttleWindowMs: config.login.failure_window * 1000,
  };
}
