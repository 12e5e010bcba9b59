// A real Caduceus server over TLS with the gateway registered in front of the demo FHIR server.
// startTestStack (test/support/stack.ts) calls startServer, which has no hook to register the
// gateway before listen yet, so this harness does what startServer does (buildApp + TLS listen)
// with registerGateway in between. Every request made through `call` checks that exactly one
// phi.* ledger event was written for it.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHmac, generateKeyPairSync, sign as nodeSign } from 'node:crypto';
import { expect } from 'vitest';
import { Agent, fetch, type Dispatcher } from 'undici';
import { devConfig, seedDemo, type DemoCredentials } from '../../src/server/dev-stack.js';
import { createContext, type ContextOptions } from '../../src/server/start.js';
import { buildApp } from '../../src/server/app.js';
import { tlsServerOptions } from '../../src/http/tls.js';
import type { AppContext } from '../../src/context/app-context.js';
import type { CaduceusConfig } from '../../src/config/schema.js';
import { registerGateway, type Gateway, type GatewayConfigInput } from '../../src/gateway/index.js';
import { DEMO_PATIENT_COUNT, startDemoFhirServer, type DemoFhirServer, type ObservedRequest } from '../../src/fhir-demo/index.js';
import { signJwt } from '../../src/oauth/tokens/jwt.js';
import { makeJti } from '../../src/oauth/tokens/access-token.js';
import { searchEvents } from '../../src/audit/search.js';
import type { AuditEvent } from '../../src/audit/events.js';
import { freePort, type TestStack } from '../support/stack.js';

export const PHI_EVENTS = ['phi.accessed', 'phi.denied'] as const;

export interface GatewayStack extends TestStack {
  ctx: AppContext & { close(): Promise<void> };
  gateway: Gateway;
  fhir: DemoFhirServer;
  /** Requests the demo FHIR server received, oldest first. */
  upstreamSeen: ObservedRequest[];
  /** https://127.0.0.1:port/fhir: the route prefix on the gateway, also the token audience. */
  fhirBase: string;
  dispatcher: Dispatcher;
}

export interface GatewayStackOptions {
  /** The gateway configuration, given the demo FHIR server URL and the FHIR audience. */
  gateway?: (fhirUrl: string, audience: string) => GatewayConfigInput;
  configure?: (c: CaduceusConfig) => void;
  context?: ContextOptions;
  /** A storage URL (test/storage/databases.ts); default: SQLite in the temp folder. */
  storage?: string;
}

