// What the operational features (logs, readiness, metrics) hold for one server: built by the
// composition root (createContext in src/server/start.ts) and kept on the application context as
// `ctx.ops`; the HTTP hooks, the error handler, the readiness check, the admin listener and the
// background tasks read it.
import type { Logger } from './logging.js';
import type { LedgerDriverProbe } from './metrics.js';
import type { ReadinessMemo } from './health.js';

export interface OpsState {
  logger: Logger;
  /** The audit ledger's instrumented driver (last failure, commit timings). */
  ledger?: LedgerDriverProbe;
  /** The Redis cache, when `cache` is configured. */
  cache?: { ping(): Promise<void> };
  /** The last readiness evaluation, shared by concurrent probes (src/ops/health.ts probeReadiness). */
  readiness: ReadinessMemo;
}
