// What the end-to-end MCP authorization tests share (test/agents/mcp-oauth-*.test.ts): an AI agent
// built from the official MCP TypeScript SDK (its OAuthClientProvider interface, implemented here
// in memory the way a desktop assistant keeps its credentials), the agent's loopback callback
// server (RFC 8252 §7.3) that receives the code, a server of Client ID Metadata Documents on
// loopback, and the person in Debian's Chromium who signs in and decides on the consent page.
// Everything listens on and talks to 127.0.0.1 only.
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fetch as undiciFetch, type Dispatcher } from 'undici';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import { SCREENSHOTS } from '../support/chromium.js';
import type { TestStack } from '../support/stack.js';

/** One HTTP exchange the agent made (what the SDK did, in order). */
export interface Exchange {
  method: string;
  url: string;
  status: number;
  /** The WWW-Authenticate header of a 401 or 403. */
  challenge?: string;
}

/**
 * A fetch for the SDK that trusts the dev stack's CA, refuses anything but loopback, and records
 * every exchange so a test can assert the discovery the SDK did.
 */
export function recordingFetch(dispatcher: Dispatcher, log: Exchange[]): typeof fetch {
  return (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? String(input) : input.url);
    if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) throw new Error(`test agent: refusing a request off loopback: ${url.href}`);
    const res = await undiciFetch(url, { ...(init as object), dispatcher } as never);
    const challenge = res.headers.get('www-authenticate');
    log.push({ method: (init?.method ?? 'GET').toUpperCase(), url: url.href, status: res.status, ...(challenge !== null ? { challenge } : {}) });
    return res as unknown as Response;
  }) as typeof fetch;
}

/** The agent's loopback redirect URI: records every callback and answers the browser a plain page. */
export class CallbackServer {
  readonly callbacks: URL[] = [];
  private waiters: ((u: URL) => void)[] = [];
  private constructor(private readonly server: HttpServer, readonly url: string) {}

  static async start(): Promise<CallbackServer> {
    let self: CallbackServer | undefined;
    const server = createHttpServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://127.0.0.1');
      res.setHeader('content-type', 'text/plain; charset=utf-8');
      if (u.pathname !== '/callback') {
        res.statusCode = 404;
        res.end('not found');
        return;
      }
      const full = new URL(`${self!.url}${u.search}`);
      self!.callbacks.push(full);
      self!.waiters.shift()?.(full);
      res.end('Authorization finished: you can go back to your assistant.');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    self = new CallbackServer(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}/callback`);
    return self;
  }

  /** The next callback, or a rejection after `ms`. */
  next(ms = 15_000): Promise<URL> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no callback at the agent\'s redirect URI')), ms);
      this.waiters.push((u) => { clearTimeout(timer); resolve(u); });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** Client ID Metadata Documents over https on loopback, with the dev stack's certificate; counts fetches per path. */
export class MetadataDocuments {
  readonly fetches = new Map<string, number>();
  private readonly docs = new Map<string, Record<string, unknown>>();
  private constructor(private readonly server: HttpsServer, readonly base: string) {}

  static async start(stack: TestStack, port = 0): Promise<MetadataDocuments> {
    const tls = stack.ctx.config.tls!;
    let self: MetadataDocuments | undefined;
    const server = createHttpsServer({ cert: readFileSync(tls.cert), key: readFileSync(tls.key) }, (req, res) => {
      const path = new URL(req.url ?? '/', 'https://localhost').pathname;
      self!.fetches.set(path, (self!.fetches.get(path) ?? 0) + 1);
      const doc = self!.docs.get(path);
      res.setHeader('content-type', 'application/json');
      if (!doc) {
        res.statusCode = 404;
        res.end('{}');
        return;
      }
      res.setHeader('cache-control', 'max-age=300');
      res.end(JSON.stringify(doc));
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    self = new MetadataDocuments(server, `https://localhost:${(server.address() as AddressInfo).port}`);
    return self;
  }

