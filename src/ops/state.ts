// What the operational features (logs, readiness, metrics) know about one server context. Kept
// beside the AppContext rather than in it: createContext attaches it, the HTTP hooks, the
// readiness check and the admin listener read it. A context built without createContext (tests)
// gets a logger that writes to stderr and no ledger or cache probes.
import type { AppContext } from '../server/context.js';
import { createLogger, type Logger } from './logging.js';
import type { LedgerDriverProbe } from './metrics.js';

export interface OpsState {
  logger: Logger;
  /** The audit ledger's instrumented driver (last failure, commit timings). */
  ledger?: LedgerDriverProbe;
  /** The Redis cache, when `cache` is configured. */
  cache?: { ping(): Promise<void> };
}

const states = new WeakMap<object, OpsState>();
let fallback: OpsState | undefined;

export function attachOps(ctx: AppContext, state: OpsState): void {
  states.set(ctx, state);
}

export function opsOf(ctx: AppContext): OpsState {
  const state = states.get(ctx);
  if (state) return state;
  fallback ??= { logger: createLogger() };
  return fallback;
}
