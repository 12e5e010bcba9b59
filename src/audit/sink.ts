// The server's audit sink: the tamper-evident ledger (src/audit/ledger.ts) on the server's own
// database. The checkpoint signing key is an Ed25519 key derived from the master key (HKDF label
// "audit-checkpoint"), so every instance signs with the same key, no database holds it, and it is
// separate from the token signing keys (RFC 9162 §4.1).
import type { CaduceusConfig } from '../config/schema.js';
import type { MasterKey } from '../crypto/master-key.js';
import type { SqlDriver } from '../storage/sql.js';
import type { ErrorLogger } from '../errors/serializer.js';
import { Ledger } from './ledger.js';

/** The checkpoint origin: the issuer's host plus "/audit", unless configured. */
export function ledgerOrigin(config: CaduceusConfig): string {
  return config.audit.origin ?? `${new URL(config.issuer).host}/audit`;
}

export function checkpointSeed(masterKey: MasterKey): Buffer {
  return masterKey.digestKey('audit-checkpoint');
}

/**
 * The ledger of this server. Its background failures (timed checkpoints, witness file writes) go
 * to `logger` (ctx.ops.logger, src/ops/logging.ts) as one `error` line each: the component, the
 * error's class, code and message (a ledger message names what failed, never an event's data).
 * Without a logger they are kept in Ledger.stats only.
 */
export async function openAuditSink(sql: SqlDriver, config: CaduceusConfig, masterKey: MasterKey, now: () => number, logger?: ErrorLogger): Promise<Ledger> {
  return new Ledger(sql, {
    origin: ledgerOrigin(config),
    signingKey: checkpointSeed(masterKey),
    checkpointIntervalMs: config.audit.checkpoint_interval_ms,
    witnessFile: config.audit.witness_file,
    clock: now,
    ...(logger ? {
      onError: (err: Error) => logger.log('error', 'audit ledger background failure', {
        component: 'audit-ledger', error: err.name, code: (err as { code?: unknown }).code === undefined ? undefined : String((err as { code?: unknown }).code), message: err.message,
      }),
    } : {}),
  });
}
