// Numbered schema migrations, applied in id order, each in its own transaction and recorded in
// schema_migrations. To add one: create NNN-name.ts exporting a Migration and append it below.
import { InternalError } from '../../errors/internal-error.js';
import type { Dialect, SqlDriver } from '../sql.js';
import { migration001Core } from './001-core.js';
import { migration002Ledger } from './002-ledger.js';
import { migration003Identity } from './003-identity.js';
import { migration004Par } from './004-par.js';
import { migration005GrantsByUser } from './005-grants-by-user.js';
import { migration006SmartLaunch } from './006-smart-launch.js';
import { migration007GrantLastUsed } from './007-grant-last-used.js';
import { migration008BreakGlassDelivery } from './008-break-glass-delivery.js';
import { migration009RateLimitCounts } from './009-rate-limit-counts.js';
import { migration010DynamicClients } from './010-dynamic-clients.js';
import { migration011AgentDecisions } from './011-agent-decisions.js';
import { migration012AdminConsole } from './012-admin-console.js';
import { migration013AdminSearchIndexes } from './013-admin-search-indexes.js';

export interface Migration {
  /** Positive, unique, never reused; the order of application. */
  id: number;
  name: string;
  /** The SQL script for each dialect (may be the same text). */
  sqlite: string;
  postgres: string;
}

export const migrations: readonly Migration[] = [
  migration001Core,
  migration002Ledger,
  migration003Identity,
  migration004Par,
  migration005GrantsByUser,
  migration006SmartLaunch,
  migration007GrantLastUsed,
  migration008BreakGlassDelivery,
  migration009RateLimitCounts,
  migration010DynamicClients,
  migration011AgentDecisions,
  migration012AdminConsole,
  migration013AdminSearchIndexes,
];

const CREATE_SCHEMA_MIGRATIONS = `CREATE TABLE IF NOT EXISTS schema_migrations (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  applied_at BIGINT NOT NULL
)`;

// Two processes starting together must not both apply a migration: on PostgreSQL the first takes
// a transaction-scoped advisory lock (one per schema) and the second waits, then finds it applied.
// On SQLite, BEGIN IMMEDIATE already serialises writers.
const LOCK_POSTGRES = `SELECT pg_advisory_xact_lock(hashtext('caduceus.schema_migrations:' || COALESCE(current_schema(), '')))`;

function ordered(list: readonly Migration[]): Migration[] {
  const sorted = [...list].sort((a, b) => a.id - b.id);
  sorted.forEach((m, i) => {
    if (!Number.isInteger(m.id) || m.id < 1 || (i > 0 && sorted[i - 1]?.id === m.id)) {
      throw new InternalError('ERR_CONFIG', `migrations: id ${m.id} (${m.name}) is not a unique positive integer`);
    }
  });
  return sorted;
}

/**
 * Applies every pending migration, each in one transaction; resolves the ids applied by this call
 * (empty when the schema was current). Fails with ERR_CONFIG when the database records a
 * migration this build does not know (a newer build migrated it).
 */
export async function runMigrations(driver: SqlDriver, list: readonly Migration[] = migrations): Promise<number[]> {
  const pending = ordered(list);
  const known = new Set(pending.map((m) => m.id));
  const applied: number[] = [];
  for (const migration of pending) {
    const didApply = await driver.transaction(async (tx) => {
      if (tx.dialect === 'postgres') await tx.run(LOCK_POSTGRES);
      await tx.exec(CREATE_SCHEMA_MIGRATIONS);
      const done = await tx.all<{ id: number }>('SELECT id FROM schema_migrations ORDER BY id');
      const unknown = done.find((row) => !known.has(Number(row.id)));
      if (unknown) {
        throw new InternalError('ERR_CONFIG', `storage: the database has migration ${unknown.id}, unknown to this version of Caduceus`);
      }
      if (done.some((row) => Number(row.id) === migration.id)) return false;
      await tx.exec(scriptFor(migration, tx.dialect));
      await tx.run('INSERT INTO schema_migrations (id, name, applied_at) VALUES ($1, $2, $3)', [migration.id, migration.name, Date.now()]);
      return true;
    }, { durable: true });
    if (didApply) applied.push(migration.id);
  }
  return applied;
}

function scriptFor(migration: Migration, dialect: Dialect): string {
  return dialect === 'sqlite' ? migration.sqlite : migration.postgres;
}
