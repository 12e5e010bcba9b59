// Long operations of the console (issue 15): verifying the ledger reports its progress page by page
// and leaves the event loop free between pages, even on SQLite's synchronous driver; background
// jobs belong to whoever started them; a job page shows progress and reloads only when asked. And
// on a ledger edited behind the triggers, the event page shows the mismatch and the verification
// fails, recorded with outcome error, which the overview shows.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ledger } from '../../src/audit/ledger.js';
import { latestCheckpoint } from '../../src/audit/proofs.js';
import { searchEvents } from '../../src/audit/search.js';
import { verifyLedger } from '../../src/audit/verify.js';
import { jobBody } from '../../src/admin/console/audit.js';
import { AdminJobs, JOB_RETENTION_MS, MAX_JOBS } from '../../src/admin/console/jobs.js';
import { adminPage } from '../../src/admin/console/layout.js';
import { LEDGER_VERIFY_ACTION } from '../../src/admin/console/overview.js';
import { html } from '../../src/http/html.js';
import { signInAsAdmin } from '../support/admin.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { bypassTriggers, openLedgerDb, ORIGIN, sampleEvent, steppingClock, TEST_SEED, testAdapters, type LedgerDb } from '../audit/ledger-db.js';

const sqlite = (await testAdapters()).find((a) => a.name === 'sqlite')!;

describe('verifyLedger progress', () => {
  let db: LedgerDb;
  let ledger: Ledger;
  const SIZE = 4500;
  beforeAll(async () => {
    db = await openLedgerDb(sqlite);
    ledger = new Ledger(db.driver, { origin: ORIGIN, signingKey: TEST_SEED, clock: steppingClock(), checkpointIntervalMs: 60_000 });
    await Promise.all(Array.from({ length: SIZE }, (_, i) => ledger.record(sampleEvent(i))));
    await ledger.checkpoint();
  });
  afterAll(async () => {
    await ledger?.close({ checkpoint: false });
    await db?.cleanup();
  });

  it('reports each page with the run\'s total, and the verdict is the same as without it', async () => {
    const seen: { checked: number; total: number }[] = [];
    const withProgress = await verifyLedger(db.driver, { publicKey: ledger.verifierKey, origin: ORIGIN, onProgress: (p) => { seen.push(p); } });
    expect(seen).toEqual([{ checked: 2000, total: SIZE }, { checked: 4000, total: SIZE }, { checked: SIZE, total: SIZE }]);
    expect(withProgress).toEqual(await verifyLedger(db.driver, { publicKey: ledger.verifierKey, origin: ORIGIN }));
    expect(withProgress).toMatchObject({ ok: true, size: SIZE, checkpointedSize: SIZE });
  });

  it('gives the event loop a turn between pages on the synchronous SQLite driver', async () => {
    let turned = false;
    const atPage: boolean[] = [];
    setImmediate(() => { turned = true; });
    await verifyLedger(db.driver, { onProgress: () => { atPage.push(turned); } });
    // Without a yield, nothing else would run before the whole verification ends.
    expect(atPage).toEqual([false, true, true]);
  });
});

