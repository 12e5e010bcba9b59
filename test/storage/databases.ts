// Real databases for tests: a temporary SQLite file, and a fresh schema in the PostgreSQL database
// at CADUCEUS_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test).
//
//   const adapters = await testAdapters();            // top level of a test file
//   describe.each(adapters)('$name', (adapter) => {
//     let db: TestDatabase;
//     beforeAll(async () => { db = await adapter.open(); });   // db.url is a storage URL
//     afterAll(() => db.cleanup());                              // close your Storage first
//   });
//
// PostgreSQL unreachable: its adapter is left out with a loud warning, or, under CI=true, the
// call fails.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export const POSTGRES_TEST_URL = process.env.CADUCEUS_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestDatabase {
  /** A storage URL for openStorage / openSqlDriver. */
  url: string;
  /** Removes the database (file or schema); close every Storage on it first. */
  cleanup(): Promise<void>;
}

export interface TestAdapter {
  name: 'sqlite' | 'postgres';
  /** A new, empty database; call once per test file (or per test needing a blank one). */
  open(): Promise<TestDatabase>;
}

export const sqliteAdapter: TestAdapter = {
  name: 'sqlite',
  async open() {
    const dir = await mkdtemp(join(tmpdir(), 'caduceus-test-'));
    return {
      url: `sqlite:${join(dir, 'caduceus.db')}`,
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  },
};

async function withAdminClient<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: POSTGRES_TEST_URL, connectionTimeoutMillis: 3000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export const postgresAdapter: TestAdapter = {
  name: 'postgres',
  async open() {
    const schema = `caduceus_test_${randomBytes(6).toString('hex')}`;
    await withAdminClient((client) => client.query(`CREATE SCHEMA ${schema}`));
    // libpq-style options: every pooled connection starts with search_path set to the schema.
    const separator = POSTGRES_TEST_URL.includes('?') ? '&' : '?';
    return {
      url: `${POSTGRES_TEST_URL}${separator}options=${encodeURIComponent(`-c search_path=${schema}`)}`,
      cleanup: () => withAdminClient((client) => client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)).then(() => undefined),
    };
  },
};

let postgresReachable: Promise<boolean> | undefined;

async function probePostgres(): Promise<boolean> {
  try {
    await withAdminClient((client) => client.query('SELECT 1'));
    return true;
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    if (process.env.CI === 'true') {
      throw new Error(`PostgreSQL at CADUCEUS_TEST_DATABASE_URL is unreachable under CI=true: ${reason}`);
    }
    console.warn(
      `\n!!! PostgreSQL is unreachable (${reason}): the postgres storage tests are SKIPPED.\n` +
      '!!! Start one or set CADUCEUS_TEST_DATABASE_URL; under CI=true this is a failure.\n',
    );
    return false;
  }
}

/** The adapters to run a suite against: sqlite always, postgres when reachable (required when CI=true). */
export async function testAdapters(): Promise<TestAdapter[]> {
  postgresReachable ??= probePostgres();
  return (await postgresReachable) ? [sqliteAdapter, postgresAdapter] : [sqliteAdapter];
}
