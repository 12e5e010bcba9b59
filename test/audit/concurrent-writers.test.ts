// Two Ledger instances on two drivers (two connection pools, as two server processes would have)
// appending to one database at once: one linear log, no gaps, no duplicate seq, no fork.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ledger } from '../../src/audit/ledger.js';
import { ledgerSize } from '../../src/audit/proofs.js';
import { verifyLedger } from '../../src/audit/verify.js';
import type { SqlDriver } from '../../src/storage/sql.js';
import { ORIGIN, openLedgerDb, sampleEvent, TEST_SEED, testAdapters, type LedgerDb } from './ledger-db.js';

const adapters = await testAdapters();

describe.each(adapters)('two writers on one $name database', (adapter) => {
  let db: LedgerDb;
  let second: SqlDriver;

  beforeAll(async () => {
    db = await openLedgerDb(adapter);
    second = await db.openAnother();
  });

  afterAll(() => db?.cleanup());

  it('append concurrently into one gap-free, fork-free log that verifies', async () => {
    const a = new Ledger(db.driver, { origin: ORIGIN, signingKey: TEST_SEED, checkpointIntervalMs: 20 });
    const b = new Ledger(second, { origin: ORIGIN, signingKey: TEST_SEED, checkpointIntervalMs: 20 });
    const perWriter = 600;
    // Several waves, so the writers interleave many batches (and their checkpoint timers fire).
    const appended: number[] = [];
    for (let wave = 0; wave < 6; wave++) {
      const events = await Promise.all([
        ...Array.from({ length: perWriter / 6 }, (_, i) => a.append({ ...sampleEvent(i), details: { writer: 'a', wave, i } })),
        ...Array.from({ length: perWriter / 6 }, (_, i) => b.append({ ...sampleEvent(i), details: { writer: 'b', wave, i } })),
      ]);
      appended.push(...events.map((e) => e.seq));
    }
    await Promise.all([a.close(), b.close()]);

    expect(new Set(appended).size).toBe(2 * perWriter);
    expect([...appended].sort((x, y) => x - y)).toEqual(Array.from({ length: 2 * perWriter }, (_, i) => i));
    expect(await ledgerSize(db.driver)).toBe(2 * perWriter);
    expect(a.stats.transactions + b.stats.transactions).toBeLessThan(2 * perWriter);
    const rows = await db.driver.all<{ n: number; distinct_seq: number; max_seq: number }>(
      'SELECT COUNT(*) AS n, COUNT(DISTINCT seq) AS distinct_seq, MAX(seq) AS max_seq FROM audit_events',
    );
    expect(rows[0]).toEqual({ n: 2 * perWriter, distinct_seq: 2 * perWriter, max_seq: 2 * perWriter - 1 });
    const verdict = await verifyLedger(db.driver, { publicKey: a.verifierKey });
    expect(verdict).toMatchObject({ ok: true, size: 2 * perWriter, checkpointedSize: 2 * perWriter });
    expect(verdict.ok && verdict.checkpoints).toBeGreaterThan(1);
  });
});