export async function startGatewayStack(opts: GatewayStackOptions = {}): Promise<GatewayStack> {
  const upstreamSeen: ObservedRequest[] = [];
  const fhir = await startDemoFhirServer({ observe: (r) => upstreamSeen.push(r) });
  const dataDir = mkdtempSync(join(tmpdir(), 'caduceus-gw-'));
  const port = await freePort();
  const { config, caFile } = await devConfig({ dataDir, port, host: '127.0.0.1', issuerHost: '127.0.0.1', ...(opts.storage ? { storage: opts.storage } : {}) });
  opts.configure?.(config);
  const ctx = await createContext(config, { env: {}, ...opts.context });
  const demo: DemoCredentials = await seedDemo(ctx, dataDir, caFile);
  // The subject of the tokens mintToken makes: a practitioner whose panel holds every demo patient,
  // so user/ scopes reach them all (src/gateway/user-reach.ts); tests of the panel make their own.
  await ctx.storage.users.create({
    id: TEST_SUBJECT, username: 'gateway.test', passwordHash: 'unused', disabled: false, fhirUser: null, createdAt: ctx.now(), role: 'practitioner',
    patientPanel: Array.from({ length: DEMO_PATIENT_COUNT }, (_, i) => `demo-${i + 1}`), breakGlass: false,
  });
  const audience = `${config.issuer}/fhir`;
  const gatewayConfig = opts.gateway?.(fhir.url, audience) ?? { routes: [{ prefix: '/fhir', upstream: fhir.url, audience, type: 'fhir' as const }] };
  const app = await buildApp(ctx, { https: tlsServerOptions({ cert: readFileSync(config.tls!.cert), key: readFileSync(config.tls!.key) }) });
  const gateway = await registerGateway(app, ctx, gatewayConfig);
  await app.listen({ host: '127.0.0.1', port });
  const ca = readFileSync(caFile, 'utf8');
  const dispatcher = new Agent({ connect: { ca } });
  return {
    ctx, demo, issuer: config.issuer, dataDir, ca, gateway, fhir, upstreamSeen, fhirBase: audience, dispatcher,
    async close() {
      await app.close();
      await dispatcher.close();
      await fhir.close();
      await ctx.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The default subject of minted tokens: a stored practitioner with every demo patient on the panel. */
export const TEST_SUBJECT = 'user-test-1';

export interface MintOptions {
  scope: string;
  patient?: string;
  audience?: string;
  clientId?: string;
  subject?: string;
  grantId?: string | null;
  /** Claims added or overriding the defaults (e.g. exp). */
  claims?: Record<string, unknown>;
}

/**
 * An access token signed by the server's real key, like src/oauth/tokens/access-token.ts issues
 * them, plus the `patient` claim the authorization server is about to add (not in its claim
 * allow-list yet, so signed here directly).
 */
export async function mintToken(stack: GatewayStack, o: MintOptions): Promise<{ token: string; jti: string; claims: Record<string, unknown> }> {
  const { ctx } = stack;
  const iat = Math.floor(ctx.now() / 1000);
  const jti = makeJti(o.grantId ?? null);
  const claims: Record<string, unknown> = {
    iss: ctx.config.issuer, sub: o.subject ?? TEST_SUBJECT, aud: o.audience ?? stack.fhirBase, exp: iat + ctx.config.tokens.access_token_ttl, iat, jti,
    client_id: o.clientId ?? stack.demo.client_id, scope: o.scope, ...(o.patient ? { patient: o.patient } : {}), ...o.claims,
  };
  return { token: await signJwt(ctx, 'at+jwt', claims), jti, claims };
}

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** A compact JWS with any header, signed by `signer` over "header.payload" (or unsigned). */
export function craftJwt(header: Record<string, unknown>, payload: Record<string, unknown>, signer?: (input: string) => Buffer): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${signer ? signer(input).toString('base64url') : ''}`;
}

/** ES256 (P-1363 signature) with a fresh key the server has never published. */
export function foreignEs256(): (input: string) => Buffer {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return (input) => nodeSign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
}

export const hs256 = (secret: string | Buffer) => (input: string) => createHmac('sha256', secret).update(input).digest();

export interface CallOptions {
  method?: string;
  token?: string;
  headers?: Record<string, string>;
  body?: unknown;
  /** How many phi.* events the request must produce (default 1). */
  expectEvents?: number;
}

export interface CallResult {
  status: number;
  headers: Headers;
  text: string;
  json: any;
  /** The phi.* events this request produced. */
  events: AuditEvent[];
  event: AuditEvent;
}

async function latestPhiSeq(stack: GatewayStack): Promise<number> {
  return (await searchEvents(stack.ctx.storage.sql, { type: PHI_EVENTS, limit: 1 }))[0]?.seq ?? 0;
}

/** One request to the gateway; asserts it produced exactly one phi.* ledger event (or expectEvents). */
export async function call(stack: GatewayStack, path: string, o: CallOptions = {}): Promise<CallResult> {
  const before = await latestPhiSeq(stack);
  const headers: Record<string, string> = { accept: 'application/fhir+json', ...o.headers };
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  let body: string | undefined;
  if (o.body !== undefined) {
    body = typeof o.body === 'string' ? o.body : JSON.stringify(o.body);
    headers['content-type'] ??= 'application/fhir+json';
  }
  const url = path.startsWith('https://') ? path : `${stack.fhirBase}${path}`;
  const res = await fetch(url, { method: o.method ?? 'GET', headers, ...(body !== undefined ? { body } : {}), dispatcher: stack.dispatcher });
  const text = await res.text();
  let json: any;
  try { json = JSON.parse(text); } catch { json = undefined; }
  const events = (await searchEvents(stack.ctx.storage.sql, { type: PHI_EVENTS, limit: 20 })).filter((e) => e.seq > before).reverse();
  expect(events.length, `phi.* events for ${o.method ?? 'GET'} ${path}`).toBe(o.expectEvents ?? 1);
  return { status: res.status, headers: res.headers as unknown as Headers, text, json, events, event: events[0]! };
}

/** The issue and description of a gateway OperationOutcome. */
export function outcomeOf(json: any): { error?: string; description?: string } {
  const issue = json?.issue?.[0];
  return { error: issue?.diagnostics, description: issue?.details?.text };
}

export interface StubUpstream {
  url: string;
  seen: Array<{ method: string; url: string; headers: Record<string, string | string[] | undefined>; body: string }>;
  close(): Promise<void>;
}

/** A plain-HTTP upstream answering whatever `answer` says (a misbehaving or hostile FHIR server). */
export async function startStubUpstream(answer: (req: { method: string; url: string }) => { status?: number; type?: string; body?: unknown; headers?: Record<string, string> }): Promise<StubUpstream> {
  const { createServer } = await import('node:http');
  const seen: StubUpstream['seen'] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString('utf8'); });
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: { ...req.headers }, body });
      const a = answer({ method: req.method!, url: req.url! });
      const text = a.body === undefined ? '' : typeof a.body === 'string' ? a.body : JSON.stringify(a.body);
      res.writeHead(a.status ?? 200, { 'content-type': a.type ?? 'application/fhir+json', ...a.headers });
      res.end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}`, seen, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
