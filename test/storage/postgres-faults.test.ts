// The PostgreSQL driver under network faults, with the tests' own TCP proxy between the driver and
// the real PostgreSQL (test/support/fault-proxy.ts). Proves, at the driver boundary:
// - a connection lost while checked out (inside a transaction) neither crashes the process (pg
//   emits 'error' on the client; without a listener that is an uncaught exception) nor poisons the
//   pool: the transaction rejects with ERR_STORAGE_UNAVAILABLE, its writes are rolled back, and the
//   next call gets a fresh connection;
// - a partition (connections accepted, nothing answered) fails a query after query_timeout and a
//   new connection after connect_timeout, instead of hanging;
// - pg_terminate_backend of the driver's own sessions (what a failover or restart does) is
//   survived the same way;
// - an ordinary SQL error (a unique violation) keeps its SQLSTATE for the repositories.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { openPostgres } from '../../src/storage/postgres/driver.js';
import { isUnavailable } from '../../src/errors/internal-error.js';
import type { SqlDriver } from '../../src/storage/sql.js';
import { postgresAdapter, testAdapters, type TestDatabase } from './databases.js';
import { startFaultProxy, targetOf, throughProxy, type FaultProxy } from '../support/fault-proxy.js';

const hasPostgres = (await testAdapters()).some((a) => a.name === 'postgres');

const TIMEOUTS = { connectTimeoutMs: 1000, statementTimeoutMs: 1000, queryTimeoutMs: 1500 };

describe.skipIf(!hasPostgres)('postgres driver under faults', () => {
  let db: TestDatabase;
  let proxy: FaultProxy;
  let driver: SqlDriver;
  let admin: pg.Client;
  const reported: Error[] = [];

  beforeAll(async () => {
    db = await postgresAdapter.open();
    proxy = await startFaultProxy({ target: targetOf(db.url) });
    driver = openPostgres(throughProxy(db.url, proxy), { ...TIMEOUTS, poolSize: 4, onError: (e) => reported.push(e) });
    await driver.exec('CREATE TABLE faults (id TEXT PRIMARY KEY, n INTEGER NOT NULL)');
    admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
  });
  afterEach(() => proxy.heal());
  afterAll(async () => {
    await driver?.close().catch(() => undefined);
    await admin?.end();
    await proxy?.close();
    await db?.cleanup();
  });

  async function expectUnavailable(promise: Promise<unknown>): Promise<void> {
    const err = await promise.then(() => undefined, (e: unknown) => e);
    expect(err, 'the call succeeded').toBeDefined();
    expect(isUnavailable(err), `not ERR_STORAGE_UNAVAILABLE: ${String(err)}`).toBe(true);
    expect(err).toMatchObject({ code: 'ERR_STORAGE_UNAVAILABLE' });
  }

  it('a connection reset inside a transaction rejects it, rolls it back, and the next call works', async () => {
    const inside = driver.transaction(async (tx) => {
      await tx.run('INSERT INTO faults (id, n) VALUES ($1, 1)', ['reset']);
      proxy.reset();
      await new Promise((r) => setTimeout(r, 100));
      await tx.run('UPDATE faults SET n = 2 WHERE id = $1', ['reset']);
    });
    await expectUnavailable(inside);
    proxy.heal();
    expect(await driver.get('SELECT count(*)::int AS n FROM faults WHERE id = $1', ['reset'])).toEqual({ n: 0 });
  });

  it('a connection closed (FIN) under concurrent transactions neither crashes nor leaves a broken client in the pool', async () => {
    const work = Array.from({ length: 8 }, (_, i) => driver.transaction(async (tx) => {
      await tx.run('INSERT INTO faults (id, n) VALUES ($1, 1)', [`drop-${i}`]);
      await tx.get('SELECT pg_sleep(0.3)');
    }).then(() => 'ok', (e: unknown) => e));
    setTimeout(() => proxy.drop(), 100);
    const results = await Promise.all(work);
    for (const r of results) if (r !== 'ok') expect(isUnavailable(r), String(r)).toBe(true);
    proxy.heal();
    // Every pooled connection is usable again: as many concurrent calls as the pool holds.
    await Promise.all(Array.from({ length: 4 }, () => driver.transaction(async (tx) => tx.get('SELECT 1 AS one'))));
  });

  it('a partition fails a query after query_timeout, and a new connection after connect_timeout, then heals', async () => {
    await driver.get('SELECT 1'); // a warm connection in the pool
    proxy.blackhole();
    const started = Date.now();
    await expectUnavailable(driver.get('SELECT 1 AS one'));
    await expectUnavailable(driver.transaction(async (tx) => tx.get('SELECT 1 AS one')));
    const waited = Date.now() - started;
    expect(waited).toBeLessThan(2 * (TIMEOUTS.queryTimeoutMs + TIMEOUTS.connectTimeoutMs) + 1000);
    proxy.heal();
    expect(await driver.get('SELECT 1 AS one')).toEqual({ one: 1 });
  });

  it('in a partition, calls waiting for a pooled connection (all of them stuck) fail unavailable too', async () => {
    await Promise.all(Array.from({ length: 4 }, () => driver.get('SELECT 1'))); // the pool full and warm
    proxy.blackhole();
    const results = await Promise.all(Array.from({ length: 8 }, () => driver.get('SELECT 1 AS one').then(() => 'ok', (e: unknown) => e)));
    for (const r of results) {
      expect(r, 'a call succeeded in a partition').not.toBe('ok');
      expect(r).toMatchObject({ code: 'ERR_STORAGE_UNAVAILABLE' });
    }
    proxy.heal();
    expect(await driver.get('SELECT 1 AS one')).toEqual({ one: 1 });
  });

  it('pg_terminate_backend of the driver\'s own sessions, during a transaction, is survived', async () => {
    const inside = driver.transaction(async (tx) => {
      await tx.run('INSERT INTO faults (id, n) VALUES ($1, 1)', ['terminated']);
      const ports = proxy.targetLocalPorts();
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE client_port = ANY($1::int[]) AND pid <> pg_backend_pid()', [ports]);
      await tx.get('SELECT 1');
    });
    await expectUnavailable(inside);
    expect(await driver.get('SELECT count(*)::int AS n FROM faults WHERE id = $1', ['terminated'])).toEqual({ n: 0 });
  });

  it('a statement that runs past statement_timeout is cancelled by the server and reported unavailable', async () => {
    await expectUnavailable(driver.get('SELECT pg_sleep(3)'));
    expect(await driver.get('SELECT 1 AS one')).toEqual({ one: 1 });
  });

  it('an ordinary SQL error keeps its SQLSTATE', async () => {
    await driver.run('INSERT INTO faults (id, n) VALUES ($1, 1)', ['dup']);
    const err = await driver.run('INSERT INTO faults (id, n) VALUES ($1, 1)', ['dup']).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: '23505' });
    expect(isUnavailable(err)).toBe(false);
  });
});
