// Prometheus metrics (text exposition format 0.0.4), served only on the admin listener
// (src/ops/admin-listener.ts), never on the public one.
//
// Labels are closed sets chosen by the server: route PATTERNS (never raw URLs), method, status
// class, grant type, outcome and cache names. No label ever holds an identifier of a person,
// client, token, session or address, so a scrape discloses volumes and latencies only. Helpers
// below map anything outside a label's allowed set to "other" rather than passing it through.
//
// One registry per process (module level): the gateway and other modules increment the exported
// counters directly. Sources that belong to one server context (the audit ledger's stats) are
// added with addCollector() and removed when the context closes.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { LedgerStats } from '../audit/ledger.js';
import type { SqlDriver, SqlTransaction, TransactionOptions } from '../storage/sql.js';

export const registry = new Registry();
collectDefaultMetrics({ register: registry });

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export const httpRequests = new Counter({
  name: 'caduceus_http_requests_total',
  help: 'HTTP requests answered, by method, route pattern and status class.',
  labelNames: ['method', 'route', 'status_class'] as const,
  registers: [registry],
});

export const httpRequestDuration = new Histogram({
  name: 'caduceus_http_request_duration_seconds',
  help: 'Time from receiving a request to sending its response, by method, route pattern and status class.',
  labelNames: ['method', 'route', 'status_class'] as const,
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});

export const GRANT_TYPE_LABELS = ['authorization_code', 'refresh_token', 'client_credentials'] as const;
export type GrantTypeLabel = (typeof GRANT_TYPE_LABELS)[number];

export const tokensIssued = new Counter({
  name: 'caduceus_tokens_issued_total',
  help: 'Successful token responses at /token, by grant type.',
  labelNames: ['grant_type'] as const,
  registers: [registry],
});

/** Outcomes of the PHI gateway's per-request decision. */
export const GATEWAY_OUTCOMES = ['allowed', 'denied', 'invalid_token', 'insufficient_scope', 'upstream_error', 'error'] as const;
export type GatewayOutcome = (typeof GATEWAY_OUTCOMES)[number];

export const gatewayDecisions = new Counter({
  name: 'caduceus_gateway_decisions_total',
  help: 'PHI gateway decisions, by outcome.',
  labelNames: ['outcome'] as const,
  registers: [registry],
});

export const purgedRows = new Counter({
  name: 'caduceus_purged_rows_total',
  help: 'Expired rows deleted by the housekeeping purge (src/storage/purge.ts), by table.',
  labelNames: ['table'] as const,
  registers: [registry],
});

/** Caches whose hit ratio is exported. Add a name here before using it. */
export const CACHE_NAMES = ['signing_keys', 'token_status', 'client_jwks', 'user_reach'] as const;
export type CacheName = (typeof CACHE_NAMES)[number];

export const cacheRequests = new Counter({
  name: 'caduceus_cache_requests_total',
  help: 'Cache look-ups, by cache and result (hit or miss). Hit ratio: hit / (hit + miss).',
  labelNames: ['cache', 'result'] as const,
  registers: [registry],
});

export const ledgerBatchSize = new Histogram({
  name: 'caduceus_ledger_batch_size',
  help: 'Audit events committed per ledger transaction (group commit), in this process.',
  buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000],
  registers: [registry],
});

export const ledgerCommitDuration = new Histogram({
  name: 'caduceus_ledger_commit_duration_seconds',
  help: 'Duration of committed ledger transactions (lock wait, inserts and commit), batches and checkpoints.',
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});

export const readinessCheck = new Gauge({
  name: 'caduceus_readiness_check',
  help: 'Result of the last readiness evaluation per check: 1 passed, 0 failed.',
  labelNames: ['check'] as const,
  registers: [registry],
});

// ---- collectors of per-context sources ----------------------------------------------------------

const ledgerSources = new Set<() => Readonly<LedgerStats>>();

function ledgerTotal(field: 'events' | 'transactions' | 'failedTransactions' | 'checkpoints'): number {
  let sum = 0;
  for (const source of ledgerSources) sum += source()[field];
  return sum;
}

/** A counter whose value is read from the ledgers' stats at scrape time. */
function statsCounter(name: string, help: string, field: 'events' | 'transactions' | 'failedTransactions' | 'checkpoints'): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(ledgerTotal(field));
    },
  });
}

