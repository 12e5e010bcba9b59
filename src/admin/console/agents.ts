// The console's AI agents section (issues 14 and 15): the self-registered agents (dynamic
// registrations, and agents known by a decision about their client ID metadata document), each with
// its administrator's decision, who took it and when; approve (optionally widening the scopes the
// agent may be granted), refuse, or withdraw the decision. The rules and the ledger events
// (client.changed approve / refuse / withdraw) are src/admin/agents.ts, shared with the admin API
// and `caduceus agent`.
//
// Step-up (45 CFR 164.312(d)): approving, and withdrawing a decision (which can give a refused
// agent back the default policy's access); refusing only takes access away and needs none.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../../context/app-context.js';
import { ConfigError } from '../../config/schema.js';
import { isInternalError } from '../../errors/internal-error.js';
import { html, raw, type Raw } from '../../http/html.js';
import { isClientIdUrl } from '../../oauth/client-metadata/client-id-url.js';
import { approveAgent, listAgents, refuseAgent, withdrawAgentDecision, type AgentSummary } from '../agents.js';
import { configProblems } from '../clients.js';
import { clientPath, pageOf, queryOf } from './clients.js';
import { consoleDeps } from './guard.js';
import { consoleGet, consolePost, formOf, sendPage, type ConsoleRequest } from './guard.js';
import { adminPage, csrfField } from './layout.js';
import { formatTime, userLabels } from './view.js';

const SECTION = '/agents';
const PAGE_SIZE = 50;

const DONE: Record<string, string> = {
  approved: 'The agent was approved.',
  refused: 'The agent was refused: its authorization and token requests are refused from now on.',
  withdrawn: 'The decision was withdrawn: the agent policy\'s default applies again.',
  no_decision: 'There was no decision to withdraw.',
};

export function agentPath(clientId: string): string {
  return `/admin/agents/agent?client_id=${encodeURIComponent(clientId)}`;
}

