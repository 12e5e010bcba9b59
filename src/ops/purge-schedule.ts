// Runs the expired-row purge (src/storage/purge.ts) in every server process: first a minute or so
// after start, then every PURGE_INTERVAL_MS, each time with jitter so that instances sharing one
// database do not purge in step (their deletes are idempotent either way). A failed purge is
// logged and retried at the next turn: it weakens nothing, since every read checks expiry itself.
import { purgeExpired, type PurgeCounts, type PurgePolicy } from '../storage/purge.js';
import type { SqlDriver } from '../storage/sql.js';
import type { Logger } from './logging.js';
import { recordPurged } from './metrics.js';

export const PURGE_INTERVAL_MS = 10 * 60_000;
const FIRST_PURGE_MS = 60_000;

export interface PurgeSchedule {
  /** Stops the timer; resolves when a purge under way has finished. */
  stop(): Promise<void>;
}

export function schedulePurge(sql: SqlDriver, policy: PurgePolicy, options: { logger: Logger; now: () => number; intervalMs?: number; firstMs?: number }): PurgeSchedule {
  const interval = options.intervalMs ?? PURGE_INTERVAL_MS;
  let running: Promise<void> | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const jitter = (ms: number) => Math.round(ms * (0.75 + Math.random() * 0.5));
  const plan = (ms: number) => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = runOnce(sql, policy, options).finally(() => {
        running = undefined;
        plan(interval);
      });
    }, jitter(ms));
    timer.unref();
  };
  plan(options.firstMs ?? FIRST_PURGE_MS);
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}

async function runOnce(sql: SqlDriver, policy: PurgePolicy, options: { logger: Logger; now: () => number }): Promise<void> {
  let counts: PurgeCounts;
  try {
    counts = await purgeExpired(sql, options.now(), policy);
  } catch (err) {
    options.logger.log('error', 'expired-row purge failed', { component: 'purge', error: (err as Error).name, code: (err as { code?: string }).code });
    return;
  }
  recordPurged(counts);
  const deleted = Object.values(counts).reduce((a, n) => a + n, 0);
  if (deleted > 0) options.logger.log('info', 'expired rows purged', { component: 'purge', deleted, ...Object.fromEntries(Object.entries(counts).map(([t, n]) => [`deleted_${t}`, n])) });
}
