// The SQL of the ledger tables (migration 002-ledger.ts), for both dialects. Only appends and
// reads: the tables reject UPDATE and DELETE.
import type { SqlExecutor, SqlValue } from '../storage/sql.js';
import { nodeKey, type NodeRef } from './merkle.js';
import type { EventColumns } from './stored-event.js';

export interface EventRow extends EventColumns {
  seq: number;
  json: string;
}

export interface NodeRow {
  level: number;
  index: number;
  hash: Buffer;
}

export interface StoredCheckpoint {
  size: number;
  rootHash: Buffer;
  createdAt: number;
  note: string;
}

/**
 * PostgreSQL: serialises appends from every process sharing the schema until the transaction
 * ends, so the size and frontier read next are current and no two writers use the same seq. One
 * lock per schema. SQLite needs nothing: BEGIN IMMEDIATE already holds the write lock.
 */
export async function lockLedger(tx: SqlExecutor): Promise<void> {
  if (tx.dialect === 'postgres') {
    await tx.run(`SELECT pg_advisory_xact_lock(hashtext('caduceus.audit_ledger:' || COALESCE(current_schema(), '')))`);
  }
}

/** Number of leaves in the stored tree (the next seq). */
export async function readTreeSize(ex: SqlExecutor): Promise<number> {
  const row = await ex.get<{ idx: number }>('SELECT idx FROM audit_tree_nodes WHERE level = 0 ORDER BY idx DESC LIMIT 1');
  return row ? Number(row.idx) + 1 : 0;
}

const NODE_CHUNK = 200;

/** The stored hashes of these nodes, by nodeKey; absent nodes are simply missing from the map. */
export async function readNodes(ex: SqlExecutor, refs: readonly NodeRef[]): Promise<Map<string, Buffer>> {
  const found = new Map<string, Buffer>();
  for (let i = 0; i < refs.length; i += NODE_CHUNK) {
    const chunk = refs.slice(i, i + NODE_CHUNK);
    const params: SqlValue[] = [];
    const terms = chunk.map((ref) => {
      params.push(ref.level, ref.index);
      return `(level = $${params.length - 1} AND idx = $${params.length})`;
    });
    const rows = await ex.all<{ level: number; idx: number; hash: Buffer }>(`SELECT level, idx, hash FROM audit_tree_nodes WHERE ${terms.join(' OR ')}`, params);
    for (const row of rows) found.set(nodeKey(Number(row.level), Number(row.idx)), Buffer.from(row.hash));
  }
  return found;
}

/** Stored nodes whose level and index fall in the given per-level ranges (inclusive). */
export async function readNodeRanges(ex: SqlExecutor, ranges: readonly { level: number; from: number; to: number }[]): Promise<NodeRow[]> {
  if (ranges.length === 0) return [];
  const params: SqlValue[] = [];
  const terms = ranges.map((r) => {
    params.push(r.level, r.from, r.to);
    return `(level = $${params.length - 2} AND idx >= $${params.length - 1} AND idx <= $${params.length})`;
  });
  const rows = await ex.all<{ level: number; idx: number; hash: Buffer }>(`SELECT level, idx, hash FROM audit_tree_nodes WHERE ${terms.join(' OR ')}`, params);
  return rows.map((row) => ({ level: Number(row.level), index: Number(row.idx), hash: Buffer.from(row.hash) }));
}

const INSERT_EVENT_SQLITE = `INSERT INTO audit_events (seq, event_time, type, outcome, patient, actor_user, actor_client, resource, event_json)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`;
const INSERT_NODE_SQLITE = 'INSERT INTO audit_tree_nodes (level, idx, hash) VALUES ($1, $2, $3)';

// One statement per batch on PostgreSQL: the rows travel as one JSON parameter, so a batch costs
// one round trip whatever its size.
const INSERT_EVENTS_POSTGRES = `INSERT INTO audit_events (seq, event_time, type, outcome, patient, actor_user, actor_client, resource, event_json)
SELECT r.seq, r.event_time, r.type, r.outcome, r.patient, r.actor_user, r.actor_client, r.resource, r.event_json
FROM json_to_recordset($1::json) AS r(seq bigint, event_time bigint, type text, outcome text, patient text, actor_user text, actor_client text, resource text, event_json text)`;
const INSERT_NODES_POSTGRES = `INSERT INTO audit_tree_nodes (level, idx, hash)
SELECT r.level, r.idx, decode(r.hash, 'hex')
FROM json_to_recordset($1::json) AS r(level smallint, idx bigint, hash text)`;

