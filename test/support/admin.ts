// Driving the admin console and the admin API of a test stack over HTTP: sign in as the demo
// administrator (password + a TOTP code of its enrolled secret), GET pages and POST forms with the
// page's CSRF token, and get admin API tokens with client_credentials.
import { request, type Dispatcher } from 'undici';
import type { BrowserContext, Page } from 'playwright-core';
import { base32Decode, totp, TOTP_STEP_SECONDS } from '../../src/interaction/mfa/totp.js';
import { adminApiAudience, ADMIN_API_SCOPE } from '../../src/admin/api/index.js';
import { trustingDispatcher, type TestStack } from './stack.js';

/**
 * A TOTP code the server has not accepted yet: the code of a later step, within the ±1 step window
 * of src/interaction/mfa/totp.ts (`stepsAhead` 1 is the next step). The server refuses a step at or
 * before the last one it accepted (RFC 6238 §5.2), so a test that needs several codes moves the
 * stack's clock (startTestStack's context.now) forward 30 s between them.
 */
export function totpCode(secret: string, now: number, stepsAhead = 1): string {
  return totp(base32Decode(secret), now + stepsAhead * TOTP_STEP_SECONDS * 1000);
}

export interface ConsoleClient {
  dispatcher: Dispatcher;
  /** The console cookie (name=value), or '' before sign-in. */
  cookie: string;
  get(path: string): Promise<{ status: number; body: string; location?: string; headers: Record<string, unknown> }>;
  /** POSTs a form; `csrf` defaults to the token of the last page fetched. */
  post(path: string, fields: Record<string, string | string[]>, options?: { csrf?: string | null }): Promise<{ status: number; body: string; location?: string; headers: Record<string, unknown> }>;
  /** The CSRF token found on the last page fetched. */
  csrf: string | undefined;
}

export function consoleClient(stack: TestStack, dispatcher: Dispatcher = trustingDispatcher(stack.ca)): ConsoleClient {
  const client: ConsoleClient = {
    dispatcher, cookie: '', csrf: undefined,
    async get(path) {
      const res = await request(`${stack.issuer}${path}`, { dispatcher, headers: { accept: 'text/html', ...(client.cookie ? { cookie: client.cookie } : {}) } });
      return read(res);
    },
    async post(path, fields, options = {}) {
      const form = new URLSearchParams();
      for (const [k, v] of Object.entries(fields)) for (const one of Array.isArray(v) ? v : [v]) form.append(k, one);
      const csrf = options.csrf === undefined ? client.csrf : options.csrf;
      if (csrf !== null && csrf !== undefined && !form.has('csrf')) form.set('csrf', csrf);
      const res = await request(`${stack.issuer}${path}`, {
        method: 'POST', dispatcher, body: form.toString(),
        headers: { accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded', ...(client.cookie ? { cookie: client.cookie } : {}) },
      });
      return read(res);
    },
  };
  async function read(res: Dispatcher.ResponseData) {
    const body = await res.body.text();
    const setCookie = ([] as string[]).concat((res.headers['set-cookie'] as string | string[] | undefined) ?? []);
    for (const c of setCookie) {
      const [pair] = c.split(';');
      if (pair?.startsWith('__Host-caduceus-admin=')) client.cookie = pair.endsWith('=deleted') ? '' : pair;
    }
    const csrf = /name="csrf" value="([^"]+)"/.exec(body)?.[1];
    if (csrf) client.csrf = csrf;
    return { status: res.statusCode, body, headers: res.headers, ...(res.headers.location ? { location: String(res.headers.location) } : {}) };
  }
  return client;
}

/** Signs the demo administrator in; resolves the signed-in client. */
export async function signInAsAdmin(stack: TestStack, options: { stepsAhead?: number } = {}): Promise<ConsoleClient> {
  const client = consoleClient(stack);
  const res = await client.post('/admin/login', {
    username: stack.demo.admin_username!, password: stack.demo.admin_password!, code: totpCode(stack.demo.admin_totp_secret!, stack.ctx.now(), options.stepsAhead ?? 1),
  }, { csrf: null });
  if (res.status !== 303 || res.location !== '/admin') throw new Error(`admin sign-in failed: ${res.status} ${res.body.slice(0, 300)}`);
  return client;
}

/** An admin API access token of the demo admin API client (client_credentials). */
export async function adminApiToken(stack: TestStack, options: { clientId?: string; clientSecret?: string; scope?: string; resource?: string } = {}): Promise<string> {
  const id = options.clientId ?? stack.demo.admin_client_id!;
  const secret = options.clientSecret ?? stack.demo.admin_client_secret!;
  const res = await request(`${stack.issuer}/token`, {
    method: 'POST', dispatcher: trustingDispatcher(stack.ca),
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: options.scope ?? ADMIN_API_SCOPE, resource: options.resource ?? adminApiAudience(stack.issuer) }).toString(),
  });
  const body = await res.body.json() as { access_token?: string };
  if (!body.access_token) throw new Error(`no admin API token: ${res.statusCode} ${JSON.stringify(body)}`);
  return body.access_token;
}

/** Calls the admin API with a bearer token (or none). */
export async function adminApi(stack: TestStack, method: string, path: string, token: string | undefined, body?: unknown): Promise<{ status: number; json: Record<string, unknown>; headers: Record<string, unknown> }> {
  const res = await request(`${stack.issuer}/admin/api${path}`, {
    method: method as Dispatcher.HttpMethod, dispatcher: trustingDispatcher(stack.ca),
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.body.text();
  return { status: res.statusCode, json: text ? JSON.parse(text) as Record<string, unknown> : {}, headers: res.headers };
}

/**
 * Signs the demo administrator in through the console's form in a Chromium context, with a TOTP
 * code of the step at `now` plus one (the caller moves its clock 30 s or more between sign-ins),
 * on the given page or a new page of the given context; resolves the page, showing the overview.
 */
export async function signInAsAdminInChromium(stack: TestStack, on: BrowserContext | Page, now: number): Promise<Page> {
  // A page the caller already listens to (for CSP reports), or a new page of the context.
  const page = 'goto' in on ? on : await on.newPage();
  await page.goto(`${stack.issuer}/admin/login`);
  await page.getByLabel('Username').fill(stack.demo.admin_username!);
  await page.getByLabel('Password').fill(stack.demo.admin_password!);
  await page.getByLabel('Code from your authenticator app, or a recovery code').fill(totpCode(stack.demo.admin_totp_secret!, now));
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
  return page;
}
