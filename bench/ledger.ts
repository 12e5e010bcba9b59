// Audit ledger throughput: sustained durable events per second with N concurrent producers, on
// SQLite and PostgreSQL, as a ratio to a raw ceiling measured in the same run.
//
//   npx tsx bench/ledger.ts [seconds per run, default 3]
//
// ledger  Ledger.record() from N producers, each awaiting its event before sending the next
//         (every event durable before its promise resolves; group commit batches them).
// raw     the same canonical bytes hashed with SHA-256 and INSERTed into an identical events table
//         in batches of the ledger's mean batch size, one transaction per batch, no tree, no
//         checkpoints, no promises per event: what the database alone can take.
// PostgreSQL: CADUCEUS_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test), in a
// throwaway schema. Skipped with a note when unreachable.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { AuditEventInput } from '../src/audit/events.js';
import { Ledger } from '../src/audit/ledger.js';
import { insertEvents } from '../src/audit/ledger-store.js';
import { eventJson, prepareEvent } from '../src/audit/stored-event.js';
import { verifyLedger } from '../src/audit/verify.js';
import { migration002Ledger } from '../src/storage/migrations/002-ledger.js';
import { migrations, runMigrations } from '../src/storage/migrations/index.js';
import { openSqlDriver, type SqlDriver } from '../src/storage/sql.js';

const SECONDS = Number(process.argv[2] ?? 3);
const PRODUCERS = [1, 16, 256, 1024];
const PG_URL = process.env.CADUCEUS_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

function event(i: number): AuditEventInput {
  return {
    type: 'phi.accessed',
    actor: { userId: `user-${i % 97}`, clientId: `client-${i % 13}` },
    patient: `Patient/${i % 1009}`,
    resource: `Observation/${i}`,
    action: 'read',
    outcome: 'success',
    scopes: { used: 'patient/Observation.rs' },
    requestId: `req-${i}`,
    sourceAddress: '192.0.2.10',
    details: { purposeOfUse: 'TREAT' },
  };
}

interface Database {
  name: string;
  driver: SqlDriver;
  cleanup(): Promise<void>;
}

async function migrate(driver: SqlDriver): Promise<void> {
  const list = migrations.some((m) => m.id === migration002Ledger.id) ? migrations : [...migrations, migration002Ledger];
  await runMigrations(driver, list);
  // The raw table: the events table's columns and indexes, without triggers or tree.
  const ddl = (driver.dialect === 'sqlite' ? migration002Ledger.sqlite : migration002Ledger.postgres).split('CREATE TABLE audit_tree_nodes')[0]!;
  await driver.exec(ddl.replaceAll('audit_events', 'raw_events'));
}

async function openSqliteDb(): Promise<Database> {
  const dir = await mkdtemp(join(tmpdir(), 'caduceus-bench-'));
  const driver = await openSqlDriver(`sqlite:${join(dir, 'bench.db')}`);
  await migrate(driver);
  return { name: 'sqlite', driver, cleanup: async () => { await driver.close(); await rm(dir, { recursive: true, force: true }); } };
}

/**
 * The same, with the WAL checkpointed every 10000 pages instead of SQLite's default 1000: the
 * default copies hot index pages back to the database file every few batches, which is most of
 * the write cost once the indexes outgrow the page cache. (A storage setting, not the ledger's.)
 */
async function openSqliteLargeWalDb(): Promise<Database> {
  const db = await openSqliteDb();
  await db.driver.exec('PRAGMA wal_autocheckpoint = 10000');
  return { ...db, name: 'sqlite wal_autocheckpoint=10000' };
}

