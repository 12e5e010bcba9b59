import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCheckpoint, splitNotes } from '../../src/audit/checkpoint.js';
import { AuditError } from '../../src/audit/errors.js';
import type { AuditEvent } from '../../src/audit/events.js';
import { canonicalize } from '../../src/audit/jcs.js';
import { Ledger } from '../../src/audit/ledger.js';
import { hashLeaf } from '../../src/audit/merkle.js';
import { verifyConsistencyProof, verifyInclusionProof } from '../../src/audit/proof-verify.js';
import { consistencyProof, inclusionProof, latestCheckpoint, ledgerSize, rootHash } from '../../src/audit/proofs.js';
import { exportCheckpoints, exportLedger, verifyExport, verifyLedger } from '../../src/audit/verify.js';
import { InternalError } from '../../src/errors/internal-error.js';
import type { SqlDriver } from '../../src/storage/sql.js';
import { ORIGIN, OTHER_SEED, openLedgerDb, sampleEvent, steppingClock, TEST_SEED, testAdapters, type LedgerDb } from './ledger-db.js';
import { leafHash, mth, path, proof as referenceProof } from './reference-tree.js';

const adapters = await testAdapters();

/** A driver whose next `failures` transactions fail, to prove a failed batch fails closed. */
function flakyDriver(driver: SqlDriver, failures: number): SqlDriver {
  let left = failures;
  return {
    ...driver,
    dialect: driver.dialect,
    all: driver.all.bind(driver),
    get: driver.get.bind(driver),
    run: driver.run.bind(driver),
    exec: driver.exec.bind(driver),
    close: driver.close.bind(driver),
    transaction(fn, options) {
      if (left > 0) {
        left -= 1;
        return driver.transaction(async (tx) => {
          await fn(tx);
          throw new Error('simulated commit failure');
        }, options);
      }
      return driver.transaction(fn, options);
    },
  };
}

