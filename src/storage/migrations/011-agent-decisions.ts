// Migration 11: an administrator's decision about a self-registered AI agent (issue 14; the agent
// policy is src/oauth/agent-policy.ts). Keyed by the agent's client_id: the server-issued id of a
// dynamic registration, or the https URL of a Client ID Metadata Document (which is never stored as
// a client, so there is deliberately no foreign key). One row per agent: a new decision replaces
// the last; the history is in the ledger (client.changed with action approve, refuse or withdraw).
import type { Migration } from './index.js';

const table = `
CREATE TABLE agent_decisions (
  client_id TEXT PRIMARY KEY,
  decision TEXT NOT NULL CHECK (decision IN ('approved', 'refused')),
  scope TEXT,
  reason TEXT,
  decided_by TEXT NOT NULL,
  decided_at BIGINT NOT NULL,
  CHECK (scope IS NULL OR decision = 'approved')
);
`;

export const migration011AgentDecisions: Migration = { id: 11, name: 'agent-decisions', sqlite: table, postgres: table };
export default migration011AgentDecisions;
