// better-sqlite3 driver: WAL journal, BEGIN IMMEDIATE transactions so a writer takes the lock before
// it reads, and lock waits that never block the event loop.
//
// better-sqlite3 is synchronous, so SQLite's own busy handler (busy_timeout) would sleep on the
// event loop thread: a server would freeze while another process holds the write lock, and two
// drivers on one file in the same process would deadlock (the holder cannot finish while the
// waiter sleeps). So busy_timeout is 0 after opening, and a busy statement is retried after an
// asynchronous pause, for up to BUSY_WAIT_MS in all.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { open as openFile, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { InternalError } from '../../errors/internal-error.js';
import type { Row, SqlDriver, SqlTransaction, SqlValue, TransactionOptions } from '../sql.js';

const PLACEHOLDER = /\$(\d+)/g;
const BUSY_WAIT_MS = 5000;

function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code === 'SQLITE_BUSY' || code.startsWith('SQLITE_BUSY_'));
}

/**
 * Failures of the disk or the file rather than of the statement: a full disk (SQLITE_FULL), I/O
 * errors, a file made read-only, a file that cannot be opened, a lock held too long, no memory.
 * They reject with InternalError ERR_STORAGE_UNAVAILABLE (answered 503 with Retry-After); the
 * transaction in flight is rolled back, and the next statement tries the disk again, so the
 * server recovers by itself when space returns.
 */
const UNAVAILABLE_CODES = /^SQLITE_(FULL|IOERR|READONLY|CANTOPEN|BUSY|LOCKED|NOMEM|PROTOCOL)(_|$)/;

export function asStorageError(err: unknown): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && UNAVAILABLE_CODES.test(code)) {
    return new InternalError('ERR_STORAGE_UNAVAILABLE', `sqlite: the database file cannot be written or read right now (${code})`, { cause: err });
  }
  return err;
}

/** Runs op, converting disk and file failures (see asStorageError). */
async function storageCall<T>(op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    throw asStorageError(err);
  }
}

/** Runs op, retrying after an asynchronous pause while the database is locked by another connection. */
async function whenUnlocked<T>(op: () => T, ready: () => Promise<void> = async () => undefined): Promise<T> {
  const deadline = Date.now() + BUSY_WAIT_MS;
  for (let pause = 1; ; pause = Math.min(pause * 2, 50)) {
    await ready();
    try {
      return op();
    } catch (err) {
      if (!isBusy(err) || Date.now() + pause > deadline) throw err;
    }
    await sleep(pause);
  }
}

