// pg driver: a connection pool; BIGINT columns come back as JS numbers (epoch milliseconds and
// counters stay far below 2^53).
import pg from 'pg';
import type { Row, SqlDriver, SqlExecutor, SqlTransaction, SqlValue } from '../sql.js';

pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

type Queryable = Pick<pg.Pool, 'query'> | pg.PoolClient;

function executorOf(q: Queryable): SqlExecutor {
  return {
    dialect: 'postgres',
    async all<T extends Row>(sql: string, params: readonly SqlValue[] = []) {
      return (await q.query(sql, params as unknown[])).rows as T[];
    },
    async get<T extends Row>(sql: string, params: readonly SqlValue[] = []) {
      return (await q.query(sql, params as unknown[])).rows[0] as T | undefined;
    },
    async run(sql: string, params: readonly SqlValue[] = []) {
      return (await q.query(sql, params as unknown[])).rowCount ?? 0;
    },
  };
}

export function openPostgres(url: string, poolSize = 10): SqlDriver {
  const pool = new pg.Pool({ connectionString: url, max: poolSize });
  // An idle client that loses its connection must not crash the process.
  pool.on('error', () => undefined);
  return {
    ...executorOf(pool),
    async transaction<T>(fn: (tx: SqlTransaction) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      // A connection whose ROLLBACK failed may still be inside the transaction: destroy it rather
      // than hand it to the next caller.
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        const tx: SqlTransaction = {
          ...executorOf(client),
          async exec(script: string) { await client.query(script); },
        };
        const result = await fn(tx);
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch((rollbackErr: Error) => { broken = rollbackErr; });
        throw err;
      } finally {
        client.release(broken);
      }
    },
    async exec(script: string) {
      await pool.query(script);
    },
    async close() {
      await pool.end();
    },
  };
}
