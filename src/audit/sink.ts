// The server's audit sink: the tamper-evident ledger (src/audit/ledger.ts) on the server's own
// database. The checkpoint signing key is an Ed25519 key derived from the master key (HKDF label
// "audit-checkpoint"), so every instance signs with the same key, no database holds it, and it is
// separate from the token signing keys (RFC 9162 §4.1).
import type { CaduceusConfig } from '../config/schema.js';
import type { MasterKey } from '../crypto/master-key.js';
import type { SqlDriver } from '../storage/sql.js';
import { Ledger } from './ledger.js';

/** The checkpoint origin: the issuer's host plus "/audit", unless configured. */
export function ledgerOrigin(config: CaduceusConfig): string {
  return config.audit.origin ?? `${new URL(config.issuer).host}/audit`;
}

export function checkpointSeed(masterKey: MasterKey): Buffer {
  return masterKey.digestKey('audit-checkpoint');
}

export async function openAuditSink(sql: SqlDriver, config: CaduceusConfig, masterKey: MasterKey, now: () => number): Promise<Ledger> {
  return new Ledger(sql, {
    origin: ledgerOrigin(config),
    signingKey: checkpointSeed(masterKey),
    checkpointIntervalMs: config.audit.checkpoint_interval_ms,
    witnessFile: config.audit.witness_file,
    clock: now,
    onError: (err) => process.stderr.write(`${JSON.stringify({ level: 'error', time: new Date().toISOString(), component: 'audit-ledger', error: err.name, message: err.message })}\n`),
  });
}