async function openPostgresDb(): Promise<Database | undefined> {
  const schema = `caduceus_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
  } catch (err) {
    console.log(`PostgreSQL at ${PG_URL.replace(/\/\/[^@]*@/, '//***@')} unreachable (${(err as Error).message}): skipped.`);
    await admin.end().catch(() => undefined);
    return undefined;
  }
  await admin.end();
  const sep = PG_URL.includes('?') ? '&' : '?';
  const driver = await openSqlDriver(`${PG_URL}${sep}options=${encodeURIComponent(`-c search_path=${schema}`)}`);
  await migrate(driver);
  return {
    name: 'postgres',
    driver,
    cleanup: async () => {
      await driver.close();
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP SCHEMA ${schema} CASCADE`);
      await c.end();
    },
  };
}

async function runLedger(db: Database, producers: number): Promise<{ rate: number; batch: number; events: number }> {
  const ledger = new Ledger(db.driver, { origin: 'bench.caduceus/audit', signingKey: randomBytes(32) });
  let stop = false;
  let counter = 0;
  const producer = async (): Promise<void> => {
    while (!stop) await ledger.record(event(counter++));
  };
  // Warm up (statement caches, JIT), then measure.
  await Promise.all(Array.from({ length: producers }, (_, i) => ledger.record(event(i))));
  const before = ledger.stats;
  const start = performance.now();
  const running = Array.from({ length: producers }, producer);
  await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000));
  stop = true;
  await Promise.all(running);
  const elapsed = (performance.now() - start) / 1000;
  const after = ledger.stats;
  await ledger.close();
  const events = after.events - before.events;
  return { rate: events / elapsed, batch: events / (after.transactions - before.transactions), events };
}

async function runRaw(db: Database, batch: number): Promise<number> {
  const size = Math.max(1, Math.round(batch));
  let seq = (await db.driver.get<{ n: number }>('SELECT COUNT(*) AS n FROM raw_events'))!.n;
  let events = 0;
  const start = performance.now();
  const deadline = start + SECONDS * 1000;
  while (performance.now() < deadline) {
    await db.driver.transaction(async (tx) => {
      const rows = [];
      for (let i = 0; i < size; i++, seq++) {
        const prepared = prepareEvent(event(seq), Date.now());
        const json = eventJson(prepared, seq);
        createHash('sha256').update(Buffer.from([0])).update(json).digest();
        rows.push({ seq, json, ...prepared.columns });
      }
      await insertEvents(rawExecutor(tx), rows);
    });
    events += size;
  }
  return events / ((performance.now() - start) / 1000);
}

/** The ledger's own insert code, aimed at raw_events. */
function rawExecutor<T extends { run: SqlDriver['run'] }>(tx: T): T {
  return new Proxy(tx, {
    get(target, prop, receiver) {
      if (prop === 'run') return (sql: string, params?: Parameters<SqlDriver['run']>[1]) => target.run(sql.replaceAll('audit_events', 'raw_events'), params);
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

async function main(): Promise<void> {
  const rows: string[][] = [];
  for (const open of [openSqliteDb, openSqliteLargeWalDb, openPostgresDb]) {
    const db = await open();
    if (!db) continue;
    try {
      for (const producers of PRODUCERS) {
        const ledger = await runLedger(db, producers);
        const raw = await runRaw(db, ledger.batch);
        rows.push([db.name, String(producers), ledger.rate.toFixed(0), ledger.batch.toFixed(1), raw.toFixed(0), (ledger.rate / raw).toFixed(2)]);
        console.error(`  ${db.name} N=${producers}: ${ledger.rate.toFixed(0)} events/s`);
      }
      const verdict = await verifyLedger(db.driver);
      if (!verdict.ok) throw new Error(`the benchmark log does not verify: ${verdict.reason}`);
      rows.push([db.name, 'verify', `${verdict.size} events OK`, '', '', '']);
    } finally {
      await db.cleanup();
    }
  }
  const header = ['database', 'producers', 'ledger events/s', 'mean batch', 'raw events/s', 'ledger/raw'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  console.log(`\nAudit ledger, ${SECONDS} s per run, durable commits (SQLite WAL synchronous=FULL; PostgreSQL synchronous_commit default)\n`);
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));
}

await main();
