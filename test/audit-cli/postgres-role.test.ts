// docs/audit.md documents the production PostgreSQL roles. This test runs the two SQL blocks of
// that section exactly as written (only the role and schema names are made unique, as roles are
// global to the cluster), migrates as the owner, starts the storage as caduceus_app, and checks
// that the server role can read and append the ledger but cannot UPDATE, DELETE, TRUNCATE, disable
// the triggers or switch them off with session_replication_role.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ledger } from '../../src/audit/ledger.js';
import { NoteSigner } from '../../src/audit/note.js';
import { verifyLedger } from '../../src/audit/verify.js';
import { openStorage } from '../../src/storage/index.js';
import { migrations, runMigrations } from '../../src/storage/migrations/index.js';
import { openSqlDriver } from '../../src/storage/sql.js';
import { POSTGRES_TEST_URL, testAdapters } from '../storage/databases.js';

const hasPostgres = (await testAdapters()).some((a) => a.name === 'postgres');
const DOC = readFileSync(fileURLToPath(new URL('../../docs/audit.md', import.meta.url)), 'utf8');
const LEDGER_TABLES = ['audit_events', 'audit_tree_nodes', 'audit_checkpoints'];

/** The ```sql blocks of the "Production PostgreSQL roles" section, in order. */
function roleSql(): string[] {
  const start = DOC.indexOf('## Production PostgreSQL roles');
  const end = DOC.indexOf('\n## ', start + 1);
  const section = DOC.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

const suffix = randomBytes(4).toString('hex');
const names = { owner: `caduceus_owner_${suffix}`, app: `caduceus_app_${suffix}`, schema: `caduceus_${suffix}` };
const localise = (sql: string): string =>
  sql.replace(/\bcaduceus_owner\b/g, names.owner).replace(/\bcaduceus_app\b/g, names.app).replace(/\bcaduceus\b/g, names.schema);

function urlFor(role: string, password: string): string {
  const url = new URL(POSTGRES_TEST_URL);
  url.username = role;
  url.password = password;
  return url.href;
}

async function asRole<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

describe.skipIf(!hasPostgres)('the documented production PostgreSQL roles', () => {
  const blocks = roleSql();
  const password = (role: 'owner' | 'app'): string => /PASSWORD '([^']+)'/.exec(blocks[0]!.split('\n').find((l) => l.includes(`caduceus_${role} `))!)![1]!;
  let ownerUrl: string;
  let appUrl: string;

  beforeAll(async () => {
    expect(blocks).toHaveLength(2);
    ownerUrl = urlFor(names.owner, password('owner'));
    appUrl = urlFor(names.app, password('app'));
    await asRole(POSTGRES_TEST_URL, (c) => c.query(localise(blocks[0]!)));
    // "caduceus migrate" as the owner: the role's search_path (from the doc) picks the schema.
    const driver = await openSqlDriver(ownerUrl);
    try {
      expect(await runMigrations(driver)).toEqual(migrations.map((m) => m.id));
    } finally {
      await driver.close();
    }
    await asRole(ownerUrl, (c) => c.query(localise(blocks[1]!)));
  });

  afterAll(async () => {
    await asRole(POSTGRES_TEST_URL, async (c) => {
      await c.query(`DROP SCHEMA IF EXISTS ${names.schema} CASCADE`);
      await c.query(`DROP OWNED BY ${names.app}, ${names.owner}`).catch(() => undefined);
      await c.query(`DROP ROLE IF EXISTS ${names.app}`);
      await c.query(`DROP ROLE IF EXISTS ${names.owner}`);
    });
  });

  it('lets caduceus_app start (migration check included), use the operational tables and append a ledger that verifies', async () => {
    const storage = await openStorage(appUrl);
    try {
      expect(await storage.sql.get<{ schema: string }>('SELECT current_schema() AS schema')).toEqual({ schema: names.schema });
      await storage.sql.run('UPDATE clients SET name = name WHERE client_id = $1', ['none']);
      await storage.sql.run('DELETE FROM throttle_hits WHERE false');
      const seed = Buffer.alloc(32, 3);
      const ledger = new Ledger(storage.sql, { origin: 'roles.test/audit', signingKey: seed });
      for (let i = 0; i < 5; i++) await ledger.record({ type: 'login.failed', actor: { userId: `u-${i}` }, outcome: 'denied' });
      await ledger.close();
      expect(await verifyLedger(storage.sql, { publicKey: new NoteSigner('roles.test/audit', seed).verifierKey })).toMatchObject({ ok: true, size: 5, checkpointedSize: 5 });
    } finally {
      await storage.close();
    }
  });

  it('refuses caduceus_app every way of changing the ledger: UPDATE, DELETE, TRUNCATE, triggers off, replica role', async () => {
    const attempts = [
      ...LEDGER_TABLES.flatMap((t) => [`UPDATE ${t} SET ${t === 'audit_events' ? 'outcome = outcome' : t === 'audit_tree_nodes' ? 'hash = hash' : 'note = note'}`, `DELETE FROM ${t}`, `TRUNCATE ${t}`]),
      'ALTER TABLE audit_events DISABLE TRIGGER ALL',
      'DROP TABLE audit_events',
      'SET session_replication_role = replica',
      'INSERT INTO schema_migrations (id, name, applied_at) VALUES (99, $$x$$, 0)',
    ];
    await asRole(appUrl, async (c) => {
      for (const sql of attempts) {
        const error = await c.query(sql).then(() => undefined, (err: { code?: string; message: string }) => err);
        expect(error, sql).toBeDefined();
        // 42501 insufficient_privilege ("permission denied", "must be owner").
        expect(error!.code, `${sql}: ${error!.message}`).toBe('42501');
      }
      expect(Number((await c.query('SELECT COUNT(*) AS n FROM audit_events')).rows[0].n)).toBe(5);
    });
  });
});
