// One small SQL driver contract over better-sqlite3 (embedded default) and pg (production), so the
// repositories and the audit ledger write each statement once. Statements use PostgreSQL-style
// positional placeholders ($1, $2, …); the SQLite driver rewrites them to ?NNN.
//
// Values crossing the boundary: numbers (integers are epoch milliseconds or counters and fit in a
// JS number), strings, Buffers for binary columns, and null.

export type SqlValue = string | number | bigint | Buffer | null;
export type Row = Record<string, unknown>;
export type Dialect = 'sqlite' | 'postgres';

export interface SqlExecutor {
  readonly dialect: Dialect;
  /** All rows of a statement. */
  all<T extends Row = Row>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  /** The first row, or undefined. */
  get<T extends Row = Row>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined>;
  /** Runs a statement; resolves to the number of rows changed. */
  run(sql: string, params?: readonly SqlValue[]): Promise<number>;
}

/** The executor handed to a transaction callback; exec runs a multi-statement script (migrations) inside it. */
export interface SqlTransaction extends SqlExecutor {
  exec(script: string): Promise<void>;
}

export interface TransactionOptions {
  /**
   * The commit survives power loss before the promise resolves, and so does every write committed
   * before it. Every PostgreSQL commit is durable. On SQLite (WAL, synchronous = NORMAL) an
   * ordinary commit survives a crash of the process but not of the machine; a durable one
   * resolves only after the write-ahead log has been synced (fdatasync, on the thread pool rather
   * than the event loop), which makes every earlier commit durable too. The audit ledger commits
   * durably, and every state change is followed by its ledger event before the response leaves
   * ("no audit, no access"), so what a response reports has reached the disk.
   */
  durable?: boolean;
}

export interface SqlDriver extends SqlExecutor {
  /**
   * Runs fn inside one transaction (SQLite: BEGIN IMMEDIATE; PostgreSQL: one pooled connection).
   * Commits when fn resolves, rolls back when it throws. Nested calls are not supported: inside fn,
   * use tx only (on SQLite a call on the driver itself waits for the transaction to end).
   */
  transaction<T>(fn: (tx: SqlTransaction) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /** Runs a multi-statement script (migrations). */
  exec(script: string): Promise<void>;
  close(): Promise<void>;
}

/** Connection settings of a networked database (the `database` block); SQLite ignores them. */
export interface SqlDriverOptions {
  poolSize?: number;
  /** Establishing a connection or waiting for a pooled one; 0 waits forever. */
  connectTimeoutMs?: number;
  /** PostgreSQL statement_timeout; 0 for none (operator commands such as migrate). */
  statementTimeoutMs?: number;
  /** A query with no answer by then fails and its connection is discarded; 0 waits forever. */
  queryTimeoutMs?: number;
  /** Connection errors outside any request (an idle connection lost); never includes the URL. */
  onError?: (error: Error) => void;
}

/** The driver options of the `database` settings (seconds) for a server. */
export function driverOptionsOf(database: { pool_size: number; connect_timeout: number; statement_timeout: number; query_timeout: number }): SqlDriverOptions {
  return {
    poolSize: database.pool_size,
    connectTimeoutMs: Math.round(database.connect_timeout * 1000),
    statementTimeoutMs: Math.round(database.statement_timeout * 1000),
    queryTimeoutMs: Math.round(database.query_timeout * 1000),
  };
}

/**
 * Operator commands (migrate, purge, audit verify and export) run long statements on purpose and are
 * interrupted by the operator: no statement or query timeout; the connect timeout stays.
 */
export const OPERATOR_DRIVER_OPTIONS: SqlDriverOptions = { statementTimeoutMs: 0, queryTimeoutMs: 0 };

/** Parses a `storage` setting: `sqlite:PATH` (or `sqlite::memory:`) or a postgres:// URL. */
export function parseStorageUrl(url: string): { dialect: Dialect; target: string } {
  if (url.startsWith('sqlite:')) return { dialect: 'sqlite', target: url.slice('sqlite:'.length) };
  if (/^postgres(ql)?:\/\//.test(url)) return { dialect: 'postgres', target: url };
  throw new Error(`storage: "${url.replace(/\/\/[^@]*@/, '//***@')}" is neither sqlite:PATH nor postgres://…`);
}

export async function openSqlDriver(url: string, options: SqlDriverOptions = {}): Promise<SqlDriver> {
  const { dialect, target } = parseStorageUrl(url);
  if (dialect === 'sqlite') {
    const { openSqlite } = await import('./sqlite/driver.js');
    return openSqlite(target);
  }
  const { openPostgres } = await import('./postgres/driver.js');
  return openPostgres(target, options);
}
