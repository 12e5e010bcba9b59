// Atomic consumption of one-time values (authorization codes, refresh tokens): one UPDATE … WHERE
// consumed_at IS NULL RETURNING …, so of any number of concurrent calls exactly one sees the row.
// RFC 9700 §4.14.2 / OAuth 2.1 §4.1.3: an authorization code MUST NOT be used more than once.
import type { ConsumeResult } from '../types.js';
import type { Row, SqlExecutor } from '../sql.js';

export async function consumeOnce<R extends Row & { consumed_at: number | null }, T>(
  sql: SqlExecutor,
  table: 'authorization_codes' | 'refresh_tokens' | 'launch_contexts',
  columns: string,
  digest: string,
  now: number,
  toRecord: (row: R) => T,
): Promise<ConsumeResult<T>> {
  const [consumed] = await sql.all<R>(
    `UPDATE ${table} SET consumed_at = $1 WHERE digest = $2 AND consumed_at IS NULL RETURNING ${columns}`,
    [now, digest],
  );
  if (consumed) return { status: 'ok', record: toRecord(consumed) };
  // Nothing updated: either it was consumed before (a replay) or it never existed.
  const existing = await sql.get<R>(`SELECT ${columns} FROM ${table} WHERE digest = $1`, [digest]);
  if (existing && existing.consumed_at !== null) return { status: 'replayed', record: toRecord(existing) };
  return { status: 'unknown' };
}
