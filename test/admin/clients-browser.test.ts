// The Clients section in Chromium (issue 15): an administrator adds a confidential client (a
// mistake first, shown beside its field), sees its secret once, edits it, rotates its secret
// through step-up and disables it; a client of the configuration file is shown read-only. Every
// page (list, add form with an error, secret, client with its activity, edit, step-up, read-only,
// not found) has no axe violation and trips no CSP rule; the ledger holds each step.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { searchEvents } from '../../src/audit/search.js';
import { DEMO_CC_SCOPE, DEMO_REDIRECT_URI } from '../../src/server/dev-stack.js';
import { SCREENSHOTS, launchChromium } from '../support/chromium.js';
import { axeViolations } from '../support/axe.js';
import { totpCode, signInAsAdminInChromium } from '../support/admin.js';
import { post, relyingParty } from '../support/flows.js';
import { startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
let browser: Browser;
let clock = Date.now();

beforeAll(async () => {
  stack = await startTestStack({
    context: { now: () => clock },
    configure: (c) => {
      c.admin_console.idle_timeout = 7200;
      c.clients.push({
        client_id: 'config-app', name: 'App of the configuration file', grant_types: ['authorization_code'], redirect_uris: [DEMO_REDIRECT_URI], scope: 'openid',
        resources: [], token_endpoint_auth_method: 'none', dpop_bound_access_tokens: false, require_pushed_authorization_requests: false,
      });
    },
  });
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

const scanned: string[] = [];
async function accessible(page: Page, name: string): Promise<void> {
  expect(await axeViolations(page), name).toEqual([]);
  scanned.push(name);
}

test('an administrator adds a client and sees its secret once, edits it, rotates the secret with step-up and disables it', async () => {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
  const csp: string[] = [];
  context.setDefaultTimeout(10_000);
  const page = await signIn(context);
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) csp.push(m.text()); });
  const admin = (await stack.ctx.storage.users.getByUsername(stack.demo.admin_username!))!;
  const rp = await relyingParty(stack);
  const tokenWith = (secret: string) => post(rp, rp.as.token_endpoint!, { grant_type: 'client_credentials', scope: DEMO_CC_SCOPE, resource: stack.demo.resource }, { id: 'lab-feed', secret });

  await page.getByRole('navigation', { name: 'Console sections' }).getByRole('link', { name: 'Clients' }).click();
  await page.getByRole('heading', { name: 'Clients' }).waitFor();
  await accessible(page, 'list');
  await page.getByLabel('Client id or name contains').fill('configuration');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.getByText('1 client.').waitFor();
  await accessible(page, 'search');

  await page.getByRole('link', { name: 'Add a client' }).click();
  await page.getByRole('heading', { name: 'Add a client' }).waitFor();
  await accessible(page, 'add form');
  // A mistake first: the message sits by the field, and the page stays accessible.
  await page.getByLabel('Client id').fill('lab feed');
  await page.getByLabel('Name shown on the consent page').fill('Lab results feed');
  await page.getByLabel('authorization_code').uncheck();
  await page.getByLabel('refresh_token').uncheck();
  await page.getByLabel('client_credentials').check();
  await page.getByLabel('Scopes', { exact: true }).fill(DEMO_CC_SCOPE);
  await page.getByLabel(stack.demo.resource).check();
  await page.getByRole('button', { name: 'Add the client' }).click();
  await page.getByText('use 3-128 letters').waitFor();
  await expect(page.getByLabel('Client id').getAttribute('aria-invalid')).resolves.toBe('true');
  await expect(page.getByLabel('client_credentials').isChecked()).resolves.toBe(true);
  await accessible(page, 'add form with an error');
  await page.screenshot({ path: join(SCREENSHOTS, 'admin-clients-add-error.png'), fullPage: true });

  await page.getByLabel('Client id').fill('lab-feed');
  await page.getByRole('button', { name: 'Add the client' }).click();
  await page.getByRole('heading', { name: 'Client added' }).waitFor();
  const secret = (await page.locator('#client-secret').textContent())!;
  expect((await tokenWith(secret)).status).toBe(200);
  await accessible(page, 'secret');
  await page.screenshot({ path: join(SCREENSHOTS, 'admin-clients-secret.png'), fullPage: true });

  await page.getByRole('link', { name: 'Continue to the client' }).click();
  await page.getByRole('heading', { name: 'Client lab-feed' }).waitFor();
  expect(await page.content()).not.toContain(secret);
  // The token just issued is in the client's recent activity, linked to its ledger event.
  const issued = (await searchEvents(stack.ctx.storage.sql, { client: 'lab-feed', type: 'token.issued', limit: 1 }))[0]!;
  await expect(page.getByRole('link', { name: String(issued.seq), exact: true }).getAttribute('href')).resolves.toBe(`/admin/audit/events/${issued.seq}`);
  await accessible(page, 'client');

  await page.getByRole('link', { name: 'Edit redirect URIs, scopes, resources and session limits' }).click();
  await page.getByRole('heading', { name: 'Edit client lab-feed' }).waitFor();
  await accessible(page, 'edit form');
  await page.getByLabel('Session idle limit for this client (seconds)').fill('soon');
  await page.getByRole('button', { name: 'Save the changes' }).click();
  await page.getByText('must be a whole number of seconds').waitFor();
  await accessible(page, 'edit form with an error');
  await page.getByLabel('Session idle limit for this client (seconds)').fill('600');
  await page.getByRole('button', { name: 'Save the changes' }).click();
  await page.getByText('The changes were saved.').waitFor();
  expect(await stack.ctx.storage.clientPolicies.get('lab-feed')).toMatchObject({ sessionIdleTimeout: 600 });

  // Step-up: the last second-factor check is older than admin_console.step_up_max_age.
  clock += 301_000;
  await page.getByRole('button', { name: 'Rotate the client secret' }).click();
  await page.getByRole('heading', { name: 'Confirm it is you' }).waitFor();
  await accessible(page, 'step-up');
  clock += 31_000;
  await page.getByLabel('Code from your authenticator app, or a recovery code').fill(totpCode(stack.demo.admin_totp_secret!, clock));
  await page.getByRole('button', { name: 'Confirm and continue' }).click();
  await page.getByRole('heading', { name: 'New client secret' }).waitFor();
  const rotated = (await page.locator('#client-secret').textContent())!;
  expect(rotated).not.toBe(secret);
  expect([(await tokenWith(secret)).status, (await tokenWith(rotated)).status]).toEqual([401, 200]);
  await accessible(page, 'new secret');

  await page.getByRole('link', { name: 'Continue to the client' }).click();
  await page.getByRole('button', { name: 'Disable this client' }).click();
  await page.getByText('The client was disabled').waitFor();
  expect((await stack.ctx.storage.clients.get('lab-feed'))!.disabled).toBe(true);
  await accessible(page, 'disabled client');
  await page.screenshot({ path: join(SCREENSHOTS, 'admin-clients-client.png'), fullPage: true });

  await page.goto(`${stack.issuer}/admin/clients`);
  await page.getByRole('heading', { name: 'Clients' }).waitFor();
  await page.screenshot({ path: join(SCREENSHOTS, 'admin-clients.png'), fullPage: true });

  await page.goto(`${stack.issuer}/admin/clients/config-app`);
  await page.getByText('This client is declared in the configuration file').waitFor();
  await accessible(page, 'configuration client');
  await page.goto(`${stack.issuer}/admin/clients/config-app/edit`);
  await accessible(page, 'configuration client edit');
  await page.goto(`${stack.issuer}/admin/clients/nobody-here`);
  await page.getByRole('heading', { name: 'No such client' }).waitFor();
  await accessible(page, 'not found');

  const events = (await searchEvents(stack.ctx.storage.sql, { type: 'client.changed', limit: 20 })).filter((e) => e.resource === 'lab-feed').reverse();
  expect(events.map((e) => [e.action, e.actor.userId])).toEqual([['create', admin.id], ['update', admin.id], ['rotate_secret', admin.id], ['disable', admin.id]]);
  expect(csp).toEqual([]);
  expect(scanned).toHaveLength(14);
  await context.close();
}, 120_000);
