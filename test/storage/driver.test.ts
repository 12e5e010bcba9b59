// The SqlDriver contract (src/storage/sql.ts) on both dialects: placeholders, transactions, and
// how a driver shares its database with other statements and other connections.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqlDriver, type SqlDriver } from '../../src/storage/sql.js';
import { walSyncCount } from '../../src/storage/sqlite/driver.js';
import { testAdapters, type TestDatabase } from './databases.js';

const adapters = await testAdapters();

describe.each(adapters)('the $name driver', (adapter) => {
  let db: TestDatabase;
  let driver: SqlDriver;

  beforeAll(async () => {
    db = await adapter.open();
    driver = await openSqlDriver(db.url);
    await driver.exec('CREATE TABLE items (name TEXT PRIMARY KEY, n BIGINT NOT NULL); CREATE TABLE other_items (name TEXT)');
  });

  afterAll(async () => {
    await driver?.close();
    await db?.cleanup();
  });

  it('fills $N placeholders by number, also when one is used twice or out of order', async () => {
    await driver.run('INSERT INTO items (name, n) VALUES ($2, $1)', [7, 'placeholders']);
    const row = await driver.get<{ name: string; n: number; again: number }>(
      'SELECT name, n, n + $1 AS again FROM items WHERE name = $2 AND n = $1',
      [7, 'placeholders'],
    );
    expect(row).toEqual({ name: 'placeholders', n: 7, again: 14 });
  });

  it('resolves the number of changed rows from run, also for a statement with RETURNING', async () => {
    await driver.run("INSERT INTO items (name, n) VALUES ('count-a', 1), ('count-b', 1)");
    expect(await driver.run("UPDATE items SET n = 2 WHERE name LIKE 'count-%'")).toBe(2);
    expect(await driver.run("UPDATE items SET n = 3 WHERE name LIKE 'count-%' RETURNING name")).toBe(2);
    expect(await driver.run("UPDATE items SET n = 3 WHERE name = 'nothing'")).toBe(0);
  });

  it('commits a transaction whose callback resolves', async () => {
    const result = await driver.transaction(async (tx) => {
      await tx.run("INSERT INTO items (name, n) VALUES ('committed', 1)");
      return 'done';
    });
    expect(result).toBe('done');
    expect(await driver.get("SELECT name FROM items WHERE name = 'committed'")).toEqual({ name: 'committed' });
  });

  it('rolls back a transaction whose callback throws, scripts run through tx.exec included', async () => {
    const failure = driver.transaction(async (tx) => {
      await tx.run("INSERT INTO items (name, n) VALUES ('rolled-back', 1)");
      await tx.exec("INSERT INTO other_items (name) VALUES ('script-1'); INSERT INTO other_items (name) VALUES ('script-2')");
      throw new Error('abort');
    });
    await expect(failure).rejects.toThrow('abort');
    expect(await driver.get("SELECT name FROM items WHERE name = 'rolled-back'")).toBeUndefined();
    expect(await driver.all("SELECT name FROM other_items WHERE name LIKE 'script-%'")).toEqual([]);
  });

  it('keeps a statement issued outside a transaction while it is open out of its rollback', async () => {
    let started!: () => void;
    const open = new Promise<void>((resolve) => { started = resolve; });
    const failure = driver.transaction(async (tx) => {
      await tx.run("INSERT INTO items (name, n) VALUES ('inside', 1)");
      started();
      await sleep(50);
      throw new Error('abort');
    });
    await open;
    // Another request, issued while the transaction is open.
    const outside = driver.run("INSERT INTO items (name, n) VALUES ('outside', 1)");
    await expect(failure).rejects.toThrow('abort');
    expect(await outside).toBe(1);
    expect(await driver.get("SELECT name FROM items WHERE name = 'outside'")).toEqual({ name: 'outside' });
    expect(await driver.get("SELECT name FROM items WHERE name = 'inside'")).toBeUndefined();
  });

  it('lets another connection write while a transaction holds the database, without blocking the event loop', async () => {
    const second = await openSqlDriver(db.url);
    try {
      let ticks = 0;
      const ticker = setInterval(() => { ticks += 1; }, 10);
      let writerDone = false;
      const holder = driver.transaction(async (tx) => {
        await tx.run("INSERT INTO items (name, n) VALUES ('holder', 1)");
        await sleep(300);
        // The other connection's write (of another row) must not have been able to finish on
        // SQLite, whose write lock is per database; PostgreSQL locks rows, so it may have.
        if (adapter.name === 'sqlite') expect(writerDone).toBe(false);
      });
      await sleep(20);
      await second.run("INSERT INTO items (name, n) VALUES ('waiter', 1)");
      writerDone = true;
      await holder;
      clearInterval(ticker);
      expect(ticks).toBeGreaterThan(5);
      expect(await driver.all("SELECT name FROM items WHERE name IN ('holder', 'waiter') ORDER BY name")).toEqual([{ name: 'holder' }, { name: 'waiter' }]);
    } finally {
      await second.close();
    }
  });
});

describe('the sqlite driver', () => {
  it('fails, rather than waits forever, when the driver itself is used inside its own transaction', async () => {
    const [sqlite] = adapters;
    const db = await sqlite!.open();
    const driver = await openSqlDriver(db.url);
    try {
      const misuse = driver.transaction(async () => driver.get('SELECT 1 AS one'));
      await expect(misuse).rejects.toMatchObject({ code: 'ERR_STORAGE' });
      expect(await driver.get('SELECT 1 AS one')).toEqual({ one: 1 });
    } finally {
      await driver.close();
      await db.cleanup();
    }
  });

  // TransactionOptions.durable: no commit fsyncs on the event loop (synchronous = NORMAL: 1); a
  // durable transaction (the audit ledger's) resolves only after the write-ahead log has been
  // synced (fdatasync on the thread pool), which also makes every earlier commit durable.
  it('syncs the write-ahead log after each durable transaction, and only then', async () => {
    const [sqlite] = adapters;
    const db = await sqlite!.open();
    const driver = await openSqlDriver(db.url);
    const level = async (ex: { get: SqlDriver['get'] }) => (await ex.get<{ synchronous: number }>('PRAGMA synchronous'))!.synchronous;
    try {
      await driver.exec('CREATE TABLE durable_items (n INTEGER)');
      expect(await level(driver)).toBe(1);
      const before = walSyncCount(driver);
      await driver.transaction((tx) => tx.run('INSERT INTO durable_items (n) VALUES (1)'));
      expect(walSyncCount(driver)).toBe(before);
      await driver.transaction((tx) => tx.run('INSERT INTO durable_items (n) VALUES (2)'), { durable: true });
      expect(walSyncCount(driver)).toBe(before + 1);
      expect(await driver.transaction((tx) => level(tx), { durable: true })).toBe(1);
      expect(walSyncCount(driver)).toBe(before + 2);
      // A failed durable transaction syncs nothing and rejects.
      await expect(driver.transaction(async () => { throw new Error('boom'); }, { durable: true })).rejects.toThrow('boom');
      expect(walSyncCount(driver)).toBe(before + 2);
    } finally {
      await driver.close();
      await db.cleanup();
    }
  });
});
