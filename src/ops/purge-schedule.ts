// Runs the expired-row purge (src/storage/purge.ts) in every server process: a minute or so after
// start, then every PURGE_INTERVAL_MS (src/ops/periodic.ts; the deletes are idempotent, so
// instances sharing one database may overlap). A failed purge is logged and retried at the next
// turn: it weakens nothing, since every read checks expiry itself.
import { purgeExpired, type PurgeCounts, type PurgePolicy } from '../storage/purge.js';
import type { SqlDriver } from '../storage/sql.js';
import type { Logger } from './logging.js';
import { recordPurged } from './metrics.js';
import { schedulePeriodic, type PeriodicTask } from './periodic.js';

export const PURGE_INTERVAL_MS = 10 * 60_000;
const FIRST_PURGE_MS = 60_000;

export function schedulePurge(sql: SqlDriver, policy: PurgePolicy, options: { logger: Logger; now: () => number; intervalMs?: number; firstMs?: number }): PeriodicTask {
  return schedulePeriodic(() => runOnce(sql, policy, options), { firstMs: options.firstMs ?? FIRST_PURGE_MS, intervalMs: options.intervalMs ?? PURGE_INTERVAL_MS });
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