describe.each(adapters)('the audit ledger on $name', (adapter) => {
  let db: LedgerDb;
  let ledger: Ledger;

  beforeAll(async () => {
    db = await openLedgerDb(adapter);
    ledger = new Ledger(db.driver, { origin: ORIGIN, signingKey: TEST_SEED, clock: steppingClock(), checkpointIntervalMs: 60_000 });
  });

  afterAll(async () => {
    await ledger?.close({ checkpoint: false });
    await db?.cleanup();
  });

  it('numbers events from seq 0 and has committed an event when record() resolves', async () => {
    const event = await ledger.append(sampleEvent(0));
    expect(event.seq).toBe(0);
    const other = await db.openAnother();
    const row = await other.get<{ seq: number; event_json: string }>('SELECT seq, event_json FROM audit_events WHERE seq = 0');
    expect(row?.seq).toBe(0);
    await expect(ledger.record(sampleEvent(1))).resolves.toBeUndefined();
  });

  it('commits every batch and checkpoint as a durable transaction (fsynced before record() resolves)', async () => {
    const seen: Array<boolean | undefined> = [];
    const watching: SqlDriver = { ...db.driver, transaction: (fn, options) => { seen.push(options?.durable); return db.driver.transaction(fn, options); } };
    const watched = new Ledger(watching, { origin: ORIGIN, signingKey: TEST_SEED, clock: steppingClock(), checkpointIntervalMs: 60_000 });
    try {
      await watched.record(sampleEvent(100));
      await watched.checkpoint();
    } finally {
      await watched.close({ checkpoint: false });
    }
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(seen.every((d) => d === true)).toBe(true);
  });

  it('stores the canonical event JSON exactly as hashed, with its leaf hash as tree node (0, seq)', async () => {
    const event = await ledger.append(sampleEvent(2));
    const row = await db.driver.get<{ event_json: string }>('SELECT event_json FROM audit_events WHERE seq = $1', [event.seq]);
    expect(row?.event_json).toBe(canonicalize(event));
    expect(JSON.parse(row!.event_json)).toEqual(event);
    const node = await db.driver.get<{ hash: Buffer }>('SELECT hash FROM audit_tree_nodes WHERE level = 0 AND idx = $1', [event.seq]);
    expect(Buffer.from(node!.hash).equals(hashLeaf(row!.event_json))).toBe(true);
  });

  it('batches 1000 concurrent record() calls into fewer transactions, with contiguous seqs and a log that verifies', async () => {
    const before = ledger.stats;
    const base = await ledgerSize(db.driver);
    const events = await Promise.all(Array.from({ length: 1000 }, (_, i) => ledger.append(sampleEvent(i))));
    const seqs = events.map((e) => e.seq).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: 1000 }, (_, i) => base + i));
    const after = ledger.stats;
    expect(after.events - before.events).toBe(1000);
    expect(after.transactions - before.transactions).toBeLessThan(1000);
    expect(after.transactions - before.transactions).toBeGreaterThan(0);
    const verdict = await verifyLedger(db.driver, { publicKey: ledger.verifierKey });
    expect(verdict).toMatchObject({ ok: true, size: base + 1000 });
  });

  it('serves inclusion and consistency proofs from stored nodes that match the naive tree and a signed checkpoint', async () => {
    const checkpoint = await ledger.checkpoint();
    const opened = openCheckpoint(checkpoint.note, ledger.verifierKey, { origin: ORIGIN });
    const leaves: Buffer[] = [];
    for await (const line of exportLedger(db.driver)) leaves.push(Buffer.from(line, 'utf8'));
    expect(leaves).toHaveLength(opened.size);
    const tree = leaves.map(leafHash);
    expect(mth(tree).equals(opened.rootHash)).toBe(true);
    expect((await rootHash(db.driver, opened.size)).rootHash.equals(opened.rootHash)).toBe(true);
    for (const [seq, size] of [[0, opened.size], [opened.size - 1, opened.size], [517, opened.size], [3, 700], [699, 700]] as const) {
      const proof = await inclusionProof(db.driver, seq, size);
      expect(proof.hashes).toEqual(path(seq, tree.slice(0, size)).map((h) => h.toString('hex')));
      expect(verifyInclusionProof(proof, size === opened.size ? opened.rootHash : mth(tree.slice(0, size)))).toEqual({ ok: true });
    }
    for (const [first, second] of [[1, opened.size], [3, 700], [512, opened.size], [700, 700]] as const) {
      const proof = await consistencyProof(db.driver, first, second);
      expect(proof.first_hash).toBe(mth(tree.slice(0, first)).toString('hex'));
      expect(proof.hashes).toEqual(first === second ? [] : referenceProof(first, tree.slice(0, second)).map((h) => h.toString('hex')));
      expect(verifyConsistencyProof(proof)).toEqual({ ok: true });
    }
    await expect(inclusionProof(db.driver, opened.size, opened.size)).rejects.toMatchObject({ code: 'ERR_AUDIT_INVALID_ARGUMENT' });
    await expect(consistencyProof(db.driver, 5, 4)).rejects.toMatchObject({ code: 'ERR_AUDIT_INVALID_ARGUMENT' });
  });

  it('returns the stored checkpoint when the tree has not grown, instead of signing another', async () => {
    const a = await ledger.checkpoint();
    const b = await ledger.checkpoint();
    expect(b.note).toBe(a.note);
    expect((await latestCheckpoint(db.driver))?.note).toBe(a.note);
  });

  it('exports a log that verifies offline, and that fails offline under another key', async () => {
    await ledger.checkpoint();
    const lines: string[] = [];
    for await (const line of exportLedger(db.driver)) lines.push(line);
    const checkpoints = await exportCheckpoints(db.driver);
    const verdict = await verifyExport(lines.join('\n').split('\n'), checkpoints, ledger.verifierKey);
    expect(verdict).toMatchObject({ ok: true, size: lines.length, checkpointedSize: lines.length });
    const other = new Ledger(db.driver, { origin: ORIGIN, signingKey: OTHER_SEED });
    const wrongKey = await verifyExport(lines, checkpoints, other.verifierKey);
    expect(wrongKey).toMatchObject({ ok: false, code: 'checkpoint_invalid', firstBadSeq: 0 });
    const cut = await verifyExport(lines.slice(0, -2), checkpoints, ledger.verifierKey);
    expect(cut).toMatchObject({ ok: false, code: 'checkpoint_beyond_log', firstBadSeq: lines.length - 2 });
  });

  it('rejects an invalid event alone, naming the member, while the rest of the batch commits', async () => {
    const results = await Promise.allSettled([
      ledger.append(sampleEvent(1)),
      ledger.append({ ...sampleEvent(2), type: 'nope' as AuditEvent['type'] }),
      ledger.append({ ...sampleEvent(3), details: { n: Number.NaN } }),
      ledger.append(sampleEvent(4)),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled']);
    const reason = (results[1] as PromiseRejectedResult).reason as AuditError;
    expect(reason).toBeInstanceOf(AuditError);
    expect(reason.code).toBe('ERR_AUDIT_INVALID_EVENT');
    expect(reason.message).toBe('event.type is not a known audit event type');
    expect(((results[2] as PromiseRejectedResult).reason as AuditError).code).toBe('ERR_JCS_UNSUPPORTED');
  });

  it('rejects every record() of a batch whose commit fails, then commits the next batch', async () => {
    const flaky = new Ledger(flakyDriver(db.driver, 1), { origin: ORIGIN, signingKey: TEST_SEED, checkpointIntervalMs: 60_000 });
    const size = await ledgerSize(db.driver);
    const first = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => flaky.record(sampleEvent(i))));
    expect(first.every((r) => r.status === 'rejected')).toBe(true);
    const reason = (first[0] as PromiseRejectedResult).reason as InternalError;
    expect(reason).toBeInstanceOf(InternalError);
    expect(reason.code).toBe('ERR_AUDIT_UNAVAILABLE');
    expect(await ledgerSize(db.driver)).toBe(size);
    expect(flaky.stats.failedTransactions).toBe(1);
    const next = await flaky.append(sampleEvent(9));
    expect(next.seq).toBe(size);
    await flaky.close({ checkpoint: false });
    expect((await verifyLedger(db.driver)).ok).toBe(true);
  });

  it('rejects record() with ERR_AUDIT_UNAVAILABLE when the driver is closed (fail closed)', async () => {
    const closed = await db.openAnother();
    await closed.close();
    const dead = new Ledger(closed, { origin: ORIGIN, signingKey: TEST_SEED });
    const results = await Promise.allSettled([dead.record(sampleEvent(1)), dead.record(sampleEvent(2))]);
    for (const r of results) {
      expect(r.status).toBe('rejected');
      expect((r as PromiseRejectedResult).reason).toMatchObject({ name: 'InternalError', code: 'ERR_AUDIT_UNAVAILABLE' });
    }
    await expect(dead.close()).rejects.toThrow();
  });

  it('signs a checkpoint within the interval after events arrive and appends it to the witness file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'caduceus-witness-'));
    const witnessFile = join(dir, 'witness.txt');
    try {
      const timed = new Ledger(db.driver, { origin: ORIGIN, signingKey: TEST_SEED, checkpointIntervalMs: 50, witnessFile });
      await timed.record(sampleEvent(1));
      const size = await ledgerSize(db.driver);
      for (let waited = 0; (await latestCheckpoint(db.driver))?.size !== size; waited += 10) {
        if (waited > 3000) throw new Error('no checkpoint within 3 s');
        await sleep(10);
      }
      await timed.record(sampleEvent(2));
      await timed.close();
      const notes = splitNotes(await readFile(witnessFile, 'utf8'));
      expect(notes.map((n) => openCheckpoint(n, timed.verifierKey).size)).toEqual([size, size + 1]);
      expect(timed.stats.checkpoints).toBe(2);
      const verdict = await verifyLedger(db.driver, { publicKey: timed.verifierKey, witness: notes });
      expect(verdict).toMatchObject({ ok: true, size: size + 1, checkpointedSize: size + 1 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rejects at once beyond maxPending events waiting, and commits the others', async () => {
    const bounded = new Ledger(db.driver, { origin: ORIGIN, signingKey: TEST_SEED, maxPending: 10, checkpointIntervalMs: 60_000 });
    const results = await Promise.allSettled(Array.from({ length: 15 }, (_, i) => bounded.record(sampleEvent(i))));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(10);
    for (const r of results.slice(10)) expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE' });
    await bounded.close({ checkpoint: false });
  });

  it('refuses after close() and names bad options', async () => {
    const closing = new Ledger(db.driver, { origin: ORIGIN, signingKey: TEST_SEED });
    await closing.close({ checkpoint: false });
    await expect(closing.record(sampleEvent(1))).rejects.toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE' });
    expect(() => new Ledger(db.driver, { origin: 'has space', signingKey: TEST_SEED })).toThrow('options.origin');
    expect(() => new Ledger(db.driver, { origin: ORIGIN, signingKey: Buffer.alloc(3) })).toThrow('options.signingKey');
    expect(() => new Ledger(db.driver, { origin: ORIGIN, signingKey: TEST_SEED, checkpointIntervalMs: 0 })).toThrow('options.checkpointIntervalMs');
  });
});