  /** Serves an agent's document at `path`; returns its URL, which is the agent's client_id. */
  serve(path: string, doc: { client_name: string; redirect_uris: string[] }): string {
    const url = `${this.base}${path}`;
    this.docs.set(path, {
      client_id: url, ...doc, token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
    });
    return url;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * The SDK's OAuthClientProvider, in memory. With `clientMetadataUrl` the SDK uses it as the
 * client_id (the server advertises client_id_metadata_document_supported); without it, the SDK
 * registers dynamically (RFC 7591) with `clientMetadata`.
 */
export class AgentProvider implements OAuthClientProvider {
  readonly authorizationUrls: URL[] = [];
  readonly savedTokens: OAuthTokens[] = [];
  readonly states: string[] = [];
  readonly invalidated: string[] = [];
  private info: OAuthClientInformationMixed | undefined;
  private current: OAuthTokens | undefined;
  private verifier: string | undefined;

  constructor(readonly redirectUrl: string, readonly name: string, readonly clientMetadataUrl?: string) {}

  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: this.name, redirect_uris: [this.redirectUrl], token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
    };
  }

  state(): string {
    const s = randomBytes(16).toString('base64url');
    this.states.push(s);
    return s;
  }

  clientInformation() { return this.info; }
  saveClientInformation(info: OAuthClientInformationMixed) { this.info = info; }
  tokens() { return this.current; }
  saveTokens(tokens: OAuthTokens) {
    this.current = tokens;
    this.savedTokens.push(tokens);
  }
  redirectToAuthorization(url: URL) { this.authorizationUrls.push(url); }
  saveCodeVerifier(v: string) { this.verifier = v; }
  codeVerifier(): string {
    if (!this.verifier) throw new Error('no code verifier saved');
    return this.verifier;
  }
  invalidateCredentials(scope: 'all' | 'client' | 'tokens' | 'verifier' | 'discovery') {
    this.invalidated.push(scope);
    if (scope === 'all' || scope === 'tokens') this.current = undefined;
    if (scope === 'all' || scope === 'client') this.info = undefined;
  }

  get clientId(): string {
    if (!this.info) throw new Error('the agent has no client_id yet');
    return this.info.client_id;
  }
  get lastAuthorizationUrl(): URL {
    const u = this.authorizationUrls.at(-1);
    if (!u) throw new Error('the SDK never asked for an authorization');
    return u;
  }
  get accessToken(): string {
    if (!this.current) throw new Error('no tokens');
    return this.current.access_token;
  }
}

/** An SDK client and its transport for the MCP URL, with the provider as authProvider. */
export function sdkClient(mcpUrl: string, provider: AgentProvider, fetchFn: typeof fetch) {
  const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider, fetch: fetchFn });
  const client = new Client({ name: `${provider.name} (test)`, version: '1.0.0' });
  return { client, transport };
}

/** What the person saw on the consent page, and the callback the agent received. */
export interface Decision {
  consentText: string;
  /** The scope checkboxes offered, in order. */
  offered: string[];
  signedIn: boolean;
  callback: URL;
}

export interface PersonOptions {
  /** Scopes to untick before allowing. */
  untick?: string[];
  /** A phone-size screenshot of the consent page to SCREENSHOTS. */
  screenshot?: string;
  /** Expect no consent page (a prior consent covers the request): the callback comes straight back. */
  noConsent?: boolean;
}

/**
 * The person: opens the authorization URL the SDK produced in Chromium, signs in as the demo
 * patient if asked, reads the consent page, unticks what they do not want to give, clicks Allow;
 * returns what the agent's loopback redirect URI received.
 */
