// Test support for the ledger: a migrated database on each adapter (test/storage/databases.ts),
// sample events, a fixed checkpoint key, and a way around the append-only triggers for the
// tamper tests.
import { openSqlDriver, type SqlDriver } from '../../src/storage/sql.js';
import { migrations, runMigrations } from '../../src/storage/migrations/index.js';
import { migration002Ledger } from '../../src/storage/migrations/002-ledger.js';
import type { AuditEventInput, AuditEventType } from '../../src/audit/events.js';
import type { TestAdapter, TestDatabase } from '../storage/databases.js';

export { testAdapters } from '../storage/databases.js';

/** A fixed Ed25519 seed for checkpoint signing in tests (never a real key). */
export const TEST_SEED = Buffer.alloc(32, 7);
export const OTHER_SEED = Buffer.alloc(32, 9);
export const ORIGIN = 'caduceus.test/audit';

export interface LedgerDb {
  name: 'sqlite' | 'postgres';
  url: string;
  driver: SqlDriver;
  /** Another driver (connection pool) on the same database, as a second process would have. */
  openAnother(): Promise<SqlDriver>;
  cleanup(): Promise<void>;
}

/** A new database with every migration applied (002-ledger included even before it is listed). */
export async function openLedgerDb(adapter: TestAdapter): Promise<LedgerDb> {
  const db: TestDatabase = await adapter.open();
  const driver = await openSqlDriver(db.url);
  const list = migrations.some((m) => m.id === migration002Ledger.id) ? migrations : [...migrations, migration002Ledger];
  await runMigrations(driver, list);
  const others: SqlDriver[] = [];
  return {
    name: adapter.name,
    url: db.url,
    driver,
    async openAnother() {
      const other = await openSqlDriver(db.url);
      others.push(other);
      return other;
    },
    async cleanup() {
      for (const other of others) await other.close().catch(() => undefined);
      await driver.close().catch(() => undefined);
      await db.cleanup();
    },
  };
}

const TYPES: AuditEventType[] = ['phi.accessed', 'token.issued', 'login.succeeded', 'phi.denied', 'consent.granted'];

/** A varied, deterministic event. */
export function sampleEvent(i: number): AuditEventInput {
  const type = TYPES[i % TYPES.length]!;
  return {
    type,
    actor: { userId: `user-${i % 7}`, clientId: `client-${i % 3}` },
    ...(type.startsWith('phi.') ? { patient: `Patient/${i % 11}`, resource: `Observation/${i}`, action: 'read' } : {}),
    outcome: type === 'phi.denied' ? 'denied' : 'success',
    scopes: { granted: ['patient/Observation.rs', 'openid'], used: 'patient/Observation.rs' },
    requestId: `req-${i}`,
    details: { n: i, purposeOfUse: 'TREAT', flag: i % 2 === 0 },
  };
}

/** A clock that starts at a fixed instant and moves 1 ms per call. */
export function steppingClock(start = Date.UTC(2025, 0, 15, 12, 0, 0)): () => number {
  let t = start;
  return () => t++;
}

/**
 * Runs statements with the append-only triggers out of the way, as an attacker with owner rights
 * would: SQLite drops and recreates the triggers; PostgreSQL uses session_replication_role =
 * replica (user triggers do not fire) inside one transaction.
 */
export async function bypassTriggers(db: LedgerDb, statements: readonly string[]): Promise<void> {
  if (db.name === 'sqlite') {
    const triggers = await db.driver.all<{ name: string; sql: string }>("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'audit_%'");
    await db.driver.exec(triggers.map((t) => `DROP TRIGGER ${t.name};`).join('\n'));
    try {
      for (const sql of statements) await db.driver.run(sql);
    } finally {
      await db.driver.exec(triggers.map((t) => `${t.sql};`).join('\n'));
    }
    return;
  }
  await db.driver.transaction(async (tx) => {
    await tx.run('SET LOCAL session_replication_role = replica');
    for (const sql of statements) await tx.run(sql);
  });
}
