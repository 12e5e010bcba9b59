// InteractionStore over SQL: pending authorization requests between /authorize and the login and
// consent pages, bound to the browser that started them.
import type { InteractionRecord, InteractionStore } from '../types.js';
import type { SqlExecutor } from '../sql.js';
import { insertNew } from './rows.js';

type InteractionRow = {
  id: string;
  browser_digest: string;
  sealed: string;
  created_at: number;
  expires_at: number;
};

function toRecord(row: InteractionRow): InteractionRecord {
  return { id: row.id, browserDigest: row.browser_digest, sealed: row.sealed, createdAt: row.created_at, expiresAt: row.expires_at };
}

export function createInteractionStore(sql: SqlExecutor): InteractionStore {
  return {
    async save(interaction) {
      await insertNew(sql, 'interactions', {
        id: interaction.id,
        browser_digest: interaction.browserDigest,
        sealed: interaction.sealed,
        created_at: interaction.createdAt,
        expires_at: interaction.expiresAt,
      });
    },
    // Deliberately returns expired interactions too: the caller checks expiresAt.
    async get(id) {
      const row = await sql.get<InteractionRow>('SELECT id, browser_digest, sealed, created_at, expires_at FROM interactions WHERE id = $1', [id]);
      return row && toRecord(row);
    },
    async remove(id) {
      await sql.run('DELETE FROM interactions WHERE id = $1', [id]);
    },
  };
}