export async function personAllows(page: Page, stack: TestStack, callbacks: CallbackServer, url: URL, o: PersonOptions = {}): Promise<Decision> {
  const arrived = callbacks.next();
  await page.goto(url.href);
  let signedIn = false;
  const signIn = page.getByRole('heading', { name: 'Sign in' });
  const allow = page.getByRole('button', { name: 'Allow' });
  if (o.noConsent) {
    const callback = await arrived;
    return { consentText: '', offered: [], signedIn, callback };
  }
  // The sign-in or consent page, else fail at once with what the browser got instead.
  const early = arrived.then((cb) => { throw new Error(`the agent got a callback before any consent: ${cb.href}`); });
  early.catch(() => undefined);
  await Promise.race([signIn.or(allow).first().waitFor(), early]).catch(async (err: Error) => {
    throw new Error(`${err.message}\nthe browser shows ${page.url()}: ${(await page.locator('body').innerText().catch(() => '')).slice(0, 1000)}`);
  });
  if (await signIn.isVisible()) {
    await page.getByLabel('Username').fill(stack.demo.username);
    await page.getByLabel('Password').fill(stack.demo.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    signedIn = true;
  }
  await allow.waitFor();
  const consentText = await page.locator('main, body').first().innerText();
  const boxes = page.getByRole('checkbox');
  const offered: string[] = [];
  for (const box of await boxes.all()) offered.push((await box.getAttribute('value'))!);
  for (const s of o.untick ?? []) await page.locator(`input[type=checkbox][value="${s}"]`).uncheck();
  if (o.screenshot) await page.screenshot({ path: join(SCREENSHOTS, o.screenshot), fullPage: true });
  await allow.click();
  const callback = await arrived;
  await page.waitForURL((u) => u.href.startsWith(callbacks.url));
  return { consentText, offered, signedIn, callback };
}

/** A phone-size browser context that reports CSP violations and page errors. */
export async function personContext(browser: Browser): Promise<{ context: BrowserContext; page: Page; problems: string[] }> {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 390, height: 844 } });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) problems.push(m.text()); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  return { context, page, problems };
}

/** Checks what the callback carries (state, RFC 9207 iss) and returns the code. */
export function codeFrom(callback: URL, provider: AgentProvider, issuer: string): string {
  const state = callback.searchParams.get('state');
  if (state !== provider.states.at(-1)) throw new Error(`callback state ${state} is not the last one the agent sent`);
  if (callback.searchParams.get('iss') !== issuer) throw new Error(`callback iss ${callback.searchParams.get('iss')} is not ${issuer}`);
  const error = callback.searchParams.get('error');
  if (error) throw new Error(`authorization error at the callback: ${error} ${callback.searchParams.get('error_description') ?? ''}`);
  const code = callback.searchParams.get('code');
  if (!code) throw new Error('no code at the callback');
  return code;
}

export type LedgerRow = {
  seq: number;
  type: string;
  outcome: string;
  patient: string | null;
  actor_client: string | null;
  actor_user: string | null;
  event_json: string;
};

/** Ledger events after `since` (a seq), oldest first, optionally of some types. */
export async function eventsSince(stack: TestStack, since: number, types?: string[]): Promise<(LedgerRow & { event: Record<string, any> })[]> {
  const rows = await stack.ctx.storage.sql.all<LedgerRow>(
    'SELECT seq, type, outcome, patient, actor_client, actor_user, event_json FROM audit_events WHERE seq > $1 ORDER BY seq', [since],
  );
  return rows.filter((r) => !types || types.includes(r.type)).map((r) => ({ ...r, seq: Number(r.seq), event: JSON.parse(r.event_json) as Record<string, any> }));
}

/**
 * The phi.* events of MCP tool calls since `since` (details.tool set): not the consent page's own
 * read of the patient's name, nor /mcp's refusals at the door (a bare 401 before discovery).
 */
export async function toolEventsSince(stack: TestStack, since: number): Promise<(LedgerRow & { event: Record<string, any> })[]> {
  return (await eventsSince(stack, since, ['phi.accessed', 'phi.denied'])).filter((e) => e.event.details?.tool !== undefined);
}

export async function ledgerHead(stack: TestStack): Promise<number> {
  const row = await stack.ctx.storage.sql.get<{ seq: number | null }>('SELECT MAX(seq) AS seq FROM audit_events', []);
  return Number(row?.seq ?? 0);
}

/** A raw JSON-RPC POST to /mcp, for exact statuses and headers. */
export async function rawMcp(dispatcher: Dispatcher, mcpUrl: string, token: string | undefined, body: unknown) {
  const res = await undiciFetch(mcpUrl, {
    method: 'POST', dispatcher,
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  let json: Record<string, any> = {};
  try { json = JSON.parse(text) as Record<string, any>; } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, json };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
