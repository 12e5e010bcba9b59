// The ledger across real processes (test/audit-cli/append-worker.ts run by node):
// - two processes appending at once to one PostgreSQL database produce one linear log (RFC 9162
//   leaf indices 0…2N-1, no gap, no duplicate, no fork) that verifies;
// - a process killed with SIGKILL while appending under load loses no event whose append had
//   resolved (every seq it printed), and the log still verifies after the restart, on SQLite
//   (through `caduceus audit verify` on a dev-stack folder) and on PostgreSQL.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ledger } from '../../src/audit/ledger.js';
import { NoteSigner } from '../../src/audit/note.js';
import { verifyLedger } from '../../src/audit/verify.js';
import { openStorage, type Storage } from '../../src/storage/index.js';
import { createDataDir, runCli, type DataDir } from '../cli/harness.js';
import { postgresAdapter, testAdapters, type TestDatabase } from '../storage/databases.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WORKER = fileURLToPath(new URL('./append-worker.ts', import.meta.url));
const SEED = Buffer.alloc(32, 11);
const ORIGIN = 'processes.test/audit';
const PUBLIC_KEY = new NoteSigner(ORIGIN, SEED).verifierKey;
const hasPostgres = (await testAdapters()).some((a) => a.name === 'postgres');

interface Worker {
  child: ChildProcessWithoutNullStreams;
  /** Complete "<seq> <label> <i>" lines seen so far. */
  appended: { seq: number; label: string; i: number }[];
  ready: Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr: () => string;
  /** Resolves once at least n events were printed. */
  appendedAtLeast(n: number): Promise<void>;
  go(): void;
}

function startWorker(args: string[]): Worker {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER, ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  const appended: Worker['appended'] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  let buffered = '';
  let errors = '';
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => { markReady = resolve; });
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    // A line without its newline yet (or cut by the kill) is not counted.
    buffered = lines.pop()!;
    for (const line of lines) {
      if (line === 'ready') markReady();
      const m = /^(\d+) (\S+) (\d+)$/.exec(line);
      if (m) appended.push({ seq: Number(m[1]), label: m[2]!, i: Number(m[3]) });
    }
    for (const w of waiters.filter((w) => appended.length >= w.n)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  });
  child.stderr.on('data', (chunk: Buffer) => { errors += chunk.toString('utf8'); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return {
    child,
    appended,
    ready: Promise.race([ready, exited.then(() => { throw new Error(`worker exited before ready: ${errors}`); })]),
    exited,
    stderr: () => errors,
    appendedAtLeast: (n) => new Promise<void>((resolve, reject) => {
      if (appended.length >= n) return resolve();
      waiters.push({ n, resolve });
      void exited.then(() => reject(new Error(`worker exited after ${appended.length} events: ${errors}`)));
    }),
    go: () => child.stdin.write('go\n'),
  };
}

async function seqsPresent(storage: Storage, seqs: readonly number[]): Promise<Set<number>> {
  const present = new Set<number>();
  for (let i = 0; i < seqs.length; i += 500) {
    const chunk = seqs.slice(i, i + 500);
    const rows = await storage.sql.all<{ seq: number; event_json: string }>(
      `SELECT seq, event_json FROM audit_events WHERE seq IN (${chunk.map((_, j) => `$${j + 1}`).join(', ')})`,
      chunk,
    );
    for (const row of rows) present.add(Number(row.seq));
  }
  return present;
}

/** Each printed (seq, label, i) is stored at that seq with exactly those details. */
async function expectPrintedEventsStored(storage: Storage, appended: Worker['appended']): Promise<void> {
  const seqs = appended.map((a) => a.seq);
  const present = await seqsPresent(storage, seqs);
  expect(seqs.filter((s) => !present.has(s))).toEqual([]);
  const sample = appended.filter((_, k) => k % 25 === 0);
  for (const a of sample) {
    const row = await storage.sql.get<{ event_json: string }>('SELECT event_json FROM audit_events WHERE seq = $1', [a.seq]);
    expect(JSON.parse(row!.event_json)).toMatchObject({ seq: a.seq, details: { writer: a.label, i: a.i } });
  }
}

describe.skipIf(!hasPostgres)('two processes appending to one PostgreSQL database', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await postgresAdapter.open();
    // Migrate once here, so the workers do not race to create the schema.
    await (await openStorage(db.url)).close();
  });
  afterAll(() => db?.cleanup());

  it('produce one gap-free, fork-free log of 2N events that verifies', async () => {
    const N = 400;
    const workers = ['a', 'b'].map((label) => startWorker(['--url', db.url, '--seed', SEED.toString('hex'), '--origin', ORIGIN, '--label', label, '--count', String(N)]));
    await Promise.all(workers.map((w) => w.ready));
    for (const w of workers) w.go();
    const exits = await Promise.all(workers.map((w) => w.exited));
    expect(exits, workers.map((w) => w.stderr()).join('\n')).toEqual([{ code: 0, signal: null }, { code: 0, signal: null }]);

    const printed = workers.flatMap((w) => w.appended.map((a) => a.seq));
    expect(printed).toHaveLength(2 * N);
    expect([...printed].sort((x, y) => x - y)).toEqual(Array.from({ length: 2 * N }, (_, i) => i));

    const storage = await openStorage(db.url, { migrate: false });
    try {
      const rows = await storage.sql.all<{ seq: number }>('SELECT seq FROM audit_events ORDER BY seq');
      expect(rows.map((r) => Number(r.seq))).toEqual(Array.from({ length: 2 * N }, (_, i) => i));
      const verdict = await verifyLedger(storage.sql, { publicKey: PUBLIC_KEY, origin: ORIGIN });
      expect(verdict).toMatchObject({ ok: true, size: 2 * N, checkpointedSize: 2 * N, signaturesChecked: true });
      await expectPrintedEventsStored(storage, workers.flatMap((w) => w.appended));
    } finally {
      await storage.close();
    }
  });
});

