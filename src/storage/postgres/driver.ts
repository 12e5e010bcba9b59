// pg driver: a connection pool; BIGINT columns come back as JS numbers (epoch milliseconds and
// counters stay far below 2^53).
//
// Faults (a failover, a restarted or partitioned database) never crash the process and never hang
// a request:
// - every client, idle or checked out, has an 'error' listener: pg emits 'error' on any unexpected
//   disconnect, and an unhandled one would end the process;
// - connect, query (client side) and statement (server side) timeouts bound every wait;
// - a connection that failed or timed out is discarded, never handed to the next caller; a
//   transaction in flight on it fails (the server rolls it back when the session ends) and nothing
//   of it is acknowledged;
// - such failures reject with InternalError ERR_STORAGE_UNAVAILABLE, which every endpoint answers
//   with 503 temporarily_unavailable and Retry-After. Other errors (constraint violations, SQL
//   mistakes) keep their SQLSTATE for the repositories.
import pg from 'pg';
import { InternalError } from '../../errors/internal-error.js';
import type { Row, SqlDriver, SqlDriverOptions, SqlExecutor, SqlTransaction, SqlValue } from '../sql.js';

pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

type Queryable = Pick<pg.Pool, 'query'> | pg.PoolClient;

/** Socket-level failures (node:net) while reaching the database. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED']);
/**
 * Messages pg gives connection failures that carry no code, pg-pool's "timeout exceeded when
 * trying to connect" (no free connection within connect_timeout: all of them stuck) included.
 */
const CONNECTION_MESSAGE = /Connection terminated|Query read timeout|timeout expired|timeout exceeded when trying to connect|[Cc]onnection timeout|not queryable|Client was closed|Cannot use a pool after calling end/;

/**
 * True when the connection itself failed: it must be discarded. PostgreSQL SQLSTATE class 08
 * (connection exception), 57P01-57P05 (shutdown, crash, cannot connect now, database dropped,
 * idle session timeout) and 25P03 (idle-in-transaction timeout) end the session.
 */
export function isConnectionFailure(err: unknown): boolean {
  const { code, message } = (err ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === 'string') {
    if (NETWORK_CODES.has(code) || code.startsWith('08') || /^57P0[1-5]$/.test(code) || code === '25P03') return true;
  }
  return typeof message === 'string' && CONNECTION_MESSAGE.test(message);
}

/**
 * True when the database cannot serve this request now though the connection may be fine:
 * 57014 (statement_timeout), class 53 (insufficient resources: disk full, out of memory, too many
 * connections), 55P03 (lock not available), 25006 (read-only transaction: a standby after a
 * failover) and class 58 (system error: I/O).
 */
function isTransientRefusal(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code === '57014' || code.startsWith('53') || code === '55P03' || code === '25006' || code.startsWith('58'));
}

function asStorageError(err: unknown): unknown {
  if (err instanceof InternalError) return err;
  if (isConnectionFailure(err)) return new InternalError('ERR_STORAGE_UNAVAILABLE', 'postgres: the database connection failed or timed out', { cause: err });
  if (isTransientRefusal(err)) return new InternalError('ERR_STORAGE_UNAVAILABLE', `postgres: the database refused the statement (SQLSTATE ${(err as { code: string }).code})`, { cause: err });
  return err;
}

async function query(q: Queryable, sql: string, params: readonly SqlValue[]): Promise<pg.QueryResult> {
  try {
    return await q.query(sql, params as unknown[]);
  } catch (err) {
    throw asStorageError(err);
  }
}

function executorOf(q: Queryable): SqlExecutor {
  return {
    dialect: 'postgres',
    async all<T extends Row>(sql: string, params: readonly SqlValue[] = []) {
      return (await query(q, sql, params)).rows as T[];
    },
    async get<T extends Row>(sql: string, params: readonly SqlValue[] = []) {
      return (await query(q, sql, params)).rows[0] as T | undefined;
    },
    async run(sql: string, params: readonly SqlValue[] = []) {
      return (await query(q, sql, params)).rowCount ?? 0;
    },
  };
}

/** What openPostgres uses when no option is given: the `database` settings' defaults. */
export const POSTGRES_DEFAULTS = { poolSize: 10, connectTimeoutMs: 3000, statementTimeoutMs: 5000, queryTimeoutMs: 6000 } as const;

export function openPostgres(url: string, options: SqlDriverOptions = {}): SqlDriver {
  const timeouts = { ...POSTGRES_DEFAULTS, ...options };
  const statement = timeouts.statementTimeoutMs;
  const pool = new pg.Pool({
    connectionString: url,
    max: timeouts.poolSize,
    // Bounds both establishing a connection and waiting for a free one (pg-pool).
    ...(timeouts.connectTimeoutMs ? { connectionTimeoutMillis: timeouts.connectTimeoutMs } : {}),
    ...(timeouts.queryTimeoutMs ? { query_timeout: timeouts.queryTimeoutMs } : {}),
    ...(statement ? { statement_timeout: statement, idle_in_transaction_session_timeout: 2 * statement } : {}),
    // TCP keep-alive finds a peer that vanished while a connection sat idle in the pool.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  });
  const report = (err: Error) => options.onError?.(err);
  // Idle clients: the pool removes a client that errors while idle.
  pool.on('error', report);
  // Checked-out clients: pg has no listener on them, so a disconnect mid-request would be an
  // unhandled 'error' event. The query in flight fails on its own; the client is then released
  // with its error, which discards it.
  pool.on('connect', (client) => { client.on('error', report); });
  return {
    ...executorOf(pool),
    async transaction<T>(fn: (tx: SqlTransaction) => Promise<T>): Promise<T> {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (err) {
        throw asStorageError(err);
      }
      // A client that failed, timed out or whose ROLLBACK failed may still be inside the
      // transaction or have a reply in flight: destroy it rather than hand it to the next caller.
      let broken: Error | undefined;
      try {
        await query(client, 'BEGIN', []);
        const tx: SqlTransaction = {
          ...executorOf(client),
          async exec(script: string) { await query(client, script, []); },
        };
        const result = await fn(tx);
        await query(client, 'COMMIT', []);
        return result;
      } catch (err) {
        const cause = err instanceof InternalError && err.cause !== undefined ? err.cause : err;
        if (isConnectionFailure(cause)) broken = cause as Error;
        else await client.query('ROLLBACK').catch((rollbackErr: Error) => { broken = rollbackErr; });
        throw err;
      } finally {
        client.release(broken ?? false);
      }
    },
    async exec(script: string) {
      await query(pool, script, []);
    },
    async close() {
      await pool.end();
    },
  };
}
