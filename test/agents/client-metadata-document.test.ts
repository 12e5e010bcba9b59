// Client ID Metadata Documents against real HTTPS servers on loopback (the dev CA signs their
// certificate): the happy path and caching (§5.2), and the hostile cases of issue 14: private and
// loopback addresses, DNS names resolving to them, redirects, oversized and slow documents, a
// mismatched client_id, a redirect URI not in the document, a document with a client secret. Each
// gets invalid_client with a description that names the problem, and nothing is cached after it.
//
// No packet leaves the machine: the only servers are on 127.0.0.1 and ::1; the cases with a
// private or link-local address (or a name resolving to one) must be refused before any socket
// is attempted, which every such test asserts by counting the TCP connection attempts of this
// process (the socket event connectionAttempt) as well as the connections each server accepted. A safety net under the code being tested
// (net.Socket.prototype.connect wrapped for this file) destroys any socket aimed at an address
// that is not loopback before it connects, and afterEach fails the test that tried: even a broken
// SSRF guard cannot send a packet off the machine from this suite.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Socket, isIP, type AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { ensureDevCertificates } from '../../src/crypto/dev-ca.js';
import { validateConfig } from '../../src/config/schema.js';
import { ClientMetadataError } from '../../src/oauth/client-metadata/errors.js';
import { MAX_DOCUMENT_BYTES, fetchJsonDocument, type FetchDocumentOptions } from '../../src/oauth/client-metadata/fetch-document.js';
import {
  clientMetadataResolverOptions, createClientMetadataResolver, type ClientMetadataResolver, type ClientMetadataResolverOptions,
} from '../../src/oauth/client-metadata/resolver.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

interface TestServer {
  server: Server;
  port: number;
  /** TCP connections accepted. */
  connections: number;
  /** Requests per path. */
  hits: Map<string, number>;
  routes: Map<string, Handler>;
  sockets: Set<Socket>;
}

let dir: string;
let ca: string;
let v4: TestServer;
let v6: TestServer;
/** TCP connection attempts of this process (any address), to prove a refusal came before any. */
let clientSockets = 0;
/** Non-loopback destinations the safety net stopped (must stay empty). */
let blocked: string[] = [];
const originalConnect = Socket.prototype.connect;
const isLoopback = (address: string) => address === '::1' || (isIP(address) === 4 && address.startsWith('127.'));

/** The safety net: counts every client connect and stops any aimed off loopback, before a packet. */
function guardedConnect(this: Socket, ...args: unknown[]): Socket {
  this.on('connectionAttempt', () => { clientSockets += 1; });
  const stop = (address: string) => {
    blocked.push(address);
    // No error object: the request has no listener on the socket yet; it sees a hang-up instead.
    this.destroy();
  };
  // Emitted for every resolved address before it is tried; a socket destroyed here never connects.
  this.on('lookup', (err: Error | null, address?: string) => { if (!err && address && !isLoopback(address)) stop(address); });
  const result = (originalConnect as (...a: unknown[]) => Socket).apply(this, args);
  const first = (Array.isArray(args[0]) ? args[0][0] : args[0]) as { host?: string } | undefined;
  const host = typeof first === 'object' && first !== null ? first.host : undefined;
  // An IP literal connects on the next tick without a lookup: destroying now prevents it.
  if (host !== undefined && isIP(host) !== 0 && !isLoopback(host)) stop(host);
  return result;
}

async function startServer(host: string, cert: string, key: string): Promise<TestServer> {
  const t = { connections: 0, hits: new Map<string, number>(), routes: new Map<string, Handler>(), sockets: new Set<Socket>() } as TestServer;
  t.server = createServer({ cert, key }, (req, res) => {
    const path = req.url ?? '';
    t.hits.set(path, (t.hits.get(path) ?? 0) + 1);
    const handler = t.routes.get(path);
    if (handler) handler(req, res);
    else res.writeHead(404).end();
  });
  t.server.on('connection', (s: Socket) => {
    t.connections += 1;
    t.sockets.add(s);
    s.on('close', () => t.sockets.delete(s));
  });
  await new Promise<void>((resolve) => t.server.listen(0, host, resolve));
  t.port = (t.server.address() as AddressInfo).port;
  return t;
}

const json = (body: unknown, headers: Record<string, string> = {}): Handler => (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
};