statsCounter('caduceus_ledger_events_total', 'Audit events committed by this process.', 'events');
statsCounter('caduceus_ledger_transactions_total', 'Ledger batch transactions committed by this process.', 'transactions');
statsCounter('caduceus_ledger_failed_transactions_total', 'Ledger batch transactions that failed (each rejected all its events: fail closed).', 'failedTransactions');
statsCounter('caduceus_ledger_checkpoints_total', 'Signed checkpoints stored by this process.', 'checkpoints');

/** Adds a ledger whose stats are exported; returns the function that removes it again. */
export function addLedgerStats(source: () => Readonly<LedgerStats>): () => void {
  ledgerSources.add(source);
  return () => void ledgerSources.delete(source);
}

// ---- helpers that keep labels inside their sets -------------------------------------------------

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

export function methodLabel(method: string): string {
  return METHODS.has(method) ? method : 'other';
}

export function statusClass(status: number): string {
  return status >= 100 && status < 600 ? `${Math.floor(status / 100)}xx` : 'other';
}

export function observeRequest(method: string, route: string | null, status: number, seconds: number): void {
  const labels = { method: methodLabel(method), route: route ?? 'unmatched', status_class: statusClass(status) };
  httpRequests.inc(labels);
  httpRequestDuration.observe(labels, seconds);
}

export function recordTokenIssued(grantType: string): void {
  if ((GRANT_TYPE_LABELS as readonly string[]).includes(grantType)) tokensIssued.inc({ grant_type: grantType });
}

export function recordGatewayDecision(outcome: GatewayOutcome): void {
  gatewayDecisions.inc({ outcome: (GATEWAY_OUTCOMES as readonly string[]).includes(outcome) ? outcome : 'other' });
}

export function recordCacheLookup(cache: CacheName, hit: boolean): void {
  cacheRequests.inc({ cache: (CACHE_NAMES as readonly string[]).includes(cache) ? cache : 'other', result: hit ? 'hit' : 'miss' });
}

export function recordPurged(counts: Readonly<Record<string, number>>): void {
  for (const [table, n] of Object.entries(counts)) if (n > 0) purgedRows.inc({ table }, n);
}

/** The exposition text and its content type. */
export async function scrape(): Promise<{ contentType: string; body: string }> {
  return { contentType: registry.contentType, body: await registry.metrics() };
}

// ---- the ledger's driver, instrumented ----------------------------------------------------------

export interface LedgerDriverProbe {
  /** The driver to give the Ledger: every transaction is timed and its outcome remembered. */
  driver: SqlDriver;
  /** Connects the ledger's stats, read after each commit to observe the batch size. */
  attach(stats: () => Readonly<LedgerStats>): void;
  /** Epoch ms of the last failed ledger transaction, or undefined; cleared by a later success. */
  lastFailureAt(): number | undefined;
}

/**
 * Wraps the SQL driver the audit ledger writes through (src/audit/ledger.ts is not changed): each
 * transaction's duration goes to ledger_commit_duration_seconds, and a failure is remembered for
 * the readiness check. The batch size is the growth of stats.events across one commit, read once
 * the ledger has counted it (the ledger updates its stats right after the transaction resolves).
 */
export function instrumentLedgerDriver(inner: SqlDriver, clock: () => number = Date.now): LedgerDriverProbe {
  let stats: (() => Readonly<LedgerStats>) | undefined;
  let seenEvents = 0;
  let failedAt: number | undefined;
  const observeBatch = (): void => {
    if (!stats) return;
    const events = stats().events;
    if (events > seenEvents) ledgerBatchSize.observe(events - seenEvents);
    seenEvents = events;
  };
  const driver: SqlDriver = {
    get dialect() {
      return inner.dialect;
    },
    all: (sql, params) => inner.all(sql, params),
    get: (sql, params) => inner.get(sql, params),
    run: (sql, params) => inner.run(sql, params),
    exec: (script) => inner.exec(script),
    close: () => inner.close(),
    async transaction<T>(fn: (tx: SqlTransaction) => Promise<T>, options?: TransactionOptions): Promise<T> {
      const started = process.hrtime.bigint();
      try {
        const result = await inner.transaction(fn, options);
        ledgerCommitDuration.observe(Number(process.hrtime.bigint() - started) / 1e9);
        failedAt = undefined;
        setImmediate(observeBatch);
        return result;
      } catch (err) {
        failedAt = clock();
        throw err;
      }
    },
  };
  return {
    driver,
    attach(source) {
      stats = source;
      seenEvents = source().events;
    },
    lastFailureAt: () => failedAt,
  };
}
