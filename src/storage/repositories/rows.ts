// Helpers shared by the repositories: the row encodings of 001-core (JSON lists, 0/1 flags) and
// inserts that report an existing key as ERR_CONFLICT.
import { InternalError } from '../../errors/internal-error.js';
import type { SqlExecutor, SqlValue } from '../sql.js';

export function toJsonList(list: readonly string[]): string {
  return JSON.stringify(list);
}

export function fromJsonList(text: string): string[] {
  const list: unknown = JSON.parse(text);
  if (!Array.isArray(list) || !list.every((item) => typeof item === 'string')) {
    throw new InternalError('ERR_STORAGE', 'storage: a stored list is not a JSON array of strings');
  }
  return list;
}

export function toFlag(value: boolean): number {
  return value ? 1 : 0;
}

export function fromFlag(value: unknown): boolean {
  return Number(value) === 1;
}

/**
 * Inserts one row; fails with ERR_CONFLICT (naming the table, never a value) when a row with the
 * same primary or unique key exists. `table` and the column names come from code, never input.
 */
export async function insertNew(sql: SqlExecutor, table: string, row: Record<string, SqlValue>): Promise<void> {
  const columns = Object.keys(row);
  const placeholders = columns.map((_c, i) => `$${i + 1}`);
  const inserted = await sql.run(
    `INSERT INTO ${table} (${columns.join(', ')}) VALUES (${placeholders.join(', ')}) ON CONFLICT DO NOTHING`,
    Object.values(row),
  );
  if (inserted === 0) throw new InternalError('ERR_CONFLICT', `storage: ${table}: a record with this key already exists`);
}