const docUrl = (path = '/agent.json', s: TestServer = v4) => `https://127.0.0.1:${s.port}${path}`;
const REDIRECT = 'http://127.0.0.1:33418/callback';
const documentFor = (url: string, extra: Record<string, unknown> = {}) => ({
  client_id: url, client_name: 'Test Agent', redirect_uris: [REDIRECT, 'https://agent.example.com/cb'],
  grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none', ...extra,
});

let clock = Date.UTC(2026, 10, 20, 12, 0, 0);
function resolver(overrides: Partial<ClientMetadataResolverOptions> = {}, fetch: Partial<FetchDocumentOptions> = {}): ClientMetadataResolver {
  return createClientMetadataResolver({
    enabled: true,
    fetch: { timeoutMs: 3000, maxBytes: MAX_DOCUMENT_BYTES, allowLoopback: true, ca, ...fetch },
    cache: { maxEntries: 100, minSeconds: 60, maxSeconds: 86_400 },
    now: () => clock,
    ...overrides,
  });
}

async function refusal(promise: Promise<unknown>): Promise<ClientMetadataError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(ClientMetadataError);
    return err as ClientMetadataError;
  }
  throw new Error('expected the resolution to be refused');
}

/** Asserts invalid_client (401) with this problem and description. */
function expectRefused(err: ClientMetadataError, problem: string, description: string | RegExp): void {
  expect([err.error, err.status, err.problem]).toEqual(['invalid_client', 401, problem]);
  if (typeof description === 'string') expect(err.description).toBe(description);
  else expect(err.description).toMatch(description);
  // error_description characters (RFC 6749 §5.2): %x20-21 / %x23-5B / %x5D-7E.
  expect(err.description).toMatch(/^[\x20-\x21\x23-\x5B\x5D-\x7E]+$/);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'caduceus-cimd-'));
  const tls = await ensureDevCertificates(join(dir, 'tls'));
  ca = readFileSync(tls.caFile, 'utf8');
  const cert = readFileSync(tls.certFile, 'utf8');
  const key = readFileSync(tls.keyFile, 'utf8');
  v4 = await startServer('127.0.0.1', cert, key);
  v6 = await startServer('::1', cert, key);
  Socket.prototype.connect = guardedConnect as typeof Socket.prototype.connect;
});

afterAll(async () => {
  Socket.prototype.connect = originalConnect;
  for (const s of [v4, v6]) {
    s.server.closeAllConnections();
    await new Promise((resolve) => s.server.close(resolve));
  }
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  for (const s of [v4, v6]) {
    s.routes.clear();
    s.hits.clear();
    s.connections = 0;
  }
  clientSockets = 0;
  blocked = [];
});

afterEach(() => {
  expect(blocked, 'a connection off loopback was attempted').toEqual([]);
  // Slow handlers keep their sockets open; cut them so the next test starts clean.
  for (const s of [v4, v6]) for (const socket of s.sockets) socket.destroy();
});

