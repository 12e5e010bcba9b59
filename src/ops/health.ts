// Health endpoints for load balancers and orchestrators.
//
// - /healthz (src/server/app.ts): the process is up and serving HTTP. Use it as the liveness probe.
// - /readyz: the process can do its work now. Every check must pass, or the answer is 503 and a
//   load balancer takes the instance out of rotation instead of sending it requests that would
//   fail (not-ready stops traffic; it never fails open):
//     database  SELECT 1 answers;
//     ledger    the audit ledger can commit: its last transaction did not fail within
//               LEDGER_FAILURE_HOLD_MS, and the database takes writes to the ledger (PostgreSQL:
//               not a standby, not read-only, INSERT granted on audit_events; SQLite: a write
//               transaction can begin). No audit event is written by a probe.
//     keys      a token signing key is active (KeyManager.signer(now) resolves);
//     cache     Redis answers PING (only when `cache` is configured).
//   Each check has CHECK_TIMEOUT_MS; a hung database is a failed check, not a hung probe.
//   Results are reused for RESULT_TTL_MS and concurrent probes share one evaluation, so the
//   unauthenticated public endpoint cannot be used to load the database.
//   The body names the checks and "ok"/"fail" only: never an error message, host or value.
import type { FastifyInstance } from 'fastify';
import type { KeyManager } from '../crypto/signing-keys.js';
import type { SqlDriver } from '../storage/sql.js';
import { readinessCheck, type LedgerDriverProbe } from './metrics.js';

export type ReadinessCheckName = 'database' | 'ledger' | 'keys' | 'cache';
export type CheckResult = 'ok' | 'fail';

export interface Readiness {
  ready: boolean;
  checks: Partial<Record<ReadinessCheckName, CheckResult>>;
}

export const CHECK_TIMEOUT_MS = 2_000;
/** After a failed ledger commit the instance reports not ready for this long (unless a commit succeeds). */
export const LEDGER_FAILURE_HOLD_MS = 30_000;
export const RESULT_TTL_MS = 1_000;

/** The last evaluation of one server's checks (`ctx.ops.readiness`), reused for RESULT_TTL_MS. */
export interface ReadinessMemo {
  at: number;
  result?: Promise<Readiness>;
}

export function createReadinessMemo(): ReadinessMemo {
  return { at: Number.NEGATIVE_INFINITY };
}

/** What the checks read: an application context (src/context/app-context.ts) is one. */
export interface ReadinessTarget {
  storage: { sql: SqlDriver };
  keys: Pick<KeyManager, 'signer'>;
  now(): number;
  ops: { ledger?: Pick<LedgerDriverProbe, 'lastFailureAt'>; cache?: { ping(): Promise<void> }; readiness: ReadinessMemo };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function checkLedger(ctx: ReadinessTarget): Promise<void> {
  const failedAt = ctx.ops.ledger?.lastFailureAt();
  if (failedAt !== undefined && Date.now() - failedAt < LEDGER_FAILURE_HOLD_MS) throw new Error('the last ledger commit failed');
  const sql = ctx.storage.sql;
  if (sql.dialect === 'postgres') {
    const row = await sql.get<{ standby: boolean; writable: boolean; can_insert: boolean }>(
      `SELECT pg_is_in_recovery() AS standby,
              current_setting('transaction_read_only') = 'off' AS writable,
              has_table_privilege('audit_events', 'INSERT') AS can_insert`,
    );
    if (!row || row.standby || !row.writable || !row.can_insert) throw new Error('the ledger tables do not take writes');
  } else {
    // BEGIN IMMEDIATE takes the write lock and commits nothing.
    await sql.transaction(async (tx) => void (await tx.get('SELECT 1 AS ok')));
  }
}

/** Runs every check once, in parallel. */
export async function checkReadiness(ctx: ReadinessTarget): Promise<Readiness> {
  const cache = ctx.ops.cache;
  const checks: Array<[ReadinessCheckName, () => Promise<unknown>]> = [
    ['database', () => ctx.storage.sql.get('SELECT 1 AS ok')],
    ['ledger', () => checkLedger(ctx)],
    ['keys', () => ctx.keys.signer(ctx.now())],
  ];
  if (cache) checks.push(['cache', () => cache.ping()]);
  const results = await Promise.all(checks.map(async ([name, run]): Promise<[ReadinessCheckName, CheckResult]> => {
    try {
      await withTimeout(run(), CHECK_TIMEOUT_MS);
      return [name, 'ok'];
    } catch {
      return [name, 'fail'];
    }
  }));
  for (const [name, result] of results) readinessCheck.set({ check: name }, result === 'ok' ? 1 : 0);
  return { ready: results.every(([, r]) => r === 'ok'), checks: Object.fromEntries(results) };
}

/** checkReadiness, shared by concurrent callers and reused for RESULT_TTL_MS (in ctx.ops.readiness). */
export function probeReadiness(ctx: ReadinessTarget): Promise<Readiness> {
  const now = Date.now();
  const memo = ctx.ops.readiness;
  if (memo.result && now - memo.at < RESULT_TTL_MS) return memo.result;
  const result = checkReadiness(ctx);
  memo.at = now;
  memo.result = result;
  return result;
}

/** The JSON body and status of a readiness answer. */
export function readinessResponse(readiness: Readiness): { status: 200 | 503; body: { status: 'ready' | 'not_ready'; checks: Readiness['checks'] } } {
  return readiness.ready
    ? { status: 200, body: { status: 'ready', checks: readiness.checks } }
    : { status: 503, body: { status: 'not_ready', checks: readiness.checks } };
}

export function registerReadinessRoute(app: FastifyInstance, ctx: ReadinessTarget): void {
  app.get('/readyz', async (_req, reply) => {
    const { status, body } = readinessResponse(await probeReadiness(ctx));
    reply.code(status).header('cache-control', 'no-store');
    return body;
  });
}
