// The AI agents section of the console (src/admin/console/agents.ts) and of the admin API
// (src/admin/api/agents.ts): the list with each agent's decision, who took it and when; approve
// (step-up, optional widened scope), refuse, withdraw (step-up); CSRF refusals; bad input beside
// its field (console) or 400 naming it (API); and the client.changed event each decision writes,
// with the administrator or the API client as actor.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { searchEvents } from '../../src/audit/search.js';
import type { AuditEvent } from '../../src/audit/events.js';
import type { ClientRecord } from '../../src/storage/types.js';
import { DEMO_REDIRECT_URI } from '../../src/server/dev-stack.js';
import { adminApi, adminApiToken, signInAsAdmin, totpCode, type ConsoleClient } from '../support/admin.js';
import { startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
let console_: ConsoleClient;
let adminId: string;
let apiToken: string;
let clock = Date.now();
const METADATA_AGENT = 'https://agent.example/client.json';

beforeAll(async () => {
  stack = await startTestStack({
    context: { now: () => clock },
    configure: (c) => { c.admin_console.idle_timeout = 7200; },
  });
  for (const [id, name] of [['agent_summarizer', 'Chart summarizer'], ['agent_scheduler', 'Scheduler'], ['agent_api', 'Agent decided by the API'], ['agent_csrf', 'CSRF target']]) {
    await registerAgent(id!, name!);
  }
  clock += 31_000;
  console_ = await signInAsAdmin(stack);
  adminId = (await stack.ctx.storage.users.getByUsername(stack.demo.admin_username!))!.id;
});
afterAll(async () => stack?.close());

/** A dynamic registration as src/oauth/endpoints/register.ts stores it. */
async function registerAgent(clientId: string, name: string): Promise<void> {
  const record: ClientRecord = {
    clientId, name, grantTypes: ['authorization_code'], redirectUris: [DEMO_REDIRECT_URI], scope: 'openid patient/*.rs', resources: [],
    tokenEndpointAuthMethod: 'none', secretDigest: null, jwksUri: null, jwks: null, source: 'dynamic', createdAt: clock, updatedAt: clock,
  };
  await stack.ctx.storage.clients.upsert(record);
}

const ledgerHead = async () => (await searchEvents(stack.ctx.storage.sql, { limit: 1 }))[0]!.seq;
const changesSince = async (seq: number): Promise<AuditEvent[]> =>
  (await searchEvents(stack.ctx.storage.sql, { type: 'client.changed', limit: 100 })).filter((e) => e.seq > seq).reverse();
const agentPage = (id: string) => `/admin/agents/agent?client_id=${encodeURIComponent(id)}`;
const staleStepUp = () => { clock += 301_000; };
const code = () => { clock += 31_000; return totpCode(stack.demo.admin_totp_secret!, clock); };

describe('the console\'s AI agents', () => {
  it('lists self-registered agents with no decision yet', async () => {
    const res = await console_.get('/admin/agents');
    expect(res.status).toBe(200);
    expect(res.body).toContain(`<a href="${agentPage('agent_summarizer')}">Chart summarizer</a>`);
    expect(res.body).toContain('<th scope="col">Decision</th>');
    expect(res.body).toContain('<span class="badge">no decision</span>');
  });

  it('approves with step-up and a widened scope; the list shows the decision, by whom and when; recorded', async () => {
    await console_.get(agentPage('agent_summarizer'));
    staleStepUp();
    const fields = { client_id: 'agent_summarizer', scope: 'patient/Observation.rs  patient/Condition.rs', reason: 'reviewed by security' };
    const asked = await console_.post('/admin/agents/approve', fields);
    expect(asked.status).toBe(200);
    expect(asked.body).toContain('name="step_up_code"');
    expect(await stack.ctx.storage.agentDecisions.get('agent_summarizer')).toBeUndefined();
    const seq = await ledgerHead();
    const decidedAt = clock + 31_000;
    const done = await console_.post('/admin/agents/approve', { ...fields, step_up_code: code() });
    expect([done.status, done.location]).toEqual([303, `${agentPage('agent_summarizer')}&done=approved`]);
    expect(await stack.ctx.storage.agentDecisions.get('agent_summarizer')).toMatchObject({
      decision: 'approved', scope: 'patient/Observation.rs patient/Condition.rs', reason: 'reviewed by security', decidedBy: adminId, decidedAt,
    });
    expect(await changesSince(seq)).toMatchObject([{
      type: 'client.changed', action: 'approve', actor: { userId: adminId }, resource: 'agent_summarizer', outcome: 'success',
      changes: [
        { field: 'decision', before: null, after: 'approved' },
        { field: 'scope', before: null, after: 'patient/Observation.rs patient/Condition.rs' },
        { field: 'reason', before: null, after: 'reviewed by security' },
      ],
    }]);
    const page = await console_.get(done.location!);
    expect(page.body).toContain('The agent was approved.');
    const list = await console_.get('/admin/agents');
    const row = list.body.split('<tr>').find((r) => r.includes('agent_summarizer'))!;
    expect(row).toContain('<span class="badge ok">approved</span>');
    expect(row).toContain(`<td>${stack.demo.admin_username}</td>`);
    expect(row).toContain(`datetime="${new Date(decidedAt).toISOString()}"`);
  });

  it('refuses a system/ scope beside the scope field, storing and recording nothing', async () => {
    await console_.get(agentPage('agent_scheduler'));
    const seq = await ledgerHead();
    const res = await console_.post('/admin/agents/approve', { client_id: 'agent_scheduler', scope: 'system/*.rs', reason: '' });
    expect(res.status).toBe(400);
    expect(res.body).toMatch(/id="approve_scope"[^>]*aria-describedby="approve_scope-hint approve_scope-error" aria-invalid="true"/);
    expect(res.body).toMatch(/<p class="error" id="approve_scope-error">&quot;system\/\*\.rs&quot;: system\/ scopes are for backend services/);
    expect(res.body).toContain('value="system/*.rs"');
    expect(await stack.ctx.storage.agentDecisions.get('agent_scheduler')).toBeUndefined();
    expect(await changesSince(seq)).toEqual([]);
  });

  it('refuses an agent (no step-up: it only takes access away), recorded with the reason', async () => {
    staleStepUp();
    await console_.get(agentPage('agent_scheduler'));
    const seq = await ledgerHead();
    const res = await console_.post('/admin/agents/refuse', { client_id: 'agent_scheduler', reason: 'unknown vendor' });
    expect([res.status, res.location]).toEqual([303, `${agentPage('agent_scheduler')}&done=refused`]);
    expect(await stack.ctx.storage.agentDecisions.get('agent_scheduler')).toMatchObject({ decision: 'refused', reason: 'unknown vendor', decidedBy: adminId });
    expect(await changesSince(seq)).toMatchObject([{ action: 'refuse', actor: { userId: adminId }, resource: 'agent_scheduler', changes: [{ field: 'decision', before: null, after: 'refused' }, { field: 'reason', before: null, after: 'unknown vendor' }] }]);
  });

  it('withdraws a decision with step-up, recorded', async () => {
    await console_.get(agentPage('agent_scheduler'));
    const asked = await console_.post('/admin/agents/withdraw', { client_id: 'agent_scheduler' });
    expect(asked.body).toContain('name="step_up_code"');
    expect(await stack.ctx.storage.agentDecisions.get('agent_scheduler')).toBeDefined();
    const seq = await ledgerHead();
    const done = await console_.post('/admin/agents/withdraw', { client_id: 'agent_scheduler', step_up_code: code() });
    expect([done.status, done.location]).toEqual([303, `${agentPage('agent_scheduler')}&done=withdrawn`]);
    expect(await stack.ctx.storage.agentDecisions.get('agent_scheduler')).toBeUndefined();
    expect(await changesSince(seq)).toMatchObject([{ action: 'withdraw', actor: { userId: adminId }, resource: 'agent_scheduler', changes: [{ field: 'decision', before: 'refused', after: null }, { field: 'reason', before: 'unknown vendor', after: null }] }]);
  });

  it('decides about an agent known only by its metadata document URL, which is then listed', async () => {
    const page = await console_.get(agentPage(METADATA_AGENT));
    expect(page.status).toBe(200);
    expect(page.body).toContain('metadata document');
    const res = await console_.post('/admin/agents/refuse', { client_id: METADATA_AGENT, reason: '' });
    expect(res.status).toBe(303);
    expect((await console_.get('/admin/agents')).body).toContain(`<a href="${agentPage(METADATA_AGENT)}">${METADATA_AGENT}</a>`);
  });

  it('answers an unknown agent with a 404 page, on the page and on a decision', async () => {
    expect((await console_.get(agentPage('agent_nobody'))).status).toBe(404);
    await console_.get('/admin/agents');
    expect((await console_.post('/admin/agents/refuse', { client_id: stack.demo.client_id })).status).toBe(404);
  });

  it('refuses every decision posted without the form\'s token (403) and changes nothing', async () => {
    await console_.post('/admin/agents/approve', { client_id: 'agent_csrf', step_up_code: code() });
    await stack.ctx.storage.agentDecisions.delete('agent_csrf');
    await stack.ctx.storage.agentDecisions.put({ clientId: 'agent_summarizer', decision: 'approved', scope: null, reason: null, decidedBy: adminId, decidedAt: clock });
    const seq = await ledgerHead();
    for (const [path, fields] of [['/admin/agents/approve', { client_id: 'agent_csrf' }], ['/admin/agents/refuse', { client_id: 'agent_csrf' }], ['/admin/agents/withdraw', { client_id: 'agent_summarizer' }]] as const) {
      for (const csrf of ['x'.repeat(43), null]) {
        const res = await console_.post(path, fields, { csrf });
        expect([path, res.status]).toEqual([path, 403]);
      }
    }
    expect(await stack.ctx.storage.agentDecisions.get('agent_csrf')).toBeUndefined();
    expect(await stack.ctx.storage.agentDecisions.get('agent_summarizer')).toBeDefined();
    expect(await changesSince(seq)).toEqual([]);
  });
});

describe('admin API: agents', () => {
  // The console tests moved the clock on: a token of now.
  beforeAll(async () => { apiToken = await adminApiToken(stack); });
  const api = (method: string, path: string, body?: unknown) => adminApi(stack, method, path, apiToken, body);
  const actor = () => `client:${stack.demo.admin_client_id}`;

  it('lists agents with their decision, who took it and when', async () => {
    const res = await api('GET', '/agents');
    expect(res.status).toBe(200);
    const summarizer = (res.json.agents as Record<string, any>[]).find((a) => a.client_id === 'agent_summarizer');
    expect(summarizer).toMatchObject({ source: 'dynamic', name: 'Chart summarizer', decision: { decision: 'approved', decided_by: adminId, decided_at: expect.stringMatching(/Z$/) }, approved_in_config: false });
    expect((res.json.agents as Record<string, any>[]).find((a) => a.client_id === 'agent_api')).toMatchObject({ decision: null });
  });

  it('approves, refuses and withdraws, each recorded with the API client as actor; the console shows that actor', async () => {
    const seq = await ledgerHead();
    const approved = await api('POST', '/agents/approve', { client_id: 'agent_api', scope: 'patient/Observation.rs', reason: 'pipeline' });
    expect(approved.json).toMatchObject({ client_id: 'agent_api', decision: 'approved', scope: 'patient/Observation.rs', decided_by: actor() });
    expect((await console_.get(agentPage('agent_api'))).body).toContain(`<dt>Decided by</dt><dd>${actor()}</dd>`);
    const refused = await api('POST', '/agents/refuse', { client_id: 'agent_api' });
    expect(refused.json).toMatchObject({ decision: 'refused', scope: null });
    const withdrawn = await api('POST', '/agents/withdraw', { client_id: 'agent_api' });
    expect(withdrawn.json).toEqual({ client_id: 'agent_api', withdrawn: true });
    expect((await api('POST', '/agents/withdraw', { client_id: 'agent_api' })).json).toEqual({ client_id: 'agent_api', withdrawn: false });
    expect((await changesSince(seq)).map((e) => [e.action, e.actor.userId, e.resource])).toEqual([
      ['approve', actor(), 'agent_api'], ['refuse', actor(), 'agent_api'], ['withdraw', actor(), 'agent_api'],
    ]);
  });

  it('refuses bad input with 400 invalid_request naming the field, and an unknown agent with 404', async () => {
    const seq = await ledgerHead();
    const scope = await api('POST', '/agents/approve', { client_id: 'agent_api', scope: 'system/*.rs' });
    expect([scope.status, scope.json.error, String(scope.json.error_description)]).toEqual([400, 'invalid_request', expect.stringMatching(/^scope: "system\/\*\.rs": system\/ scopes are for backend services/)]);
    const reason = await api('POST', '/agents/refuse', { client_id: 'agent_api', reason: 'x'.repeat(501) });
    expect([reason.status, String(reason.json.error_description)]).toEqual([400, expect.stringMatching(/^reason: /)]);
    const missing = await api('POST', '/agents/refuse', {});
    expect([missing.status, String(missing.json.error_description)]).toEqual([400, expect.stringMatching(/^client_id: /)]);
    const unknown = await api('POST', '/agents/refuse', { client_id: stack.demo.client_id });
    expect([unknown.status, unknown.json.error]).toEqual([404, 'not_found']);
    expect(await changesSince(seq)).toEqual([]);
  });
});