export function registerAgentPages(app: FastifyInstance, ctx: AppContext): void {
  consoleGet(app, ctx, '/admin/agents', async (req, reply, admin) => {
    const query = queryOf(req);
    const page = pageOf(query.get('page'));
    const all = await listAgents({ storage: ctx.storage }, ctx.config);
    const shown = all.slice((page - 1) * PAGE_SIZE, page * PAGE_SIZE);
    const labels = await userLabels(ctx, shown.map((a) => a.decision?.decidedBy));
    return sendPage(reply, 200, adminPage({
      title: 'AI agents', username: admin.session.user.username, csrf: admin.csrf, section: SECTION, notice: DONE[query.get('done') ?? ''],
      body: html`<p>Agents that registered themselves (RFC 7591) and agents known by their client ID metadata document. ${ctx.config.agents.require_approval
        ? 'This server admits only approved agents (agents.require_approval).'
        : 'This server admits agents that are not refused, with the default read-only access (agents.require_approval is off).'}</p>
${shown.length ? html`<table><caption class="muted">Agents, latest registration or decision first</caption><thead><tr><th scope="col">Agent</th><th scope="col">Kind</th><th scope="col">Registered</th><th scope="col">Decision</th><th scope="col">By</th><th scope="col">When</th></tr></thead><tbody>
${shown.map((a) => html`<tr><td><a href="${agentPath(a.clientId)}">${a.name ?? a.clientId}</a><br><span class="mono">${a.clientId}</span></td><td>${KIND[a.source]}</td><td>${a.registeredAt ? formatTime(a.registeredAt) : ''}</td><td>${decisionBadge(a)}</td><td>${a.decision ? labels.get(a.decision.decidedBy) ?? a.decision.decidedBy : ''}</td><td>${a.decision ? formatTime(a.decision.decidedAt) : ''}</td></tr>`)}
</tbody></table>` : html`<p>No agent has registered, and no decision was taken yet.</p>`}
${all.length > PAGE_SIZE ? html`<nav class="pager" aria-label="Pages">${page > 1 ? html`<a href="/admin/agents?page=${page - 1}">Previous page</a>` : ''}${page * PAGE_SIZE < all.length ? html`<a href="/admin/agents?page=${page + 1}">Next page</a>` : ''}</nav>` : ''}
<h2>An agent known by its metadata document</h2>
<form method="get" action="/admin/agents/agent" class="filters">
<div><label for="metadata_url">Client ID metadata document URL (https)</label><input type="text" id="metadata_url" name="client_id" inputmode="url" size="50"></div>
<button type="submit" class="secondary">Open</button>
</form>`,
    }));
  });

  consoleGet(app, ctx, '/admin/agents/agent', async (req, reply, admin) => {
    const query = queryOf(req);
    const agent = await findAgent(ctx, query.get('client_id') ?? '');
    if (!agent) return notFound(reply, admin);
    return sendPage(reply, 200, await agentPage(ctx, admin, agent, new Map(), DONE[query.get('done') ?? '']));
  });

  consolePost(app, ctx, '/admin/agents/approve', async (req, reply, admin) => {
    const form = formOf(req);
    return decide(req, reply, admin, () => approveAgent(consoleDeps(ctx, admin), { clientId: form.client_id ?? '', scope: form.scope, reason: form.reason }), 'approved');
  }, { stepUp: true });

  consolePost(app, ctx, '/admin/agents/refuse', async (req, reply, admin) => {
    const form = formOf(req);
    return decide(req, reply, admin, () => refuseAgent(consoleDeps(ctx, admin), { clientId: form.client_id ?? '', reason: form.reason }), 'refused');
  });

  consolePost(app, ctx, '/admin/agents/withdraw', async (req, reply, admin) => {
    const clientId = formOf(req).client_id ?? '';
    const agent = await findAgent(ctx, clientId);
    if (!agent) return notFound(reply, admin);
    const withdrawn = await withdrawAgentDecision(consoleDeps(ctx, admin), clientId);
    return reply.code(303).header('location', `${agentPath(clientId)}&done=${withdrawn ? 'withdrawn' : 'no_decision'}`).send();
  }, { stepUp: true });

  /** Runs a decision; a refused input shows the agent's page again with the problems beside their fields. */
  async function decide(req: FastifyRequest, reply: FastifyReply, admin: ConsoleRequest, run: () => Promise<unknown>, done: string): Promise<unknown> {
    const form = formOf(req);
    const clientId = form.client_id ?? '';
    try {
      await run();
    } catch (err) {
      if (isInternalError(err, 'ERR_NOT_FOUND')) return notFound(reply, admin);
      if (!(err instanceof ConfigError)) throw err;
      const agent = await findAgent(ctx, clientId);
      if (!agent) return notFound(reply, admin);
      const errors: Errors = new Map();
      // Each form shows its own problems: the approve form has scope and reason, the refuse form a reason.
      const which = done === 'approved' ? 'approve' : 'refuse';
      for (const p of configProblems(err)) {
        const key = `${which}_${p.field === 'scope' || p.field === 'reason' ? p.field : 'form'}`;
        errors.set(key, [...(errors.get(key) ?? []), p.field === 'scope' || p.field === 'reason' ? p.message : `${p.path ? `${p.path}: ` : ''}${p.message}`]);
      }
      return sendPage(reply, 400, await agentPage(ctx, admin, agent, errors, undefined, { scope: form.scope ?? '', reason: form.reason ?? '', which }));
    }
    return reply.code(303).header('location', `${agentPath(clientId)}&done=${done}`).send();
  }
}

const KIND: Record<AgentSummary['source'], string> = { dynamic: 'self-registered', metadata_document: 'metadata document' };

/** The agent with this id: listed (a dynamic registration or an agent with a decision), or a metadata-document URL not decided yet. */
async function findAgent(ctx: AppContext, clientId: string): Promise<AgentSummary | undefined> {
  if (!clientId || clientId.length > 2048) return undefined;
  const found = (await listAgents({ storage: ctx.storage }, ctx.config)).find((a) => a.clientId === clientId);
  if (found) return found;
  if (!isClientIdUrl(clientId)) return undefined;
  return {
    clientId, source: 'metadata_document', name: null, registeredAt: null, decision: null,
    approvedInConfig: ctx.config.agents.approved.some((a) => a.metadata_url === clientId),
  };
}

function decisionBadge(a: AgentSummary): Raw {
  const d = a.decision?.decision;
  if (d === 'approved') return html`<span class="badge ok">approved</span>`;
  if (d === 'refused') return html`<span class="badge bad">refused</span>`;
  return a.approvedInConfig ? html`<span class="badge ok">approved in the configuration</span>` : html`<span class="badge">no decision</span>`;
}

/** Problems keyed by `<form>_<field>` (approve_scope, refuse_reason, approve_form for the rest). */
type Errors = Map<string, string[]>;