export async function insertEvents(tx: SqlExecutor, rows: readonly EventRow[]): Promise<void> {
  if (rows.length === 0) return;
  if (tx.dialect === 'postgres') {
    const payload = rows.map((r) => ({
      seq: r.seq,
      event_time: r.time,
      type: r.type,
      outcome: r.outcome,
      patient: r.patient,
      actor_user: r.actorUser,
      actor_client: r.actorClient,
      resource: r.resource,
      event_json: r.json,
    }));
    await tx.run(INSERT_EVENTS_POSTGRES, [JSON.stringify(payload)]);
    return;
  }
  for (const r of rows) {
    await tx.run(INSERT_EVENT_SQLITE, [r.seq, r.time, r.type, r.outcome, r.patient, r.actorUser, r.actorClient, r.resource, r.json]);
  }
}

export async function insertNodes(tx: SqlExecutor, rows: readonly NodeRow[]): Promise<void> {
  if (rows.length === 0) return;
  if (tx.dialect === 'postgres') {
    const payload = rows.map((r) => ({ level: r.level, idx: r.index, hash: r.hash.toString('hex') }));
    await tx.run(INSERT_NODES_POSTGRES, [JSON.stringify(payload)]);
    return;
  }
  for (const r of rows) await tx.run(INSERT_NODE_SQLITE, [r.level, r.index, r.hash]);
}

/** Inserts a checkpoint unless one of that size exists; resolves whether it inserted. */
export async function insertCheckpoint(tx: SqlExecutor, checkpoint: StoredCheckpoint): Promise<boolean> {
  const changed = await tx.run(
    'INSERT INTO audit_checkpoints (tree_size, root_hash, created_at, note) VALUES ($1, $2, $3, $4) ON CONFLICT (tree_size) DO NOTHING',
    [checkpoint.size, checkpoint.rootHash, checkpoint.createdAt, checkpoint.note],
  );
  return changed === 1;
}

type CheckpointRow = { tree_size: number; root_hash: Buffer; created_at: number; note: string };

const toCheckpoint = (row: CheckpointRow): StoredCheckpoint => ({
  size: Number(row.tree_size),
  rootHash: Buffer.from(row.root_hash),
  createdAt: Number(row.created_at),
  note: row.note,
});

/** The stored checkpoint of the largest tree size, if any. */
export async function readLatestCheckpoint(ex: SqlExecutor): Promise<StoredCheckpoint | undefined> {
  const row = await ex.get<CheckpointRow>('SELECT tree_size, root_hash, created_at, note FROM audit_checkpoints ORDER BY tree_size DESC LIMIT 1');
  return row ? toCheckpoint(row) : undefined;
}

/** Stored checkpoints with tree_size > after, smallest first, at most limit. */
/** The size of the largest stored checkpoint, or undefined when none is stored. */
export async function readLargestCheckpointSize(ex: SqlExecutor): Promise<number | undefined> {
  const row = await ex.get<{ tree_size: number }>('SELECT tree_size FROM audit_checkpoints ORDER BY tree_size DESC LIMIT 1');
  return row ? Number(row.tree_size) : undefined;
}

export async function readCheckpoints(ex: SqlExecutor, after: number, limit: number): Promise<StoredCheckpoint[]> {
  const rows = await ex.all<CheckpointRow>(
    'SELECT tree_size, root_hash, created_at, note FROM audit_checkpoints WHERE tree_size > $1 ORDER BY tree_size LIMIT $2',
    [after, limit],
  );
  return rows.map(toCheckpoint);
}

type EventDbRow = {
  seq: number;
  event_time: number;
  type: string;
  outcome: string;
  patient: string | null;
  actor_user: string | null;
  actor_client: string | null;
  resource: string | null;
  event_json: string;
};

export const EVENT_COLUMNS = 'seq, event_time, type, outcome, patient, actor_user, actor_client, resource, event_json';

export function toEventRow(row: EventDbRow): EventRow {
  return {
    seq: Number(row.seq),
    time: Number(row.event_time),
    type: row.type,
    outcome: row.outcome,
    patient: row.patient,
    actorUser: row.actor_user,
    actorClient: row.actor_client,
    resource: row.resource,
    json: row.event_json,
  };
}

/** Stored events with seq >= from, in seq order, at most limit. */
export async function readEventPage(ex: SqlExecutor, from: number, limit: number): Promise<EventRow[]> {
  const rows = await ex.all<EventDbRow>(`SELECT ${EVENT_COLUMNS} FROM audit_events WHERE seq >= $1 ORDER BY seq LIMIT $2`, [from, limit]);
  return rows.map(toEventRow);
}

export type { EventDbRow };
