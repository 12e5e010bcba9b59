// The AI agents section of the admin API (/admin/api/agents…): list the self-registered agents with
// their decisions; approve, refuse or withdraw a decision through src/admin/agents.ts (the same
// service as the console and `caduceus agent`), recorded as client.changed with the calling client
// (`client:<id>`) as actor. An agent is named in the body (client_id), since an agent known by its
// metadata document has an https URL for an id.
import { z } from 'zod';
import type { AppContext } from '../../context/app-context.js';
import { approveAgent, listAgents, refuseAgent, withdrawAgentDecision, type AgentSummary } from '../agents.js';
import { apiDeps, apiInputError } from './router.js';
import type { AdminApiRouter } from './router.js';

const TAG = 'agents';

const clientId = z.string().min(1).max(2048).describe('the client_id of a dynamic registration, or the https URL of a client ID metadata document');
const reason = z.string().max(500).optional();

export function agentJson(a: AgentSummary): Record<string, unknown> {
  return {
    client_id: a.clientId, source: a.source, name: a.name, registered_at: a.registeredAt === null ? null : new Date(a.registeredAt).toISOString(),
    decision: a.decision && {
      decision: a.decision.decision, scope: a.decision.scope, reason: a.decision.reason, decided_by: a.decision.decidedBy, decided_at: new Date(a.decision.decidedAt).toISOString(),
    },
    approved_in_config: a.approvedInConfig,
  };
}

export function registerAgentRoutes(router: AdminApiRouter, ctx: AppContext): void {
  router.route({
    method: 'GET', path: '/agents', tag: TAG, summary: 'Self-registered agents and agents with a decision, latest first',
    responses: { 200: 'agents, each with its decision (null when none), who took it (decided_by: a user id, or client:<id>) and when' },
    handler: async () => ({ agents: (await listAgents({ storage: ctx.storage }, ctx.config)).map(agentJson) }),
  });

  router.route({
    method: 'POST', path: '/agents/approve', tag: TAG, summary: 'Approve an agent, optionally widening the scopes it may be granted',
    description: 'scope: SMART patient/ or user/ scopes (no system/). A stored decision wins over agents.approved. Recorded as client.changed (action approve).',
    body: z.strictObject({ client_id: clientId, scope: z.string().max(4096).optional(), reason }),
    responses: { 200: 'the decision' },
    handler: async ({ caller, body }) => {
      try {
        const d = await approveAgent(apiDeps(ctx, caller), { clientId: body.client_id, scope: body.scope, reason: body.reason });
        return decisionJson(d);
      } catch (err) {
        throw apiInputError(err);
      }
    },
  });

  router.route({
    method: 'POST', path: '/agents/refuse', tag: TAG, summary: 'Refuse an agent: its authorization and token requests are refused',
    description: 'Recorded as client.changed (action refuse).',
    body: z.strictObject({ client_id: clientId, reason }),
    responses: { 200: 'the decision' },
    handler: async ({ caller, body }) => {
      try {
        return decisionJson(await refuseAgent(apiDeps(ctx, caller), { clientId: body.client_id, reason: body.reason }));
      } catch (err) {
        throw apiInputError(err);
      }
    },
  });

  router.route({
    method: 'POST', path: '/agents/withdraw', tag: TAG, summary: 'Withdraw the decision about an agent (the agent policy\'s default applies again)',
    description: 'Recorded as client.changed (action withdraw); nothing is recorded when there was no decision.',
    body: z.strictObject({ client_id: clientId }),
    responses: { 200: 'client_id, withdrawn (false when there was no decision)' },
    handler: async ({ caller, body }) => ({ client_id: body.client_id, withdrawn: await withdrawAgentDecision(apiDeps(ctx, caller), body.client_id) }),
  });
}

function decisionJson(d: { clientId: string; decision: string; scope: string | null; reason: string | null; decidedBy: string; decidedAt: number }): Record<string, unknown> {
  return { client_id: d.clientId, decision: d.decision, scope: d.scope, reason: d.reason, decided_by: d.decidedBy, decided_at: new Date(d.decidedAt).toISOString() };
}