describe('a process killed with SIGKILL while appending', () => {
  let data: DataDir;
  beforeAll(async () => { data = await createDataDir(); });
  afterAll(() => data?.remove());

  it('on SQLite (the dev stack\'s own sink): every printed seq survives and "audit verify" passes after the restart', async () => {
    const before = await runCli(['audit', 'verify', '--data', data.dir, '--json']);
    expect(before.code, before.stdout + before.stderr).toBe(0);
    const worker = startWorker(['--data', data.dir, '--label', 'crash', '--forever', '--in-flight', '64']);
    await worker.ready;
    worker.go();
    await worker.appendedAtLeast(2000);
    worker.child.kill('SIGKILL');
    expect(await worker.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(worker.appended.length).toBeGreaterThanOrEqual(2000);

    const after = await runCli(['audit', 'verify', '--data', data.dir, '--json']);
    expect(after.code, after.stdout + after.stderr).toBe(0);
    const verdict = JSON.parse(after.stdout) as { size: number };
    expect(verdict.size).toBeGreaterThan(Math.max(...worker.appended.map((a) => a.seq)));
    const storage = await openStorage(data.config.storage);
    try {
      await expectPrintedEventsStored(storage, worker.appended);
    } finally {
      await storage.close();
    }
    // The restarted server keeps appending to the same log, and a checkpoint covers it all.
    const checkpoint = await runCli(['audit', 'checkpoint', '--data', data.dir, '--json']);
    expect(checkpoint.code, checkpoint.stderr).toBe(0);
    expect(JSON.parse(checkpoint.stdout)).toMatchObject({ size: verdict.size });
    const final = await runCli(['audit', 'verify', '--data', data.dir]);
    expect(final.code, final.stdout).toBe(0);
    expect(final.stdout).toContain('every event is covered by a signed checkpoint');
  });

  it.skipIf(!hasPostgres)('on PostgreSQL: every printed seq survives, the log verifies, and appends continue', async () => {
    const db = await postgresAdapter.open();
    try {
      await (await openStorage(db.url)).close();
      const worker = startWorker(['--url', db.url, '--seed', SEED.toString('hex'), '--origin', ORIGIN, '--label', 'pgcrash', '--forever', '--in-flight', '64']);
      await worker.ready;
      worker.go();
      await worker.appendedAtLeast(1500);
      worker.child.kill('SIGKILL');
      expect(await worker.exited).toEqual({ code: null, signal: 'SIGKILL' });

      const storage = await openStorage(db.url, { migrate: false });
      try {
        await expectPrintedEventsStored(storage, worker.appended);
        const verdict = await verifyLedger(storage.sql, { publicKey: PUBLIC_KEY, origin: ORIGIN });
        expect(verdict.ok, JSON.stringify(verdict)).toBe(true);
        const size = verdict.ok ? verdict.size : 0;
        expect(size).toBeGreaterThan(Math.max(...worker.appended.map((a) => a.seq)));
        const ledger = new Ledger(storage.sql, { origin: ORIGIN, signingKey: SEED });
        const next = await ledger.append({ type: 'audit.read', actor: { userId: 'restart' }, outcome: 'success' });
        expect(next.seq).toBe(size);
        await ledger.close();
        expect(await verifyLedger(storage.sql, { publicKey: PUBLIC_KEY, origin: ORIGIN })).toMatchObject({ ok: true, size: size + 1, checkpointedSize: size + 1 });
      } finally {
        await storage.close();
      }
    } finally {
      await db.cleanup();
    }
  });
});
