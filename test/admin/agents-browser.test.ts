// The AI agents section in Chromium (issue 15): an administrator opens a self-registered agent,
// tries a system/ scope (refused beside the field), approves it with a widened scope through
// step-up, and sees the decision, who took it and when in the list; refuses another. Every page
// (list, agent, agent with an error, step-up, not found) has no axe violation and trips no CSP
// rule; the ledger holds each decision with the administrator as actor.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { searchEvents } from '../../src/audit/search.js';
import { DEMO_REDIRECT_URI } from '../../src/server/dev-stack.js';
import { SCREENSHOTS, launchChromium } from '../support/chromium.js';
import { axeViolations } from '../support/axe.js';
import { totpCode, signInAsAdminInChromium } from '../support/admin.js';
import { startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
let browser: Browser;
let clock = Date.now();

beforeAll(async () => {
  stack = await startTestStack({ context: { now: () => clock }, configure: (c) => { c.admin_console.idle_timeout = 7200; } });
  for (const [clientId, name] of [['agent_browser_1', 'Chart summarizer'], ['agent_browser_2', 'Appointment helper']] as const) {
    await stack.ctx.storage.clients.upsert({
      clientId, name, grantTypes: ['authorization_code'], redirectUris: [DEMO_REDIRECT_URI], scope: 'openid patient/*.rs', resources: [],
      tokenEndpointAuthMethod: 'none', secretDigest: null, jwksUri: null, jwks: null, source: 'dynamic', createdAt: clock, updatedAt: clock,
    });
  }
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

async function signIn(context: BrowserContext): Promise<Page> {
  clock += 31_000;
  return signInAsAdminInChromium(stack, context, clock);
}

test('an administrator approves an agent with a widened scope through step-up, and refuses another', async () => {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(10_000);
  const csp: string[] = [];
  const page = await signIn(context);
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) csp.push(m.text()); });
  const admin = (await stack.ctx.storage.users.getByUsername(stack.demo.admin_username!))!;
  const scanned: string[] = [];
  const accessible = async (name: string) => {
    expect(await axeViolations(page), name).toEqual([]);
    scanned.push(name);
  };

  await page.getByRole('navigation', { name: 'Console sections' }).getByRole('link', { name: 'AI agents' }).click();
  await page.getByRole('heading', { name: 'AI agents' }).waitFor();
  await accessible('list');

  await page.getByRole('link', { name: 'Chart summarizer' }).click();
  await page.getByRole('heading', { name: 'AI agent Chart summarizer' }).waitFor();
  await accessible('agent');
  // A mistake first (the session's second factor is fresh: no step-up yet).
  await page.getByLabel('Scopes to widen the agent to (optional)').fill('system/*.rs');
  await page.getByRole('button', { name: 'Approve this agent' }).click();
  await page.getByText('system/ scopes are for backend services').waitFor();
  await expect(page.getByLabel('Scopes to widen the agent to (optional)').getAttribute('aria-invalid')).resolves.toBe('true');
  await accessible('agent with an error');

  clock += 301_000;
  await page.getByLabel('Scopes to widen the agent to (optional)').fill('patient/Observation.rs patient/Condition.rs');
  await page.getByLabel('Reason for the approval (optional, recorded)').fill('vendor assessment done');
  await page.getByRole('button', { name: 'Approve this agent' }).click();
  await page.getByRole('heading', { name: 'Confirm it is you' }).waitFor();
  await accessible('step-up');
  clock += 31_000;
  await page.getByLabel('Code from your authenticator app, or a recovery code').fill(totpCode(stack.demo.admin_totp_secret!, clock));
  await page.getByRole('button', { name: 'Confirm and continue' }).click();
  await page.getByText('The agent was approved.').waitFor();
  await expect(page.locator('dl.facts').textContent()).resolves.toContain(`Decided by${stack.demo.admin_username!}`);
  await accessible('approved agent');
  await page.screenshot({ path: join(SCREENSHOTS, 'admin-agents-agent.png'), fullPage: true });
  expect(await stack.ctx.storage.agentDecisions.get('agent_browser_1')).toMatchObject({ decision: 'approved', scope: 'patient/Observation.rs patient/Condition.rs', decidedBy: admin.id });

  await page.goto(`${stack.issuer}/admin/agents`);
  await page.getByRole('link', { name: 'Appointment helper' }).click();
  await page.getByRole('heading', { name: 'AI agent Appointment helper' }).waitFor();
  await page.getByLabel('Reason for the refusal (optional, recorded)').fill('not needed here');
  await page.getByRole('button', { name: 'Refuse this agent' }).click();
  await page.getByText('The agent was refused').waitFor();

  await page.goto(`${stack.issuer}/admin/agents`);
  const approvedRow = page.getByRole('row').filter({ hasText: 'agent_browser_1' });
  await expect(approvedRow.textContent()).resolves.toContain('approved');
  await expect(approvedRow.textContent()).resolves.toContain(stack.demo.admin_username!);
  await expect(page.getByRole('row').filter({ hasText: 'agent_browser_2' }).textContent()).resolves.toContain('refused');
  await accessible('list with decisions');
  await page.screenshot({ path: join(SCREENSHOTS, 'admin-agents.png'), fullPage: true });

  await page.goto(`${stack.issuer}/admin/agents/agent?client_id=agent_nobody`);
  await page.getByRole('heading', { name: 'No such agent' }).waitFor();
  await accessible('not found');

  const events = (await searchEvents(stack.ctx.storage.sql, { type: 'client.changed', limit: 10 })).filter((e) => e.actor.userId === admin.id).reverse();
  expect(events.map((e) => [e.action, e.resource, e.actor.userId])).toEqual([['approve', 'agent_browser_1', admin.id], ['refuse', 'agent_browser_2', admin.id]]);
  expect(csp).toEqual([]);
  expect(scanned).toHaveLength(7);
  await context.close();
}, 120_000);
