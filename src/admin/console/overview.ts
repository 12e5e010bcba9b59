// The console's first page (45 CFR 164.308(a)(1)(ii)(D) information system activity review): the
// compliance findings with their fixes, the ledger's state, emergency accesses waiting for review,
// locked accounts and recent security events. Every query is bounded (indexed, LIMIT), so the page
// stays fast on a ledger of millions of events. Viewing it is an audit.read event.
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../../context/app-context.js';
import type { AuditEvent, AuditEventType } from '../../audit/events.js';
import { latestCheckpoint, ledgerSize } from '../../audit/proofs.js';
import { searchEvents } from '../../audit/search.js';
import { html, type Raw } from '../../http/html.js';
import { accountLocked } from '../../interaction/login.js';
import { consoleGet, sendPage } from './guard.js';
import { adminPage } from './layout.js';
import type { AdminConsoleOptions, ConsoleFinding } from './services.js';
import { formatTime, userLabels } from './view.js';

/** The action of the audit.verified event a ledger verification writes (src/admin/console/jobs.ts). */
export const LEDGER_VERIFY_ACTION = 'verify_ledger';

export const SECURITY_EVENT_TYPES: readonly AuditEventType[] = [
  'login.failed', 'login.locked', 'token.refresh_reuse_detected', 'token.code_replay_detected', 'breakglass.granted', 'phi.denied',
];

const RECENT_SECURITY_EVENTS = 20;
const LOCKOUTS_LOOKED_AT = 50;

export function registerOverview(app: FastifyInstance, ctx: AppContext, options: AdminConsoleOptions): void {
  consoleGet(app, ctx, '/admin', async (_req, reply, admin) => {
    const sql = ctx.storage.sql;
    const [findings, size, checkpoint, verification, open, security, lockouts] = await Promise.all([
      options.compliance ? options.compliance.findings() : Promise.resolve(undefined),
      ledgerSize(sql),
      latestCheckpoint(sql),
      lastVerification(ctx),
      ctx.storage.breakGlass.listOpen(),
      searchEvents(sql, { type: SECURITY_EVENT_TYPES, limit: RECENT_SECURITY_EVENTS }),
      searchEvents(sql, { type: 'login.locked', since: ctx.now() - 24 * 3600_000, limit: LOCKOUTS_LOOKED_AT }),
    ]);
    const locked = await lockedAccounts(ctx, lockouts);
    const labels = await userLabels(ctx, [...security, ...lockouts].map((e) => e.actor.userId));
    await ctx.audit.record({
      type: 'audit.read', actor: { userId: admin.actor }, outcome: 'success', action: 'overview', resource: '/admin',
      requestId: admin.meta.requestId, sourceAddress: admin.meta.sourceAddress, details: { console: 'admin', events: security.length },
    });
    return sendPage(reply, 200, adminPage({
      title: 'Overview', username: admin.session.user.username, csrf: admin.csrf, section: '',
      body: html`<div class="grid">
<section aria-labelledby="ledger-h"><h2 id="ledger-h">Audit ledger</h2>
<p>${size} events.</p>
<p>${checkpoint ? html`Latest signed checkpoint: ${checkpoint.size} events, ${formatTime(checkpoint.createdAt)}.` : 'No checkpoint signed yet.'}</p>
<p>${verification ? html`Last verification: ${formatTime(verification.time)}, <span class="badge ${verification.outcome === 'success' ? 'ok' : 'bad'}">${verification.outcome === 'success' ? 'intact' : 'FAILED'}</span>` : 'Not verified from the console yet.'}</p>
<p>Witness file: ${ctx.config.audit.witness_file ? 'configured' : html`<span class="badge warn">none</span>`}</p>
<p><a href="/admin/audit">Search and verify the ledger</a></p></section>
<section aria-labelledby="bg-h"><h2 id="bg-h">Emergency access</h2>
<p>${open.length === 0 ? html`<span class="badge ok">none waiting</span>` : html`<span class="badge warn">${open.length} waiting for review</span>`}</p>
<p><a href="/admin/breakglass">Review emergency accesses</a></p></section>
<section aria-labelledby="locked-h"><h2 id="locked-h">Locked accounts</h2>
${locked.length === 0 ? html`<p>None.</p>` : html`<ul>${locked.map((id) => html`<li><a href="/admin/users/${encodeURIComponent(labels.get(id) ?? id)}">${labels.get(id) ?? id}</a></li>`)}</ul>`}</section>
</div>
<h2>Compliance findings</h2>
${findingsTable(findings)}
<h2>Recent security events</h2>
${eventsTable(security, labels)}`,
    }));
  });
}

async function lastVerification(ctx: AppContext): Promise<AuditEvent | undefined> {
  return (await searchEvents(ctx.storage.sql, { type: 'audit.verified', limit: 1 }))[0];
}

/** Users whose lockout (login.locked in the last day) is still running. */
async function lockedAccounts(ctx: AppContext, lockouts: readonly AuditEvent[]): Promise<string[]> {
  const ids = [...new Set(lockouts.map((e) => e.actor.userId).filter((id): id is string => id !== undefined))];
  const out: string[] = [];
  for (const id of ids) {
    const user = await ctx.storage.users.getById(id);
    if (user && (await accountLocked(ctx, user.username))) out.push(id);
  }
  return out;
}

function findingsTable(findings: ConsoleFinding[] | undefined): Raw {
  if (findings === undefined) return html`<p class="muted">The compliance check is not available in this process; run <code>npx caduceus check</code>.</p>`;
  const shown = findings.filter((f) => f.severity !== 'note');
  if (shown.length === 0) return html`<p><span class="badge ok">No errors or warnings.</span></p>`;
  return html`<table><thead><tr><th scope="col">Severity</th><th scope="col">Rule</th><th scope="col">Where</th><th scope="col">Finding</th><th scope="col">Fix</th></tr></thead><tbody>
${shown.map((f) => html`<tr><td><span class="badge ${f.severity === 'error' ? 'bad' : 'warn'}">${f.severity}</span></td><td class="mono nowrap">${f.ruleId}</td><td class="mono">${f.location}</td><td>${f.message}</td><td>${f.fix}</td></tr>`)}
</tbody></table>`;
}

export function eventsTable(events: readonly AuditEvent[], labels: ReadonlyMap<string, string>): Raw {
  if (events.length === 0) return html`<p>None.</p>`;
  return html`<table><thead><tr><th scope="col">#</th><th scope="col">Time</th><th scope="col">Type</th><th scope="col">Outcome</th><th scope="col">User</th><th scope="col">Client</th><th scope="col">Reason</th></tr></thead><tbody>
${events.map((e) => html`<tr><td><a href="/admin/audit/events/${e.seq}">${e.seq}</a></td><td>${formatTime(e.time)}</td><td class="mono">${e.type}</td><td>${e.outcome}</td><td>${e.actor.userId ? labels.get(e.actor.userId) ?? e.actor.userId : ''}</td><td class="mono">${e.actor.clientId ?? ''}</td><td class="mono">${e.reason ?? ''}</td></tr>`)}
</tbody></table>`;
}
