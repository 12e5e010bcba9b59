// An administrator's decisions about self-registered AI agents (issue 14), shared by the admin
// console, the admin API and `caduceus agent`: approve (optionally widening what the agent may be
// granted), refuse (every further authorization and token request of the agent is refused) or
// withdraw the decision (back to the agent policy's default). Each is a client.changed ledger
// event naming the administrator (45 CFR 164.308(a)(4)(ii)(C): access establishment and
// modification is documented). What a decision means is src/oauth/agent-policy.ts.
import { agentApprovalSchema, ConfigError, formatPath, type CaduceusConfig } from '../config/schema.js';
import { InternalError } from '../errors/internal-error.js';
import { isClientIdUrl } from '../oauth/client-metadata/client-id-url.js';
import type { AgentDecisionRecord, ClientRecord } from '../storage/types.js';
import type { AdminDeps } from './clients.js';

type DecisionDeps = Omit<AdminDeps, 'masterKey'>;

export interface AgentDecisionInput {
  /** A dynamic registration's client_id, or the https URL of a Client ID Metadata Document. */
  clientId: string;
  /** approve only: space-separated scopes the approval widens the agent to (SMART scopes, no system/). */
  scope?: string;
  reason?: string;
}

/** One agent as an administrator sees it: registered (dynamic) or known by a decision (metadata document). */
export interface AgentSummary {
  clientId: string;
  source: 'dynamic' | 'metadata_document';
  name: string | null;
  registeredAt: number | null;
  decision: AgentDecisionRecord | null;
  /** The configuration file's agents.approved names this agent (a stored decision wins over it). */
  approvedInConfig: boolean;
}

const MAX_REASON = 500;

/**
 * Checks that the id names an agent: a dynamic client registered here, or a metadata-document URL
 * (those are never stored as clients). Scope is checked with the rules of agents.approved[].scope.
 */
async function checkInput(deps: DecisionDeps, input: AgentDecisionInput): Promise<{ source: AgentSummary['source']; client: ClientRecord | undefined }> {
  const url = isClientIdUrl(input.clientId);
  const parsed = agentApprovalSchema.safeParse(url ? { metadata_url: input.clientId, scope: input.scope } : { client_id: input.clientId, scope: input.scope });
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((i) => `${formatPath(i.path.length ? i.path : ['client_id'])}: ${i.message}`));
  if ((input.reason ?? '').length > MAX_REASON) throw new ConfigError([`reason: at most ${MAX_REASON} characters`]);
  if (url) return { source: 'metadata_document', client: undefined };
  const client = await deps.storage.clients.get(input.clientId);
  if (!client || client.source !== 'dynamic') {
    throw new InternalError('ERR_NOT_FOUND', 'no self-registered agent has this client_id; use the client_id its registration returned, or its metadata document URL');
  }
  return { source: 'dynamic', client };
}

async function decide(deps: DecisionDeps, input: AgentDecisionInput, decision: 'approved' | 'refused'): Promise<AgentDecisionRecord> {
  await checkInput(deps, input);
  const before = await deps.storage.agentDecisions.get(input.clientId);
  const record: AgentDecisionRecord = {
    clientId: input.clientId,
    decision,
    scope: decision === 'approved' && input.scope?.trim() ? input.scope.trim().split(/\s+/).join(' ') : null,
    reason: input.reason?.trim() || null,
    decidedBy: deps.actor,
    decidedAt: deps.now(),
  };
  await deps.storage.agentDecisions.put(record);
  await deps.audit.record({
    type: 'client.changed', actor: { userId: deps.actor }, outcome: 'success', action: decision === 'approved' ? 'approve' : 'refuse',
    resource: input.clientId, changes: decisionChanges(before, record),
  });
  return record;
}

export function approveAgent(deps: DecisionDeps, input: AgentDecisionInput): Promise<AgentDecisionRecord> {
  return decide(deps, input, 'approved');
}

export function refuseAgent(deps: DecisionDeps, input: Omit<AgentDecisionInput, 'scope'>): Promise<AgentDecisionRecord> {
  return decide(deps, input, 'refused');
}

/** Withdraws the stored decision; resolves false (and records nothing) when there was none. */
export async function withdrawAgentDecision(deps: DecisionDeps, clientId: string): Promise<boolean> {
  const before = await deps.storage.agentDecisions.get(clientId);
  if (!before) return false;
  await deps.storage.agentDecisions.delete(clientId);
  await deps.audit.record({
    type: 'client.changed', actor: { userId: deps.actor }, outcome: 'success', action: 'withdraw', resource: clientId,
    changes: decisionChanges(before, undefined),
  });
  return true;
}

/** Every dynamic registration and every agent with a decision, newest first. */
export async function listAgents(deps: Pick<DecisionDeps, 'storage'>, config: Pick<CaduceusConfig, 'agents'>): Promise<AgentSummary[]> {
  const [clients, decisions] = await Promise.all([deps.storage.clients.list(), deps.storage.agentDecisions.list()]);
  const byId = new Map(decisions.map((d) => [d.clientId, d]));
  const inConfig = (id: string) => config.agents.approved.some((a) => a.client_id === id || a.metadata_url === id);
  const out: AgentSummary[] = clients.filter((c) => c.source === 'dynamic').map((c) => ({
    clientId: c.clientId, source: 'dynamic', name: c.name, registeredAt: c.createdAt, decision: byId.get(c.clientId) ?? null, approvedInConfig: inConfig(c.clientId),
  }));
  const listed = new Set(out.map((a) => a.clientId));
  for (const d of decisions) {
    if (!listed.has(d.clientId) && isClientIdUrl(d.clientId)) {
      out.push({ clientId: d.clientId, source: 'metadata_document', name: null, registeredAt: null, decision: d, approvedInConfig: inConfig(d.clientId) });
    }
  }
  return out.sort((a, b) => Math.max(b.registeredAt ?? 0, b.decision?.decidedAt ?? 0) - Math.max(a.registeredAt ?? 0, a.decision?.decidedAt ?? 0));
}

function decisionChanges(before: AgentDecisionRecord | undefined, after: AgentDecisionRecord | undefined) {
  return (['decision', 'scope', 'reason'] as const)
    .map((field) => ({ field, before: before?.[field] ?? null, after: after?.[field] ?? null }))
    .filter((c) => c.before !== c.after);
}
