// DpopCodeBindingStore over SQL (RFC 9449 §10): which DPoP key the codes of one authorization
// request must be redeemed with. First binding wins; expired bindings are replaced and pruned.
import type { DpopCodeBindingStore } from '../types.js';
import type { SqlExecutor } from '../sql.js';

const PRUNE_EVERY_MS = 60_000;

export function createDpopCodeBindingStore(sql: SqlExecutor): DpopCodeBindingStore {
  let lastPrune = -Infinity;
  return {
    async bind(key, jkt, expiresAt, now) {
      // One statement: a new key is inserted; an existing one is overwritten only when it has
      // expired or names the same jkt (which extends it). Concurrent binds serialise on the key.
      await sql.run(
        `INSERT INTO dpop_code_bindings (binding_key, jkt, expires_at) VALUES ($1, $2, $3)
         ON CONFLICT (binding_key) DO UPDATE SET jkt = excluded.jkt, expires_at = excluded.expires_at
         WHERE dpop_code_bindings.expires_at <= $4 OR dpop_code_bindings.jkt = excluded.jkt`,
        [key, jkt, expiresAt, now],
      );
      if (now - lastPrune >= PRUNE_EVERY_MS) {
        lastPrune = now;
        await sql.run('DELETE FROM dpop_code_bindings WHERE expires_at <= $1', [now]);
      }
      const row = await sql.get<{ jkt: string }>('SELECT jkt FROM dpop_code_bindings WHERE binding_key = $1 AND expires_at > $2', [key, now]);
      return row?.jkt === jkt;
    },
    async get(key, now) {
      const row = await sql.get<{ jkt: string }>('SELECT jkt FROM dpop_code_bindings WHERE binding_key = $1 AND expires_at > $2', [key, now]);
      return row?.jkt;
    },
  };
}