describe('background jobs', () => {
  it('are seen by the actor who started them only, with their progress and result', async () => {
    let now = 1_000;
    const jobs = new AdminJobs(() => now);
    let release!: () => void;
    const job = jobs.start('verify_ledger', 'admin-a', async (progress) => {
      progress(10, 40);
      await new Promise<void>((r) => { release = r; });
      return 'done!';
    });
    expect(jobs.get(job.id, 'admin-a')).toMatchObject({ state: 'running', done: 10, total: 40 });
    expect(jobs.get(job.id, 'admin-b')).toBeUndefined();
    expect(jobs.running('verify_ledger', 'admin-a')).toBe(job);
    expect(jobs.running('verify_ledger', 'admin-b')).toBeUndefined();
    now = 5_000;
    release();
    await job.finished;
    expect(jobs.get(job.id, 'admin-a')).toMatchObject({ state: 'done', result: 'done!', startedAt: 1_000, finishedAt: 5_000 });
  });

  it('keep a failure\'s code only, and are forgotten an hour after they end or beyond the most held', async () => {
    let now = 0;
    const failures: string[] = [];
    const jobs = new AdminJobs(() => now, (kind) => failures.push(kind));
    const failed = jobs.start('report', 'a', async () => { throw Object.assign(new Error('secret detail'), { code: 'ERR_STORAGE_UNAVAILABLE' }); });
    await failed.finished;
    expect(jobs.get(failed.id, 'a')).toMatchObject({ state: 'failed', failure: 'ERR_STORAGE_UNAVAILABLE' });
    expect(failures).toEqual(['report']);
    now = JOB_RETENTION_MS + 1;
    const later = jobs.start('report', 'a', async () => 1);
    expect(jobs.get(failed.id, 'a')).toBeUndefined();
    await later.finished;
    const many = [];
    for (let i = 0; i < MAX_JOBS + 5; i++) many.push(jobs.start('report', 'a', async () => i));
    await Promise.all(many.map((j) => j.finished));
    expect(jobs.get(later.id, 'a')).toBeUndefined();
    expect(jobs.get(many[many.length - 1]!.id, 'a')).toBeDefined();
  });

  it('show a running job\'s progress, reloading every 2 seconds only when asked (WCAG 2.2.1)', () => {
    const jobs = new AdminJobs(() => 0);
    const job = jobs.start('verify_ledger', 'a', () => new Promise(() => undefined));
    job.done = 2000;
    job.total = 4500;
    const done = () => html`finished`;
    const plain = jobBody(job, { url: '/admin/audit/jobs/x', auto: false, running: 'Verifying…', done });
    expect(plain.refreshSeconds).toBeUndefined();
    expect(plain.body.html).toContain('<label for="job-progress">Checked 2,000 of 4,500 events</label>');
    expect(plain.body.html).toContain('<progress id="job-progress" max="4500" value="2000">44%</progress>');
    expect(plain.body.html).toContain('<a href="/admin/audit/jobs/x?auto=1">Reload this page every 2 seconds</a>');
    const auto = jobBody(job, { url: '/admin/audit/jobs/x', auto: true, running: 'Verifying…', done });
    expect(auto.refreshSeconds).toBe(2);
    expect(auto.body.html).toContain('<a href="/admin/audit/jobs/x">Stop reloading</a>');
    expect(adminPage({ title: 'Job', body: auto.body, refreshSeconds: auto.refreshSeconds! })).toContain('<meta http-equiv="refresh" content="2">');
    expect(adminPage({ title: 'Job', body: plain.body })).not.toContain('http-equiv');
  });
});

describe('a ledger edited behind the triggers', () => {
  let stack: TestStack;
  let clock = Math.floor(Date.now() / 30_000) * 30_000 + 5_000;
  beforeAll(async () => { stack = await startTestStack({ context: { now: () => clock } }); });
  afterAll(async () => stack?.close());

  it('shows the mismatch on the event page, fails the verification, records outcome error, and the overview says FAILED', async () => {
    await stack.ctx.audit.record({ type: 'phi.accessed', actor: { userId: 'u-t', clientId: 'c-t' }, patient: 'Patient/p-t', resource: 'Patient/p-t', action: 'read', outcome: 'success' });
    const [event] = await searchEvents(stack.ctx.storage.sql, { patient: 'Patient/p-t', limit: 1 });
    for (let i = 0; i < 50 && ((await latestCheckpoint(stack.ctx.storage.sql))?.size ?? 0) <= event!.seq; i++) await new Promise((r) => setTimeout(r, 100));
    const json = (await stack.ctx.storage.sql.get<{ event_json: string }>('SELECT event_json FROM audit_events WHERE seq = $1', [event!.seq]))!.event_json;
    await bypassTriggers({ name: 'sqlite', driver: stack.ctx.storage.sql } as LedgerDb, [
      `UPDATE audit_events SET event_json = '${json.replace('"outcome":"success"', '"outcome":"denied"').replace(/'/g, "''")}', outcome = 'denied' WHERE seq = ${event!.seq}`,
    ]);
    clock += 31_000;
    const admin = await signInAsAdmin(stack);
    const page = await admin.get(`/admin/audit/events/${event!.seq}`);
    expect(page.body).toContain('<span class="badge bad">mismatch</span> the event&#39;s stored text does not hash to the leaf stored for it');

    const started = await admin.post('/admin/audit/verify', {});
    let job = await admin.get(started.location!);
    for (let i = 0; i < 50 && !job.body.includes('FAILED'); i++) {
      await new Promise((r) => setTimeout(r, 100));
      job = await admin.get(started.location!);
    }
    expect(job.body).toContain(`<span class="badge bad">FAILED</span> leaf_mismatch at event ${event!.seq}`);
    const adminId = (await stack.ctx.storage.users.getByUsername(stack.demo.admin_username!))!.id;
    const recorded = (await searchEvents(stack.ctx.storage.sql, { type: 'audit.verified', actor: adminId, limit: 20 })).find((e) => e.action === LEDGER_VERIFY_ACTION);
    expect(recorded).toMatchObject({ outcome: 'error', reason: 'leaf_mismatch', details: { console: 'admin', first_bad_seq: event!.seq } });
    expect((await admin.get('/admin')).body).toContain('<span class="badge bad">FAILED</span>');
  });
});