async function agentPage(ctx: AppContext, admin: ConsoleRequest, a: AgentSummary, errors: Errors, notice?: string, kept?: { scope: string; reason: string; which: string }): Promise<string> {
  const labels = await userLabels(ctx, [a.decision?.decidedBy]);
  const d = a.decision;
  const input = (id: string, label: string, attrs: Raw, hint?: string) => {
    const problems = errors.get(id) ?? [];
    const described = [hint ? `${id}-hint` : '', problems.length ? `${id}-error` : ''].filter(Boolean).join(' ');
    const value = kept && id.startsWith(kept.which) ? (id.endsWith('scope') ? kept.scope : kept.reason) : '';
    return html`<div${raw(problems.length ? ' class="field-error"' : '')}><label for="${id}">${label}</label>
${hint ? html`<p class="muted" id="${id}-hint">${hint}</p>` : ''}<input type="text" id="${id}" name="${id.slice(id.indexOf('_') + 1)}" value="${value}"${attrs}${raw(described ? ` aria-describedby="${described}"` : '')}${raw(problems.length ? ' aria-invalid="true"' : '')}>
${problems.length ? html`<p class="error" id="${id}-error">${problems.join(' ')}</p>` : ''}</div>`;
  };
  const formError = (which: string) => (errors.get(`${which}_form`) ?? []).map((m) => html`<p class="error" role="alert">${m}</p>`);
  const hidden = html`${csrfField(admin.csrf)}<input type="hidden" name="client_id" value="${a.clientId}">`;
  return adminPage({
    title: `AI agent ${a.name ?? a.clientId}`, username: admin.session.user.username, csrf: admin.csrf, section: SECTION, notice,
    body: html`${errors.size ? html`<p class="error" role="alert">Nothing was changed. Correct the field marked below.</p>` : ''}
<dl class="facts">
<dt>Client id</dt><dd class="mono">${a.source === 'dynamic' ? html`<a href="${clientPath(a.clientId)}">${a.clientId}</a>` : a.clientId}</dd>
<dt>Name</dt><dd>${a.name ?? html`<span class="muted">not known (a metadata document is read when the agent comes)</span>`}</dd>
<dt>Kind</dt><dd>${KIND[a.source]}</dd>
<dt>Registered</dt><dd>${a.registeredAt ? formatTime(a.registeredAt) : html`<span class="muted">not stored</span>`}</dd>
<dt>Decision</dt><dd>${decisionBadge(a)}</dd>
${d ? html`<dt>Decided by</dt><dd>${labels.get(d.decidedBy) ?? d.decidedBy}</dd>
<dt>Decided</dt><dd>${formatTime(d.decidedAt)}</dd>
<dt>Widened scopes</dt><dd class="mono">${d.scope ?? html`<span class="muted">none (the default read-only access)</span>`}</dd>
<dt>Reason</dt><dd>${d.reason ?? html`<span class="muted">none given</span>`}</dd>` : ''}
${a.approvedInConfig ? html`<dt>Configuration</dt><dd>agents.approved names this agent; a decision taken here wins over it.</dd>` : ''}
</dl>
${a.source === 'dynamic' ? html`<p>Its recent activity, and disabling it, are on <a href="${clientPath(a.clientId)}">its client page</a>.</p>` : ''}
<h2>Approve</h2>
<form method="post" action="/admin/agents/approve">
${hidden}${formError('approve')}
${input('approve_scope', 'Scopes to widen the agent to (optional)', raw(' autocomplete="off"'), 'SMART patient/ or user/ scopes separated by spaces; system/ scopes are not for agents. Empty: the default read-only access.')}
${input('approve_reason', 'Reason for the approval (optional, recorded)', raw(' maxlength="500"'))}
<div class="actions"><button type="submit" class="primary">Approve this agent</button></div>
</form>
<h2>Refuse</h2>
<form method="post" action="/admin/agents/refuse">
${hidden}${formError('refuse')}
${input('refuse_reason', 'Reason for the refusal (optional, recorded)', raw(' maxlength="500"'))}
<div class="actions"><button type="submit" class="danger">Refuse this agent</button></div>
</form>
${d ? html`<h2>Withdraw the decision</h2>
<p class="muted">The agent policy's default applies again${ctx.config.agents.require_approval ? ' (this server admits only approved agents)' : ''}.</p>
<form method="post" action="/admin/agents/withdraw">${hidden}<div class="actions"><button type="submit" class="secondary">Withdraw the decision</button></div></form>` : ''}
<p class="muted">Approving and withdrawing ask for your second factor again when your last check is more than a few minutes old. Every decision is recorded in the ledger with you as its author.</p>
<p><a href="/admin/agents">All agents</a></p>`,
  });
}

function notFound(reply: FastifyReply, admin: ConsoleRequest): FastifyReply {
  return sendPage(reply, 404, adminPage({
    title: 'No such agent', username: admin.session.user.username, csrf: admin.csrf, section: SECTION,
    body: html`<p>No self-registered agent has this client id. An agent known by its metadata document is opened by its https URL.</p><p><a href="/admin/agents">All agents</a></p>`,
  }));
}
