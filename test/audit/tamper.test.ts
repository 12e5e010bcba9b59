// Tamper evidence on both adapters: the triggers refuse edits; edits made around them (as a table
// owner could) are found by verifyLedger, which names the first bad seq.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatCheckpoint } from '../../src/audit/checkpoint.js';
import { canonicalize } from '../../src/audit/jcs.js';
import { Ledger } from '../../src/audit/ledger.js';
import { hashLeaf, MerkleFrontier } from '../../src/audit/merkle.js';
import { NoteSigner } from '../../src/audit/note.js';
import { verifyLedger, type LedgerVerdict } from '../../src/audit/verify.js';
import type { SqlExecutor } from '../../src/storage/sql.js';
import { bypassTriggers, ORIGIN, OTHER_SEED, openLedgerDb, sampleEvent, steppingClock, TEST_SEED, testAdapters, type LedgerDb } from './ledger-db.js';

const adapters = await testAdapters();
const SIZE = 40;
/** Checkpoints are signed at these sizes. */
const CHECKPOINTS = [10, 25, 40];

const sqlString = (value: string): string => `'${value.replace(/'/g, "''")}'`;

describe.each(adapters)('tamper evidence on $name', (adapter) => {
  let db: LedgerDb;
  let ledger: Ledger;
  let witness: string[];

  const verify = (extra: { witness?: string[] } = {}): Promise<LedgerVerdict> => verifyLedger(db.driver, { publicKey: ledger.verifierKey, origin: ORIGIN, ...extra });
  const eventJson = async (seq: number): Promise<string> =>
    (await db.driver.get<{ event_json: string }>('SELECT event_json FROM audit_events WHERE seq = $1', [seq]))!.event_json;

  beforeEach(async () => {
    db = await openLedgerDb(adapter);
    ledger = new Ledger(db.driver, { origin: ORIGIN, signingKey: TEST_SEED, clock: steppingClock(), checkpointIntervalMs: 60_000 });
    witness = [];
    for (let i = 0; i < SIZE; i++) {
      await ledger.record(sampleEvent(i));
      if (CHECKPOINTS.includes(i + 1)) witness.push((await ledger.checkpoint()).note);
    }
    expect(await verify()).toMatchObject({ ok: true, size: SIZE, checkpoints: CHECKPOINTS.length, checkpointedSize: SIZE });
  });

  afterEach(async () => {
    await ledger?.close({ checkpoint: false });
    await db?.cleanup();
  });

  it('rejects UPDATE and DELETE on every ledger table with the append-only triggers', async () => {
    const attempts = [
      "UPDATE audit_events SET outcome = 'denied' WHERE seq = 3",
      'DELETE FROM audit_events WHERE seq = 39',
      'UPDATE audit_tree_nodes SET idx = idx WHERE level = 0 AND idx = 3',
      'DELETE FROM audit_tree_nodes WHERE level = 0 AND idx = 39',
      'UPDATE audit_checkpoints SET created_at = 0',
      'DELETE FROM audit_checkpoints',
      ...(db.name === 'postgres' ? ['TRUNCATE audit_events', 'TRUNCATE audit_tree_nodes', 'TRUNCATE audit_checkpoints'] : []),
    ];
    for (const sql of attempts) {
      await expect(db.driver.run(sql), sql).rejects.toThrow(/append-only/);
    }
    expect(await verify()).toMatchObject({ ok: true, size: SIZE });
  });

  it('names the seq of an event whose field was changed', async () => {
    const json = await eventJson(17);
    const edited = json.replace('"outcome":"success"', '"outcome":"denied"');
    expect(edited).not.toBe(json);
    await bypassTriggers(db, [`UPDATE audit_events SET event_json = ${sqlString(edited)} WHERE seq = 17`]);
    expect(await verify()).toMatchObject({ ok: false, firstBadSeq: 17, code: 'column_mismatch' });
    // The attacker fixes the indexed column too: the leaf hash gives it away.
    await bypassTriggers(db, ["UPDATE audit_events SET outcome = 'denied' WHERE seq = 17"]);
    expect(await verify()).toMatchObject({ ok: false, firstBadSeq: 17, code: 'leaf_mismatch' });
  });

  it('names the seq of a deleted event', async () => {
    await bypassTriggers(db, ['DELETE FROM audit_events WHERE seq = 17']);
    expect(await verify()).toMatchObject({ ok: false, firstBadSeq: 17, code: 'missing_event' });
  });

  it('names the lower seq of two swapped events', async () => {
    const [a, b] = [await eventJson(12), await eventJson(30)];
    const columns = 'event_time, type, outcome, patient, actor_user, actor_client, resource, event_json';
    const row = async (seq: number) => db.driver.get<Record<string, string | number | null>>(`SELECT ${columns} FROM audit_events WHERE seq = $1`, [seq]);
    const [ra, rb] = [await row(12), await row(30)];
    const set = (r: Record<string, string | number | null>): string =>
      Object.entries(r).map(([k, v]) => `${k} = ${v === null ? 'NULL' : typeof v === 'number' ? v : sqlString(v)}`).join(', ');
    expect(a).not.toBe(b);
    await bypassTriggers(db, [`UPDATE audit_events SET ${set(rb!)} WHERE seq = 12`, `UPDATE audit_events SET ${set(ra!)} WHERE seq = 30`]);
    expect(await verify()).toMatchObject({ ok: false, firstBadSeq: 12, code: 'event_mismatch' });
  });

  // A server appends while `caduceus audit verify` reads page by page: the verdict is about the
  // log as it stood when verification began, never a false "tail was cut" for what came after.
  it('verifies the log as it stood when verification began while events and a checkpoint are appended', async () => {
    let appended = false;
    const live: SqlExecutor = {
      dialect: db.driver.dialect,
      get: (sql, params) => db.driver.get(sql, params),
      run: (sql, params) => db.driver.run(sql, params),
      async all(sql, params) {
        const rows = await db.driver.all(sql, params);
        if (!appended && sql.includes('FROM audit_events')) {
          appended = true;
          for (let i = SIZE; i < SIZE + 5; i++) await ledger.record(sampleEvent(i));
          await ledger.checkpoint();
        }
        return rows as never;
      },
    };
    expect(await verifyLedger(live, { publicKey: ledger.verifierKey, origin: ORIGIN, witness })).toMatchObject({ ok: true, size: SIZE, checkpointedSize: SIZE });
    expect(appended).toBe(true);
    expect(await verify()).toMatchObject({ ok: true, size: SIZE + 5, checkpointedSize: SIZE + 5 });
  });

  it('names the first missing seq when the tail is cut', async () => {
    await bypassTriggers(db, ['DELETE FROM audit_events WHERE seq >= 33']);
    expect(await verify()).toMatchObject({ ok: false, firstBadSeq: 33, code: 'missing_event' });
  });

  it('catches a tail cut together with its tree nodes by the signed checkpoint that covers it', async () => {
    await bypassTriggers(db, ['DELETE FROM audit_events WHERE seq >= 33', 'DELETE FROM audit_tree_nodes WHERE (idx + 1) * POWER(2, level) > 33']);
    expect(await verify()).toMatchObject({ ok: false, firstBadSeq: 33, code: 'checkpoint_beyond_log' });
  });

  it('catches a tail cut with its nodes and checkpoints only with the witness copy', async () => {
    await bypassTriggers(db, [
      'DELETE FROM audit_events WHERE seq >= 33',
      'DELETE FROM audit_tree_nodes WHERE (idx + 1) * POWER(2, level) > 33',
      'DELETE FROM audit_checkpoints WHERE tree_size > 33',
    ]);
    expect(await verify()).toMatchObject({ ok: true, size: 33, checkpointedSize: 25 });
    expect(await verify({ witness })).toMatchObject({ ok: false, firstBadSeq: 33, code: 'checkpoint_beyond_log' });
  });

  it('catches an event rewritten together with the whole tree by the signed checkpoints', async () => {
    // The attacker edits event 17 consistently (JSON and columns) and recomputes every tree node,
    // but cannot sign: the checkpoint of size 25 no longer matches. The edit is after the last good
    // checkpoint (size 10), which is the first seq the verdict can name.
    const edited = canonicalize({ ...JSON.parse(await eventJson(17)), outcome: 'denied' });
    const leaves: string[] = [];
    for (let seq = 0; seq < SIZE; seq++) leaves.push(seq === 17 ? edited : await eventJson(seq));
    const nodes: string[] = [];
    const frontier = MerkleFrontier.empty();
    for (const leaf of leaves) frontier.append(hashLeaf(leaf), (level, index, hash) => nodes.push(`(${level}, ${index}, ${db.name === 'sqlite' ? `X'${hash.toString('hex')}'` : `'\\x${hash.toString('hex')}'::bytea`})`));
    await bypassTriggers(db, [
      `UPDATE audit_events SET event_json = ${sqlString(edited)}, outcome = 'denied' WHERE seq = 17`,
      'DELETE FROM audit_tree_nodes',
      `INSERT INTO audit_tree_nodes (level, idx, hash) VALUES ${nodes.join(', ')}`,
    ]);
    const verdict = await verify();
    expect(verdict).toMatchObject({ ok: false, firstBadSeq: 10, code: 'checkpoint_mismatch' });
    expect(!verdict.ok && verdict.reason).toContain('from seq 10 to 24');
    // Without the key, a re-signed checkpoint table would pass; with it, a forged one is refused.
    const forger = new NoteSigner(ORIGIN, OTHER_SEED);
    const forged = forger.sign(formatCheckpoint({ origin: ORIGIN, size: 25, rootHash: rootOf(leaves.slice(0, 25)) }));
    await bypassTriggers(db, [`UPDATE audit_checkpoints SET note = ${sqlString(forged)}, root_hash = ${db.name === 'sqlite' ? `X'${rootOf(leaves.slice(0, 25)).toString('hex')}'` : `'\\x${rootOf(leaves.slice(0, 25)).toString('hex')}'::bytea`} WHERE tree_size = 25`]);
    expect(await verify()).toMatchObject({ ok: false, firstBadSeq: 10, code: 'checkpoint_invalid' });
  });

  it('refuses to sign a checkpoint over a tree that a signed checkpoint contradicts', async () => {
    await bypassTriggers(db, ['DELETE FROM audit_events WHERE seq >= 33', 'DELETE FROM audit_tree_nodes WHERE (idx + 1) * POWER(2, level) > 33']);
    const fresh = new Ledger(db.driver, { origin: ORIGIN, signingKey: TEST_SEED });
    await expect(fresh.checkpoint()).rejects.toMatchObject({ code: 'ERR_AUDIT_INTEGRITY' });
    await fresh.close({ checkpoint: false });
  });

  it('names the subtree of a tampered tree node', async () => {
    await bypassTriggers(db, [`UPDATE audit_tree_nodes SET hash = ${db.name === 'sqlite' ? "X'00'" : "'\\x00'::bytea"} WHERE level = 2 AND idx = 5`]);
    expect(await verify()).toMatchObject({ ok: false, firstBadSeq: 20, code: 'node_mismatch' });
  });
});

function rootOf(leaves: readonly string[]): Buffer {
  const frontier = MerkleFrontier.empty();
  for (const leaf of leaves) frontier.append(hashLeaf(leaf));
  return frontier.root();
}
