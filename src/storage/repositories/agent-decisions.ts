// AgentDecisionStore over SQL: migration 011's agent_decisions, one row per agent.
import type { AgentDecisionRecord, AgentDecisionStore } from '../types.js';
import type { SqlExecutor } from '../sql.js';

type DecisionRow = {
  client_id: string;
  decision: 'approved' | 'refused';
  scope: string | null;
  reason: string | null;
  decided_by: string;
  decided_at: number | string;
};

const COLUMNS = 'client_id, decision, scope, reason, decided_by, decided_at';

function fromRow(row: DecisionRow): AgentDecisionRecord {
  return {
    clientId: row.client_id,
    decision: row.decision,
    scope: row.scope,
    reason: row.reason,
    decidedBy: row.decided_by,
    decidedAt: Number(row.decided_at),
  };
}

export function createAgentDecisionStore(sql: SqlExecutor): AgentDecisionStore {
  return {
    async get(clientId) {
      const row = await sql.get<DecisionRow>(`SELECT ${COLUMNS} FROM agent_decisions WHERE client_id = $1`, [clientId]);
      return row ? fromRow(row) : undefined;
    },
    async list() {
      const rows = await sql.all<DecisionRow>(`SELECT ${COLUMNS} FROM agent_decisions ORDER BY decided_at DESC, client_id`);
      return rows.map(fromRow);
    },
    async put(record) {
      const scope = record.decision === 'approved' ? record.scope : null;
      await sql.run(
        `INSERT INTO agent_decisions (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (client_id) DO UPDATE SET decision = excluded.decision, scope = excluded.scope,
           reason = excluded.reason, decided_by = excluded.decided_by, decided_at = excluded.decided_at`,
        [record.clientId, record.decision, scope, record.reason, record.decidedBy, record.decidedAt],
      );
    },
    async delete(clientId) {
      return (await sql.run('DELETE FROM agent_decisions WHERE client_id = $1', [clientId])) > 0;
    },
  };
}