describe('a metadata document on loopback (allowLoopback, as the dev stack)', () => {
  test('is fetched, validated and returned as a metadata client', async () => {
    const url = docUrl();
    v4.routes.set('/agent.json', json(documentFor(url, { logo_uri: 'https://agent.example.com/logo.png' }), { 'cache-control': 'max-age=300' }));
    const client = await resolver().resolve(url, { redirectUri: REDIRECT });
    expect(client).toEqual({
      clientId: url, source: 'metadata_document', host: `127.0.0.1:${v4.port}`, name: 'Test Agent',
      redirectUris: [REDIRECT, 'https://agent.example.com/cb'], grantTypes: ['authorization_code', 'refresh_token'],
      tokenEndpointAuthMethod: 'none', jwksUri: null, jwks: null, scope: null,
      clientUri: null, logoUri: 'https://agent.example.com/logo.png', policyUri: null, tosUri: null,
      fetchedAt: clock, expiresAt: clock + 300_000,
    });
    expect(Object.isFrozen(client) && Object.isFrozen(client.redirectUris)).toBe(true);
    expect(v4.hits.get('/agent.json')).toBe(1);
  });

  test('the request carries no cookie, no credentials and asks for JSON without compression', async () => {
    const url = docUrl();
    let seen: IncomingMessage['headers'] = {};
    v4.routes.set('/agent.json', (req, res) => {
      seen = req.headers;
      json(documentFor(url))(req, res);
    });
    await resolver().resolve(url);
    expect(seen.cookie).toBeUndefined();
    expect(seen.authorization).toBeUndefined();
    expect(seen.accept).toBe('application/json');
    expect(seen['accept-encoding']).toBe('identity');
  });

  test('is served from the cache until max-age has passed (counted at the server)', async () => {
    const url = docUrl();
    v4.routes.set('/agent.json', json(documentFor(url), { 'cache-control': 'max-age=120' }));
    const r = resolver();
    await r.resolve(url, { redirectUri: REDIRECT });
    await r.resolve(url, { redirectUri: REDIRECT });
    clock += 119_000;
    await r.resolve(url);
    expect(v4.hits.get('/agent.json')).toBe(1);
    clock += 2000;
    await r.resolve(url);
    expect(v4.hits.get('/agent.json')).toBe(2);
  });

  test('a max-age below the minimum is raised to it, and one above the maximum lowered to it', async () => {
    const short = docUrl('/short.json');
    const long = docUrl('/long.json');
    v4.routes.set('/short.json', json(documentFor(short), { 'cache-control': 'max-age=5' }));
    v4.routes.set('/long.json', json(documentFor(long), { 'cache-control': 'max-age=31536000' }));
    const r = resolver();
    const first = await r.resolve(short);
    expect(first.expiresAt - first.fetchedAt).toBe(60_000);
    expect((await r.resolve(long)).expiresAt - clock).toBe(86_400_000);
    clock += 30_000;
    await r.resolve(short);
    expect(v4.hits.get('/short.json')).toBe(1);
    clock += 31_000;
    await r.resolve(short);
    expect(v4.hits.get('/short.json')).toBe(2);
  });

  test('no-store is never cached: every resolution fetches', async () => {
    const url = docUrl();
    v4.routes.set('/agent.json', json(documentFor(url), { 'cache-control': 'no-store' }));
    const r = resolver();
    await r.resolve(url);
    await r.resolve(url);
    await r.resolve(url);
    expect(v4.hits.get('/agent.json')).toBe(3);
  });

  test('concurrent resolutions of one URL share one fetch', async () => {
    const url = docUrl();
    v4.routes.set('/agent.json', (req, res) => setTimeout(() => json(documentFor(url))(req, res), 100));
    const r = resolver();
    const clients = await Promise.all([r.resolve(url), r.resolve(url), r.resolve(url)]);
    expect(new Set(clients).size).toBe(1);
    expect(v4.hits.get('/agent.json')).toBe(1);
  });

  test('a cached document still refuses a redirect URI it does not list, and stays cached', async () => {
    const url = docUrl();
    v4.routes.set('/agent.json', json(documentFor(url), { 'cache-control': 'max-age=600' }));
    const r = resolver();
    await r.resolve(url, { redirectUri: REDIRECT });
    expectRefused(await refusal(r.resolve(url, { redirectUri: 'https://evil.example/cb' })), 'redirect_uri_not_registered',
      'redirect_uri is not one of the redirect_uris of the client metadata document');
    await r.resolve(url, { redirectUri: REDIRECT });
    expect(v4.hits.get('/agent.json')).toBe(1);
  });

  test('works over IPv6 loopback too', async () => {
    const url = `https://[::1]:${v6.port}/agent.json`;
    v6.routes.set('/agent.json', json(documentFor(url)));
    expect((await resolver().resolve(url)).clientId).toBe(url);
    expect(v6.connections).toBe(1);
  });

  test('a private_key_jwt client gets its keys from its jwks_uri through the same fetch, cached', async () => {
    const url = docUrl();
    const jwksUri = docUrl('/jwks.json');
    const jwk = { kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0' };
    v4.routes.set('/agent.json', json(documentFor(url, { token_endpoint_auth_method: 'private_key_jwt', jwks_uri: jwksUri })));
    v4.routes.set('/jwks.json', json({ keys: [jwk] }, { 'cache-control': 'max-age=300' }));
    const r = resolver();
    const client = await r.resolve(url);
    expect(await r.publicKeys(client)).toEqual({ keys: [jwk] });
    expect(await r.publicKeys(client)).toEqual({ keys: [jwk] });
    expect(v4.hits.get('/jwks.json')).toBe(1);
  });

  test('a key set with private key material at the jwks_uri is refused', async () => {
    const url = docUrl();
    const jwksUri = docUrl('/jwks.json');
    v4.routes.set('/agent.json', json(documentFor(url, { token_endpoint_auth_method: 'private_key_jwt', jwks_uri: jwksUri })));
    v4.routes.set('/jwks.json', json({ keys: [{ kty: 'EC', crv: 'P-256', x: 'a', y: 'b', d: 'private' }] }));
    const r = resolver();
    expectRefused(await refusal(r.publicKeys(await r.resolve(url))), 'invalid_document',
      'client metadata document: the key set at jwks_uri.keys[0] contains private or symmetric key material (d); publish public keys only');
  });
});

describe('hostile: addresses that are not public are refused before any connection', () => {
  const cases: Array<[string, () => string]> = [
    ['127.0.0.1', () => docUrl()],
    ['[::1]', () => `https://[::1]:${v6.port}/agent.json`],
    ['10.0.0.1', () => 'https://10.0.0.1/agent.json'],
    ['169.254.169.254 (cloud metadata)', () => 'https://169.254.169.254/latest/meta-data.json'],
    ['[::ffff:7f00:1] (IPv4-mapped 127.0.0.1)', () => `https://[::ffff:7f00:1]:${v4.port}/agent.json`],
    ['[fd00::1]', () => 'https://[fd00::1]/agent.json'],
    ['100.64.0.1 (CGNAT)', () => 'https://100.64.0.1/agent.json'],
  ];
  test.each(cases)('%s without allowLoopback', async (_name, url) => {
    const target = url();
    v4.routes.set('/agent.json', json(documentFor(target)));
    v6.routes.set('/agent.json', json(documentFor(target)));
    const r = resolver({}, { allowLoopback: false, allowedPorts: [v4.port, v6.port] });
    expectRefused(await refusal(r.resolve(target)), 'address_not_public', 'the client metadata document URL does not resolve to a public internet address');
    expect([clientSockets, v4.connections, v6.connections]).toEqual([0, 0, 0]);
  });

  test('allowLoopback does not open private, link-local or IPv4-mapped loopback addresses', async () => {
    for (const target of ['https://10.0.0.1/agent.json', 'https://169.254.169.254/agent.json', `https://[::ffff:7f00:1]:${v4.port}/agent.json`]) {
      expectRefused(await refusal(resolver().resolve(target)), 'address_not_public', 'the client metadata document URL does not resolve to a public internet address');
    }
    expect([clientSockets, v4.connections]).toEqual([0, 0]);
  });

  test('the unnormalized form [::ffff:127.0.0.1] is refused as a client_id before anything else', async () => {
    const err = await refusal(resolver({}, { allowLoopback: false, allowedPorts: [v4.port] }).resolve(`https://[::ffff:127.0.0.1]:${v4.port}/agent.json`));
    expectRefused(err, 'invalid_url', /^client_id is not a valid client ID metadata document URL: it must be written in normalized form/);
    expect(clientSockets).toBe(0);
  });

  test('a DNS name resolving to loopback (localhost) is refused, and no connection reaches the server', async () => {
    const url = `https://localhost:${v4.port}/agent.json`;
    v4.routes.set('/agent.json', json(documentFor(url)));
    const err = await refusal(resolver({}, { allowLoopback: false, allowedPorts: [v4.port] }).resolve(url));
    expectRefused(err, 'address_not_public', 'the client metadata document URL does not resolve to a public internet address');
    expect(err.detail).toMatch(/^127\.0\.0\.1: loopback/);
    expect([clientSockets, v4.connections, v4.hits.size]).toEqual([0, 0, 0]);
  });

  test('with allowLoopback the same localhost URL is fetched (the control for the test above)', async () => {
    const url = `https://localhost:${v4.port}/agent.json`;
    v4.routes.set('/agent.json', json(documentFor(url)));
    await resolver().resolve(url);
    expect(v4.connections).toBe(1);
    expect(clientSockets).toBeGreaterThan(0);
  });

  const resolvedTo: Array<[string, string[]]> = [
    ['a private address', ['10.1.2.3']],
    ['link-local (cloud metadata)', ['169.254.169.254']],
    ['a unique local IPv6 address', ['fd00::1']],
    ['IPv4-mapped link-local', ['::ffff:a9fe:a9fe']],
    ['loopback and a private address (every address is checked)', ['127.0.0.1', '10.0.0.1']],
    ['no address at all', []],
  ];
  test.each(resolvedTo)('a DNS name resolving to %s is refused before any connection', async (_name, addresses) => {
    const resolveHost = async () => addresses.map((address) => ({ address, family: address.includes(':') ? 6 as const : 4 as const }));
    const url = `https://agent.internal.example/agent.json`;
    const err = await refusal(resolver({}, { allowLoopback: true, resolveHost }).resolve(url));
    expectRefused(err, 'address_not_public', 'the client metadata document URL does not resolve to a public internet address');
    expect([clientSockets, v4.connections, v6.connections]).toEqual([0, 0, 0]);
  });

  test('a name that does not resolve is refused the same way', async () => {
    const resolveHost = async () => { throw Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' }); };
    const err = await refusal(resolver({}, { resolveHost }).resolve('https://nowhere.invalid/agent.json'));
    expectRefused(err, 'address_not_public', 'the client metadata document URL does not resolve to a public internet address');
    expect(err.detail).toBe('nowhere.invalid: ENOTFOUND');
    expect(clientSockets).toBe(0);
  });

  test('a port other than 443 is refused without allowLoopback, before any connection', async () => {
    const err = await refusal(resolver({}, { allowLoopback: false }).resolve(`https://agent.example.com:${v4.port}/agent.json`));
    expectRefused(err, 'port_not_allowed', 'the client metadata URL must use the default https port (443)');
    expect(clientSockets).toBe(0);
  });

  test('with allowLoopback a non-default port is still refused for a destination that is not loopback', async () => {
    // 93.184.215.14 is never contacted: the port rule refuses it in the resolver step, before a socket.
    const resolveHost = async () => [{ address: '93.184.215.14', family: 4 as const }];
    const err = await refusal(resolver({}, { resolveHost }).resolve(`https://agent.example.com:${v4.port}/agent.json`));
    expectRefused(err, 'port_not_allowed', 'the client metadata URL must use the default https port (443)');
    expect(clientSockets).toBe(0);
  });
});

describe('hostile: what the server at the URL answers', () => {
  test('a redirect (302) is refused and not followed', async () => {
    const url = docUrl();
    v4.routes.set('/agent.json', (_req, res) => res.writeHead(302, { location: docUrl('/elsewhere.json') }).end());
    v4.routes.set('/elsewhere.json', json(documentFor(url)));
    expectRefused(await refusal(resolver().resolve(url)), 'redirect',
      'the client metadata document URL answered with a redirect (HTTP 302); redirects are not followed');
    expect(v4.hits.get('/elsewhere.json')).toBeUndefined();
  });

  test('a status other than 200 is refused', async () => {
    expectRefused(await refusal(resolver().resolve(docUrl('/missing.json'))), 'http_status', 'the client metadata document URL answered HTTP 404, not 200');
  });

  test('an oversized document announced by Content-Length is refused', async () => {
    const url = docUrl();
    v4.routes.set('/agent.json', json(documentFor(url, { padding: 'x'.repeat(6000) })));
    expectRefused(await refusal(resolver().resolve(url)), 'too_large', 'the client metadata document is larger than 5120 bytes');
  });

  test('an oversized document streamed without a length is cut once it passes the limit', async () => {
    const url = docUrl();
    let written = 0;
    let closedEarly = false;
    v4.routes.set('/agent.json', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.on('close', () => { closedEarly = !res.writableFinished; });
      const drip = setInterval(() => {
        if (res.destroyed || written >= 1_000_000) {
          clearInterval(drip);
          if (!res.destroyed) res.end();
          return;
        }
        res.write('x'.repeat(1024));
        written += 1024;
      }, 2);
    });
    expectRefused(await refusal(resolver().resolve(url)), 'too_large', 'the client metadata document is larger than 5120 bytes');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(closedEarly).toBe(true);
    expect(written).toBeLessThan(1_000_000);
  });

  test('a slow document (headers, then a body that drips) is cut at the deadline', async () => {
    const url = docUrl();
    v4.routes.set('/agent.json', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"client_id":');
      const drip = setInterval(() => (res.destroyed ? clearInterval(drip) : res.write(' ')), 50);
    });
    const started = Date.now();
    expectRefused(await refusal(resolver({}, { timeoutMs: 400 }).resolve(url)), 'timeout', 'the client metadata document could not be fetched within 400 ms');
    expect(Date.now() - started).toBeLessThan(1500);
  });

  test('a server that never sends headers is cut at the deadline', async () => {
    const url = docUrl();
    v4.routes.set('/agent.json', () => { /* never answers */ });
    const started = Date.now();
    expectRefused(await refusal(resolver({}, { timeoutMs: 400 }).resolve(url)), 'timeout', 'the client metadata document could not be fetched within 400 ms');
    expect(Date.now() - started).toBeLessThan(1500);
  });

  test('a DNS answer that never comes is cut at the deadline', async () => {
    const resolveHost = () => new Promise<never>(() => { /* never */ });
    const started = Date.now();
    expectRefused(await refusal(resolver({}, { timeoutMs: 300, resolveHost }).resolve('https://slow-dns.example/agent.json')), 'timeout',
      'the client metadata document could not be fetched within 300 ms');
    expect(Date.now() - started).toBeLessThan(1500);
    expect(clientSockets).toBe(0);
  });

  test('a document served as text/html is refused', async () => {
    const url = docUrl();
    v4.routes.set('/agent.json', (_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(JSON.stringify(documentFor(url))));
    expectRefused(await refusal(resolver().resolve(url)), 'content_type', 'the client metadata document is not served as application/json');
  });

  test('application/<x>+json is accepted', async () => {
    const url = docUrl();
    v4.routes.set('/agent.json', json(documentFor(url), { 'content-type': 'application/oauth-client+json; charset=utf-8' }));
    expect((await resolver().resolve(url)).clientId).toBe(url);
  });

  test('a gzip-encoded body is refused', async () => {
    const url = docUrl();
    v4.routes.set('/agent.json', json(documentFor(url), { 'content-encoding': 'gzip' }));
    expectRefused(await refusal(resolver().resolve(url)), 'content_type', 'the client metadata document must be sent without content encoding');
  });

  test('a body that is not JSON is refused', async () => {
    const url = docUrl();
    v4.routes.set('/agent.json', (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"client_id": '));
    expectRefused(await refusal(resolver().resolve(url)), 'not_json', 'the client metadata document is not valid JSON');
  });

  test('a certificate this server does not trust is refused', async () => {
    const url = docUrl();
    v4.routes.set('/agent.json', json(documentFor(url)));
    const { ca: _ca, ...untrusting } = { timeoutMs: 3000, maxBytes: MAX_DOCUMENT_BYTES, allowLoopback: true, ca };
    const r = createClientMetadataResolver({ enabled: true, fetch: untrusting, cache: { maxEntries: 10, minSeconds: 60, maxSeconds: 600 }, now: () => clock });
    const err = await refusal(r.resolve(url));
    expectRefused(err, 'connect_failed', 'the client metadata document could not be fetched: the connection or the TLS handshake failed');
    expect(v4.hits.size).toBe(0);
  });
});

describe('hostile: what the document says', () => {
  test('a mismatched client_id is refused', async () => {
    const url = docUrl();
    v4.routes.set('/agent.json', json(documentFor('https://famous-agent.example.com/client.json')));
    expectRefused(await refusal(resolver().resolve(url)), 'invalid_document', 'client metadata document: client_id must equal the URL the document was fetched from');
  });

  test('a redirect URI not in the document is refused', async () => {
    const url = docUrl();
    v4.routes.set('/agent.json', json(documentFor(url)));
    expectRefused(await refusal(resolver().resolve(url, { redirectUri: 'https://attacker.example/cb' })), 'redirect_uri_not_registered',
      'redirect_uri is not one of the redirect_uris of the client metadata document');
  });

  test('a document with a client_secret is refused', async () => {
    const url = docUrl();
    v4.routes.set('/agent.json', json(documentFor(url, { client_secret: 'hunter2', token_endpoint_auth_method: 'client_secret_basic' })));
    expectRefused(await refusal(resolver().resolve(url)), 'invalid_document',
      'client metadata document: client_secret must not be present: a metadata document cannot carry a client secret or other credential');
  });
});

describe('nothing is cached after a failure', () => {
  const failures: Array<[string, (url: string) => Handler, { redirectUri?: string }]> = [
    ['a 500', () => (_req, res) => res.writeHead(500).end(), {}],
    ['a redirect', () => (_req, res) => res.writeHead(302, { location: '/x' }).end(), {}],
    ['an oversized document', (url) => json(documentFor(url, { padding: 'x'.repeat(6000) }), { 'cache-control': 'max-age=600' }), {}],
    ['a mismatched client_id', () => json(documentFor('https://other.example.com/c.json'), { 'cache-control': 'max-age=600' }), {}],
    ['a client_secret', (url) => json(documentFor(url, { client_secret: 'x' }), { 'cache-control': 'max-age=600' }), {}],
    ['a redirect URI not in the document', (url) => json(documentFor(url), { 'cache-control': 'max-age=600' }), { redirectUri: 'https://attacker.example/cb' }],
  ];
  test.each(failures)('after %s, a good document at the same URL is fetched (and then cached)', async (_name, bad, request) => {
    const url = docUrl();
    const r = resolver();
    v4.routes.set('/agent.json', bad(url));
    await refusal(r.resolve(url, request));
    v4.routes.set('/agent.json', json(documentFor(url), { 'cache-control': 'max-age=600' }));
    await r.resolve(url, { redirectUri: REDIRECT });
    await r.resolve(url, { redirectUri: REDIRECT });
    expect(v4.hits.get('/agent.json')).toBe(2);
  });
});

describe('resolver limits and configuration', () => {
  test('too many different documents in flight: temporarily_unavailable, and the first still completes', async () => {
    const slow = docUrl('/slow.json');
    v4.routes.set('/slow.json', (req, res) => setTimeout(() => json(documentFor(slow))(req, res), 200));
    const r = resolver({ maxConcurrentFetches: 1 });
    const first = r.resolve(slow);
    const err = await refusal(r.resolve(docUrl('/other.json')));
    expect([err.error, err.status, err.problem]).toEqual(['temporarily_unavailable', 503, 'busy']);
    expect((await first).clientId).toBe(slow);
  });

  test('turned off, nothing is fetched', async () => {
    const err = await refusal(resolver({ enabled: false }).resolve(docUrl()));
    expectRefused(err, 'disabled', 'this server does not accept client ID metadata documents');
    expect(clientSockets).toBe(0);
  });

  test('the configuration gives a 3 s deadline, 5 kB, no loopback and the cache bounds; the unsafe switch needs a loopback issuer', () => {
    const base = { issuer: 'https://as.example', storage: 'sqlite::memory:', tls: { cert: 'c.pem', key: 'k.pem' } };
    const options = clientMetadataResolverOptions(validateConfig(base), { now: () => clock });
    expect(options).toEqual({
      enabled: true, fetch: { timeoutMs: 3000, maxBytes: 5120, allowLoopback: false },
      cache: { maxEntries: 1000, minSeconds: 60, maxSeconds: 86_400 }, now: expect.any(Function),
    });
    expect(() => validateConfig({ ...base, unsafe: { allow_loopback_client_metadata: true } }))
      .toThrow('unsafe.allow_loopback_client_metadata: is only allowed with a loopback issuer (127.0.0.1, localhost or [::1])');
    const dev = validateConfig({ ...base, issuer: 'https://localhost:8443', unsafe: { allow_loopback_client_metadata: true } });
    expect(clientMetadataResolverOptions(dev, { now: () => clock }).fetch.allowLoopback).toBe(true);
    expect(() => validateConfig({ ...base, agents: { metadata_cache_min_seconds: 600, metadata_cache_max_seconds: 300 } }))
      .toThrow('agents.metadata_cache_min_seconds: must not exceed agents.metadata_cache_max_seconds');
  });

  test('fetchJsonDocument alone refuses http, userinfo and fragments before any socket', async () => {
    const options = { timeoutMs: 1000, maxBytes: 5120, allowLoopback: true, ca };
    for (const [url, description] of [
      [`http://127.0.0.1:${v4.port}/agent.json`, 'the client metadata URL must use https'],
      [`https://u:p@127.0.0.1:${v4.port}/agent.json`, 'the client metadata URL must not contain user information'],
      [`https://127.0.0.1:${v4.port}/agent.json#f`, 'the client metadata URL must not contain a fragment'],
    ] as const) {
      expectRefused(await refusal(fetchJsonDocument(url, options)), 'invalid_url', description);
    }
    expect([clientSockets, v4.connections]).toEqual([0, 0]);
  });
});
