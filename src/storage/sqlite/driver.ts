// better-sqlite3 driver: WAL journal, a busy timeout so several processes can share the file,
// and BEGIN IMMEDIATE transactions so a writer takes the lock before it reads.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Row, SqlDriver, SqlExecutor, SqlValue } from '../sql.js';

const PLACEHOLDER = /\$(\d+)/g;

export function openSqlite(path: string): SqlDriver {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');

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

  const executor: SqlExecutor = {
    dialect: 'sqlite',
    async all<T extends Row>(sql: string, params: readonly SqlValue[] = []) {
      const [stmt, args] = prepare(sql, params);
      return stmt.all(...args) as T[];
    },
    async get<T extends Row>(sql: string, params: readonly SqlValue[] = []) {
      const [stmt, args] = prepare(sql, params);
      return stmt.get(...args) as T | undefined;
    },
    async run(sql: string, params: readonly SqlValue[] = []) {
      const [stmt, args] = prepare(sql, params);
      if (stmt.reader) return stmt.all(...args).length;
      return stmt.run(...args).changes;
    },
  };

  // better-sqlite3 is synchronous, but the callback is async: serialise transactions so that
  // two interleaved async callbacks never share one BEGIN.
  let queue: Promise<unknown> = Promise.resolve();
  return {
    ...executor,
    transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
      const run = async (): Promise<T> => {
        db.exec('BEGIN IMMEDIATE');
        try {
          const result = await fn(executor);
          db.exec('COMMIT');
          return result;
        } catch (err) {
          if (db.inTransaction) db.exec('ROLLBACK');
          throw err;
        }
      };
      const next = queue.then(run, run);
      queue = next.catch(() => undefined);
      return next;
    },
    async exec(script: string) {
      db.exec(script);
    },
    async close() {
      cache.clear();
      db.close();
    },
  };
}