export function openSqlite(path: string): SqlDriver {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  // Opening may convert the journal to WAL, which needs a short exclusive lock: wait for it here,
  // once, before any request is served.
  db.pragma('busy_timeout = 5000');
  db.pragma('journal_mode = WAL');
  // No fsync per commit; a durable transaction (the audit ledger's) syncs the write-ahead log
  // after its COMMIT, off the event loop: see syncWal below and TransactionOptions.
  db.pragma('synchronous = NORMAL');
  // Fewer, larger WAL checkpoints: the audit ledger appends in bursts (bench/ledger.ts).
  db.pragma('wal_autocheckpoint = 10000');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 0');

  // Each $N becomes an anonymous ?, and `order` says which parameter fills it, so a statement may
  // use a placeholder twice or out of order.
  const cache = new Map<string, { stmt: Database.Statement; order: number[] }>();
  const prepare = (sql: string, params: readonly SqlValue[]): [Database.Statement, unknown[]] => {
    let entry = cache.get(sql);
    if (!entry) {
      const order: number[] = [];
      const stmt = db.prepare(sql.replace(PLACEHOLDER, (_m, n: string) => { order.push(Number(n) - 1); return '?'; }));
      entry = { stmt, order };
      cache.set(sql, entry);
    }
    return [entry.stmt, entry.order.map((i) => params[i] ?? null)];
  };

  const all = <T extends Row>(sql: string, params: readonly SqlValue[]): T[] => {
    const [stmt, args] = prepare(sql, params);
    return stmt.all(...args) as T[];
  };
  const get = <T extends Row>(sql: string, params: readonly SqlValue[]): T | undefined => {
    const [stmt, args] = prepare(sql, params);
    return stmt.get(...args) as T | undefined;
  };
  const run = (sql: string, params: readonly SqlValue[]): number => {
    const [stmt, args] = prepare(sql, params);
    if (stmt.reader) return stmt.all(...args).length;
    return stmt.run(...args).changes;
  };

  // Inside a transaction: this connection holds the write lock, so statements run as they are.
  const inTransaction: SqlTransaction = {
    dialect: 'sqlite',
    all<T extends Row>(sql: string, params: readonly SqlValue[] = []) { return storageCall(async () => all<T>(sql, params)); },
    get<T extends Row>(sql: string, params: readonly SqlValue[] = []) { return storageCall(async () => get<T>(sql, params)); },
    run(sql: string, params: readonly SqlValue[] = []) { return storageCall(async () => run(sql, params)); },
    exec(script: string) { return storageCall(async () => { db.exec(script); }); },
  };

  // The connection is shared: a statement issued outside a transaction while one is open (its
  // callback awaiting) would silently become part of it and be rolled back with it. Such
  // statements wait until no transaction is open; the check and the statement run in one
  // synchronous step, so no transaction can begin in between.
  // A call on the driver from inside a transaction callback would wait for itself: no transaction
  // stays open for BUSY_WAIT_MS, so a wait that long on one transaction fails instead, naming the
  // likely mistake. (Not AsyncLocalStorage: on Node.js 20 it turns on promise hooks for every
  // promise in the process, about a sixth of a token request's CPU: bench/tokens.ts.)
  let open: Promise<void> | undefined;
  let openedAt = 0;
  const noTransaction = async (): Promise<void> => {
    while (open) {
      const waited = Date.now() - openedAt;
      if (waited >= BUSY_WAIT_MS) {
        throw new InternalError('ERR_STORAGE', `sqlite: a transaction has been open for ${waited} ms; a driver call inside its own transaction callback waits for itself: use the tx executor`);
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([open, new Promise<void>((resolve) => { timer = setTimeout(resolve, BUSY_WAIT_MS - waited); })]);
      clearTimeout(timer);
    }
  };
  // A transaction whose ROLLBACK failed (the disk failing) is ended before anything else runs, so
  // no later statement becomes part of it.
  const endStale = <T>(op: () => T) => (): T => {
    if (db.inTransaction) db.exec('ROLLBACK');
    return op();
  };
  const outside = <T>(op: () => T): Promise<T> => storageCall(() => whenUnlocked(endStale(op), noTransaction));

  // Durability of a durable transaction: with synchronous = NORMAL, COMMIT has written the
  // transaction's frames to the write-ahead log but not synced it. fdatasync of the log file (what
  // synchronous = FULL would do inside COMMIT, on the event loop) runs here on libuv's thread pool,
  // and it makes every frame written before it durable, other connections' and earlier NORMAL
  // commits included. In WAL mode SQLite keeps the log file while the database is open (a
  // checkpoint restarts it in place), so one handle serves for the driver's life. An in-memory
  // database has nothing to sync. A failed sync rejects the transaction: the caller fails closed.
  const walPath = path === ':memory:' ? undefined : `${path}-wal`;
  let wal: Promise<FileHandle> | undefined;
  const syncWal = async (): Promise<void> => {
    if (walPath === undefined) return;
    try {
      wal ??= openFile(walPath, 'r');
      await (await wal).datasync();
      durableSyncs.set(driver, (durableSyncs.get(driver) ?? 0) + 1);
    } catch (err) {
      wal = undefined;
      // No log file: nothing is waiting in one (SQLite removes it only after checkpointing it all).
      if ((err as { code?: unknown }).code === 'ENOENT') return;
      throw new InternalError('ERR_STORAGE_UNAVAILABLE', 'sqlite: the write-ahead log could not be synced to disk', { cause: err });
    }
  };

  // Transactions are serialised: two interleaved async callbacks must never share one BEGIN.
  let queue: Promise<unknown> = Promise.resolve();
  const driver: SqlDriver = {
    dialect: 'sqlite',
    all<T extends Row>(sql: string, params: readonly SqlValue[] = []) { return outside(() => all<T>(sql, params)); },
    get<T extends Row>(sql: string, params: readonly SqlValue[] = []) { return outside(() => get<T>(sql, params)); },
    run(sql: string, params: readonly SqlValue[] = []) { return outside(() => run(sql, params)); },
    transaction<T>(fn: (tx: SqlTransaction) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
      const runTransaction = async (): Promise<T> => {
        let end!: () => void;
        await outside(() => {
          db.exec('BEGIN IMMEDIATE');
          open = new Promise<void>((resolve) => { end = resolve; });
          openedAt = Date.now();
        });
        try {
          const result = await fn(inTransaction);
          await storageCall(() => whenUnlocked(() => db.exec('COMMIT')));
          return result;
        } catch (err) {
          // SQLite may have rolled back already (a full disk, an I/O error); a failing ROLLBACK
          // leaves the original error to report, and the next BEGIN starts clean.
          if (db.inTransaction) {
            try { db.exec('ROLLBACK'); } catch { /* the transaction ends with the connection's next BEGIN or close */ }
          }
          throw err;
        } finally {
          open = undefined;
          end();
        }
      };
      const next = queue.then(runTransaction, runTransaction);
      queue = next.catch(() => undefined);
      // The sync runs after the transaction has released the connection: other statements and
      // transactions go on while the disk catches up, and the caller hears of success only after.
      return options.durable ? next.then(async (result) => { await syncWal(); return result; }) : next;
    },
    exec(script: string) {
      return outside(() => { db.exec(script); });
    },
    async close() {
      await queue;
      cache.clear();
      db.close();
      if (wal) await (await wal.catch(() => undefined))?.close().catch(() => undefined);
    },
  };
  return driver;
}

const durableSyncs = new WeakMap<SqlDriver, number>();

/** How many times a SQLite driver has synced its write-ahead log for durable transactions (tests, metrics). */
export function walSyncCount(driver: SqlDriver): number {
  return durableSyncs.get(driver) ?? 0;
}
