// `caduceus agent list|approve|refuse|withdraw`: an administrator's decisions about self-registered
// AI agents (the rules and the ledger events are in src/admin/agents.ts; what a decision means is
// src/oauth/agent-policy.ts). The same decisions are made in the admin console and the admin API.
import { approveAgent, listAgents, refuseAgent, withdrawAgentDecision, type AgentSummary } from '../admin/agents.js';
import { ConfigError } from '../config/schema.js';
import { isInternalError } from '../errors/internal-error.js';
import { parseFlags } from './args.js';
import { cliActor, onePositional, splitSubcommand } from './client.js';
import { withAdminContext } from './context.js';
import { EXIT_FAILURE, EXIT_OK, type CliCommand } from './command.js';

export const agentCommand: CliCommand = {
  name: 'agent',
  summary: 'list self-registered AI agents; approve, refuse or withdraw a decision',
  help: `Usage:
  caduceus agent list [--json]
  caduceus agent approve CLIENT_ID [--scope "SCOPES"] [--reason TEXT] [--json]
  caduceus agent refuse CLIENT_ID [--reason TEXT] [--json]
  caduceus agent withdraw CLIENT_ID

CLIENT_ID is the client_id a dynamic registration returned, or an agent's Client ID Metadata
Document URL (https://…).

list      every agent that registered itself and every agent with a decision.
approve   lets the agent in when agents.require_approval is on; --scope widens what it may be
          granted beyond the default (read-only patient/ scopes; offline_access allows refresh
          tokens; system/ scopes are never allowed).
refuse    refuses every further authorization and token request of the agent (tokens it already
          has stay valid until they expire: revoke them from /account or the admin console).
withdraw  removes the decision; the agent gets the default policy again.

A decision made here wins over agents.approved in the configuration file.

Options:
  --config FILE   the production configuration (caduceus.yaml)
  --data DIR      the folder of a dev stack (default ./data; usable while "caduceus dev" runs)
  --json          print JSON instead of text
  -h, --help      print this help

Every decision is recorded in the audit ledger with the operator as cli:USERNAME.
Exit status: 0 done, 1 failed (unknown agent, invalid scope), 2 usage error.
`,
  async run(argv, io) {
    const { sub, rest } = splitSubcommand(argv, ['list', 'approve', 'refuse', 'withdraw'], 'agent');
    if (sub === undefined) {
      io.stdout(agentCommand.help);
      return EXIT_OK;
    }
    const { values, positionals } = parseFlags(rest, { scope: { type: 'string' }, reason: { type: 'string' } }, true);
    if (values.help) {
      io.stdout(agentCommand.help);
      return EXIT_OK;
    }
    return withAdminContext(values, io, async (ctx) => {
      const deps = { storage: ctx.storage, audit: ctx.audit, now: ctx.now, actor: cliActor() };
      if (sub === 'list') {
        const agents = await listAgents(deps, ctx.config);
        io.stdout(values.json ? `${JSON.stringify(agents.map(describeAgent))}\n` : formatAgents(agents));
        return EXIT_OK;
      }
      const clientId = onePositional(positionals, 'agent client_id', `caduceus agent ${sub} CLIENT_ID`);
      try {
        if (sub === 'withdraw') {
          const withdrawn = await withdrawAgentDecision(deps, clientId);
          if (!withdrawn) {
            io.stderr(`caduceus agent: no decision recorded for "${clientId}" (see caduceus agent list)\n`);
            return EXIT_FAILURE;
          }
          io.stdout(values.json ? `${JSON.stringify({ client_id: clientId, withdrawn: true })}\n` : `Decision about ${clientId} withdrawn.\n`);
          return EXIT_OK;
        }
        const input = { clientId, ...(values.reason !== undefined ? { reason: values.reason } : {}) };
        const record = sub === 'approve'
          ? await approveAgent(deps, { ...input, ...(values.scope !== undefined ? { scope: values.scope } : {}) })
          : await refuseAgent(deps, input);
        io.stdout(values.json ? `${JSON.stringify({ client_id: clientId, decision: record.decision, scope: record.scope })}\n` : `Agent ${clientId} ${record.decision}${record.scope ? ` for ${record.scope}` : ''}.\n`);
        return EXIT_OK;
      } catch (err) {
        if (err instanceof ConfigError) {
          io.stderr(`caduceus agent: ${err.problems.map((p) => p.replace(/^client_id:|^metadata_url:/, 'CLIENT_ID:').replace(/^scope:/, '--scope:')).join('\n  ')}\n`);
          return EXIT_FAILURE;
        }
        if (isInternalError(err, 'ERR_NOT_FOUND')) {
          io.stderr(`caduceus agent: ${err.message}\n`);
          return EXIT_FAILURE;
        }
        throw err;
      }
    });
  },
};

export function describeAgent(a: AgentSummary): Record<string, unknown> {
  return {
    client_id: a.clientId, source: a.source, name: a.name,
    registered_at: a.registeredAt === null ? null : new Date(a.registeredAt).toISOString(),
    decision: a.decision?.decision ?? (a.approvedInConfig ? 'approved_in_config' : null),
    scope: a.decision?.scope ?? null, reason: a.decision?.reason ?? null, decided_by: a.decision?.decidedBy ?? null,
    decided_at: a.decision ? new Date(a.decision.decidedAt).toISOString() : null,
  };
}

function formatAgents(agents: AgentSummary[]): string {
  if (agents.length === 0) return 'No self-registered agents and no decisions.\n';
  return agents.map((a) => {
    const d = describeAgent(a);
    return `${a.clientId}  ${a.name ?? '(metadata document)'}  ${String(d.decision ?? 'no decision')}${a.decision?.scope ? ` (${a.decision.scope})` : ''}${a.decision ? ` by ${a.decision.decidedBy}` : ''}\n`;
  }).join('');
}
