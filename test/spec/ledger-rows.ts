// The stored ledger rows of a test stack, read with plain SQL from audit_events (not through the
// audit module's search), so a test sees exactly what an auditor querying the database would.
import type { SqlExecutor } from '../../src/storage/sql.js';

export interface LedgerRow {
  seq: number;
  type: string;
  outcome: string;
  actorClient: string | null;
  actorUser: string | null;
  patient: string | null;
  /** The stored event (audit_events.event_json), parsed. */
  event: Record<string, any>;
}

/** The highest seq in the ledger (-1 when empty): rows written after this point have a larger seq. */
export async function ledgerMark(sql: SqlExecutor): Promise<number> {
  const row = await sql.get<{ seq: number | string | null }>('SELECT MAX(seq) AS seq FROM audit_events');
  return row?.seq === null || row?.seq === undefined ? -1 : Number(row.seq);
}

/** Every row written after `mark`, oldest first. */
export async function ledgerRowsAfter(sql: SqlExecutor, mark: number): Promise<LedgerRow[]> {
  const rows = await sql.all<{ seq: number | string; type: string; outcome: string; actor_client: string | null; actor_user: string | null; patient: string | null; event_json: string }>(
    'SELECT seq, type, outcome, actor_client, actor_user, patient, event_json FROM audit_events WHERE seq > $1 ORDER BY seq',
    [mark],
  );
  return rows.map((r) => ({
    seq: Number(r.seq), type: r.type, outcome: r.outcome, actorClient: r.actor_client, actorUser: r.actor_user, patient: r.patient,
    event: JSON.parse(r.event_json) as Record<string, any>,
  }));
}

/** The grant id of an access token issued by this server: the part of its jti before the first dot. */
export function grantIdOfJti(jti: unknown): string {
  const id = String(jti).split('.')[0]!;
  if (!id) throw new Error(`no grant id in jti ${String(jti)}`);
  return id;
}
