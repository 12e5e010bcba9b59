// A dev-stack data folder (test/cli/harness.ts) whose ledger holds a known set of events, written
// through the server's own audit sink (src/audit/sink.ts) with a controlled clock; and raw SQL
// around the append-only triggers, as an attacker with owner rights on the SQLite file could.
import { addClient } from '../../src/admin/clients.js';
import { openAuditSink } from '../../src/audit/sink.js';
import type { AuditEventInput } from '../../src/audit/events.js';
import { loadMasterKey } from '../../src/crypto/master-key.js';
import { openStorage } from '../../src/storage/index.js';
import { openSqlDriver } from '../../src/storage/sql.js';
import { createDataDir, type DataDir } from '../cli/harness.js';

/** 2025-01-15T12:00:00Z */
export const T0 = Date.UTC(2025, 0, 15, 12, 0, 0);
export const MINUTE = 60_000;
export const DAY = 86_400_000;
export const CLINIC_ID = 'clinic-app';
/** A client name with characters HTML and CSV must escape. */
export const CLINIC_NAME = 'Smith & Jones <Clinic> "North", =1+1';

export interface LedgerDataDir extends DataDir {
  /** Events this fixture recorded (besides the dev stack's own). */
  recorded: AuditEventInput[];
}

const access = (patient: string, clientId: string, userId: string, i: number, purpose: string): AuditEventInput => ({
  type: 'phi.accessed',
  actor: { userId, clientId },
  patient,
  resource: `Observation/o-${i}`,
  action: 'read',
  outcome: 'success',
  scopes: { granted: ['patient/Observation.rs'], used: 'patient/Observation.rs' },
  jti: `jti-${i}`,
  requestId: `req-${i}`,
  sourceAddress: '192.0.2.10',
  details: { purposeOfUse: purpose },
});

/**
 * January: five phi.accessed of Patient/p-1 (three by the demo app, two by the clinic), two
 * phi.denied of Patient/p-1, one login.failed. February: three phi.accessed of Patient/p-2 by the
 * backend client.
 */
export async function dataDirWithEvents(): Promise<LedgerDataDir> {
  const data = await createDataDir();
  const masterKey = loadMasterKey({ env: {}, file: data.config.master_key_file });
  const storage = await openStorage(data.config.storage);
  let now = T0;
  const ledger = await openAuditSink(storage.sql, data.config, masterKey, () => now);
  const recorded: AuditEventInput[] = [];
  try {
    await addClient(
      { storage, masterKey, audit: ledger, now: () => now, actor: 'test' },
      { client_id: CLINIC_ID, name: CLINIC_NAME, grant_types: ['client_credentials'], redirect_uris: [], scope: 'system/Observation.rs', resources: [data.demo.resource], token_endpoint_auth_method: 'client_secret_basic' },
      [data.demo.resource],
    );
    const events: [number, AuditEventInput][] = [
      ...[0, 1, 2].map((i): [number, AuditEventInput] => [T0 + i * MINUTE, access('Patient/p-1', data.demo.client_id, 'u-1', i, 'TREAT')]),
      ...[3, 4].map((i): [number, AuditEventInput] => [T0 + i * MINUTE, access('Patient/p-1', CLINIC_ID, 'u-7', i, 'HPAYMT')]),
      ...[5, 6].map((i): [number, AuditEventInput] => [T0 + i * MINUTE, { ...access('Patient/p-1', data.demo.client_id, 'u-1', i, 'TREAT'), type: 'phi.denied', outcome: 'denied', reason: 'insufficient_scope' }]),
      [T0 + 7 * MINUTE, { type: 'login.failed', actor: { userId: 'u-2' }, outcome: 'denied', reason: 'bad_password', sourceAddress: '192.0.2.11' }],
      ...[8, 9, 10].map((i): [number, AuditEventInput] => [T0 + 31 * DAY + i * MINUTE, access('Patient/p-2', data.demo.cc_client_id, 'u-3', i, 'TREAT')]),
    ];
    for (const [time, event] of events) {
      now = time;
      await ledger.record(event);
      recorded.push(event);
    }
  } finally {
    await ledger.close();
    await storage.close();
  }
  return { ...data, recorded };
}

/** Runs statements with the SQLite append-only triggers dropped, then puts the triggers back. */
export async function tamperSqlite(storageUrl: string, statements: readonly string[]): Promise<void> {
  const driver = await openSqlDriver(storageUrl);
  try {
    const triggers = await driver.all<{ name: string; sql: string }>("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'audit_%'");
    if (triggers.length === 0) throw new Error('no audit triggers found: the fixture is not a ledger database');
    await driver.exec(triggers.map((t) => `DROP TRIGGER ${t.name};`).join('\n'));
    try {
      for (const sql of statements) await driver.run(sql);
    } finally {
      await driver.exec(triggers.map((t) => `${t.sql};`).join('\n'));
    }
  } finally {
    await driver.close();
  }
}

export const sqlString = (value: string): string => `'${value.replace(/'/g, "''")}'`;
