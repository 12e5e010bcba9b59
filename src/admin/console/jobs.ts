// Long operations of the console and the admin API (verifying the whole ledger, the evidence
// report) run as background jobs: the request that starts one answers at once, and a job page (or
// the API's job resource) shows its progress until it is done. The work itself gives the event loop
// a turn between pages (src/audit/verify.ts), so the server keeps answering meanwhile.
//
// Jobs are held in memory by the section that registered them (built once per server by its
// register function), at most MAX_JOBS, each for JOB_RETENTION_MS after it ends, and are shown
// only to the actor who started them. A job is not shared between instances or kept across a
// restart: its result, where it matters, is in the ledger (a verification's audit.read event).
import type { AppContext } from '../../context/app-context.js';
import { randomToken } from '../../crypto/random.js';
import type { LedgerVerdict } from '../../audit/verify.js';
import { recordLedgerRead, verifyWholeLedger, type LedgerReader } from '../ledger.js';
import { LEDGER_VERIFY_ACTION } from './overview.js';

export type JobState = 'running' | 'done' | 'failed';

export interface Job<R = unknown> {
  id: string;
  kind: string;
  /** The actor who started it (an administrator's user id or client:ID); only they see it. */
  owner: string;
  startedAt: number;
  finishedAt: number | null;
  state: JobState;
  /** Units done and to do (events for a verification); total 0 while unknown. */
  done: number;
  total: number;
  result: R | undefined;
  /** Why it failed, for the page (an error code, never data). */
  failure: string | undefined;
  /** Settles when the job ends (never rejects). */
  finished: Promise<void>;
}

export const MAX_JOBS = 20;
export const JOB_RETENTION_MS = 3_600_000;

export class AdminJobs {
  readonly #jobs = new Map<string, Job>();

  constructor(private readonly now: () => number, private readonly onFailure: (kind: string, err: unknown) => void = () => undefined) {}

  /** Starts `run` in the background; it reports progress through the callback it is given. */
  start<R>(kind: string, owner: string, run: (progress: (done: number, total: number) => void) => Promise<R>): Job<R> {
    this.#prune();
    const job: Job<R> = {
      id: randomToken(16), kind, owner, startedAt: this.now(), finishedAt: null, state: 'running', done: 0, total: 0,
      result: undefined, failure: undefined, finished: Promise.resolve(),
    };
    this.#jobs.set(job.id, job as Job);
    job.finished = (async () => {
      try {
        job.result = await run((done, total) => {
          job.done = done;
          job.total = total;
        });
        job.state = 'done';
      } catch (err) {
        job.state = 'failed';
        const code = (err as { code?: unknown }).code;
        job.failure = typeof code === 'string' ? code : 'ERR_INTERNAL';
        this.onFailure(kind, err);
      } finally {
        job.finishedAt = this.now();
      }
    })();
    return job;
  }

  /** The job with this id started by this owner, if still held. */
  get<R = unknown>(id: string, owner: string): Job<R> | undefined {
    const job = this.#jobs.get(id);
    return job && job.owner === owner ? (job as Job<R>) : undefined;
  }

  /** A job of this kind this owner started that is still running, if any. */
  running<R = unknown>(kind: string, owner: string): Job<R> | undefined {
    for (const job of this.#jobs.values()) if (job.kind === kind && job.owner === owner && job.state === 'running') return job as Job<R>;
    return undefined;
  }

  #prune(): void {
    const now = this.now();
    for (const [id, job] of this.#jobs) if (job.finishedAt !== null && now - job.finishedAt > JOB_RETENTION_MS) this.#jobs.delete(id);
    while (this.#jobs.size >= MAX_JOBS) {
      const oldest = [...this.#jobs.values()].filter((j) => j.state !== 'running').sort((a, b) => a.startedAt - b.startedAt)[0];
      if (!oldest) break;
      this.#jobs.delete(oldest.id);
    }
  }
}

/** A registry whose job failures are logged (the error class and code, never data). */
export function adminJobs(ctx: Pick<AppContext, 'now' | 'ops'>): AdminJobs {
  return new AdminJobs(ctx.now, (kind, err) => ctx.ops.logger.log('error', 'admin job failed', {
    component: 'admin-jobs', job: kind, error: (err as Error).name, code: String((err as { code?: unknown }).code ?? ''),
  }));
}

/**
 * Verifies the whole ledger in the background (src/admin/ledger.ts verifyWholeLedger) and records
 * the result as an audit.verified event, action LEDGER_VERIFY_ACTION, outcome success (intact) or
 * error (a fault, or the verification could not run), which the overview shows as the last
 * verification (45 CFR 164.312(c)(1) integrity). While one of the same actor runs, starting another joins it.
 */
export function startLedgerVerification(ctx: AppContext, jobs: AdminJobs, reader: LedgerReader, resource: string): Job<LedgerVerdict> {
  const running = jobs.running<LedgerVerdict>(LEDGER_VERIFY_ACTION, reader.actor);
  if (running) return running;
  return jobs.start(LEDGER_VERIFY_ACTION, reader.actor, async (progress) => {
    let verdict: LedgerVerdict;
    try {
      verdict = await verifyWholeLedger(ctx, ({ checked, total }) => progress(checked, total));
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      await recordLedgerRead(ctx, reader, { type: 'audit.verified', action: LEDGER_VERIFY_ACTION, resource, outcome: 'error', reason: typeof code === 'string' ? code : 'ERR_INTERNAL' });
      throw err;
    }
    await recordLedgerRead(ctx, reader, verdict.ok
      ? {
        type: 'audit.verified', action: LEDGER_VERIFY_ACTION, resource, outcome: 'success',
        details: { size: verdict.size, checkpoints: verdict.checkpoints, checkpointed_size: verdict.checkpointedSize, signatures_checked: verdict.signaturesChecked },
      }
      : { type: 'audit.verified', action: LEDGER_VERIFY_ACTION, resource, outcome: 'error', reason: verdict.code, details: { first_bad_seq: verdict.firstBadSeq } });
    if (verdict.ok) progress(verdict.size, verdict.size);
    return verdict;
  });
}
