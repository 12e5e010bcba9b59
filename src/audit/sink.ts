// PROVISIONAL: replaced by the ledger-backed sink.
import type { AuditEventInput, AuditSink } from './events.js';
import type { SqlDriver } from '../storage/sql.js';
import type { CaduceusConfig } from '../config/schema.js';
import type { MasterKey } from '../crypto/master-key.js';

export async function openAuditSink(_sql: SqlDriver, _config: CaduceusConfig, _mk: MasterKey, _now: () => number): Promise<AuditSink & { close(): Promise<void>; events: AuditEventInput[] }> {
  const events: AuditEventInput[] = [];
  return { events, async record(e) { events.push(e); }, async close() {} };
}
