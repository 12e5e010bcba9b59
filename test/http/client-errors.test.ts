// Requests the HTTP parser refuses before any route sees them (src/http/client-errors.ts), and the
// 413 for a body over the limit: each answered with a complete response that says
// `Connection: close` (RFC 9112 §9.6), carries the API security headers and is logged once,
// without request content, over a real TLS listener.
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from 'undici';
import { startTestStack, type TestStack } from '../support/stack.js';
import { HSTS_MIN_MAX_AGE, securityHeaders } from '../../src/http/security-headers.js';
import { buildApp } from '../../src/server/app.js';
import { clientErrorResponse, statusOfClientError } from '../../src/http/client-errors.js';

// About 20 kB: over Node's default 16 KiB limit for a request's header block.
const CANARY = 'header-canary-';
const OVERSIZED = CANARY.repeat(1_500);

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The server ended its side (FIN) rather than resetting the connection. */
  peerEnded: boolean;
  error?: string;
}

let stack: TestStack;
const lines: string[] = [];

beforeAll(async () => {
  stack = await startTestStack({ context: { log: (line) => void lines.push(line) } });
});

afterAll(async () => {
  await stack?.close();
});

/** Sends raw bytes over one TLS connection and reads until the server closes it. */
function rawExchange(request: string): Promise<RawResponse> {
  const url = new URL(stack.issuer);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let peerEnded = false;
    let error: string | undefined;
    const socket = tls.connect({ host: url.hostname, port: Number(url.port), ca: stack.ca }, () => socket.write(request));
    const timer = setTimeout(() => {
      error = 'timeout: the server did not close the connection';
      socket.destroy();
    }, 5_000);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => {
      peerEnded = true;
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      error ??= err.code ?? err.message;
    });
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      const head = split === -1 ? text : text.slice(0, split);
      const [statusLine = '', ...fields] = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const field of fields) {
        const colon = field.indexOf(':');
        headers[field.slice(0, colon).trim().toLowerCase()] = field.slice(colon + 1).trim();
      }
      const status = /^HTTP\/1\.1 (\d{3}) /.exec(statusLine)?.[1];
      resolve({ status: status ? Number(status) : 0, headers, body: split === -1 ? '' : text.slice(split + 4), peerEnded, ...(error ? { error } : {}) });
    });
  });
}

function hostHeader(): string {
  return new URL(stack.issuer).host;
}

/** The log lines for client errors written while `action` ran. */
async function clientErrorLines(action: () => Promise<unknown>): Promise<Record<string, unknown>[]> {
  const before = lines.length;
  await action();
  return lines.slice(before).map((line) => JSON.parse(line) as Record<string, unknown>).filter((entry) => entry.msg === 'client error');
}

function expectClosingJsonError(response: RawResponse, status: number): void {
  expect(response.status).toBe(status);
  expect(response.headers['connection']).toBe('close');
  expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
  expect(response.headers['content-length']).toBe(String(Buffer.byteLength(response.body)));
  expect(response.headers['cache-control']).toBe('no-store');
  const hsts = stack.ctx.config.tls?.hsts_max_age ?? HSTS_MIN_MAX_AGE;
  for (const [name, value] of Object.entries(securityHeaders('api', hsts))) {
    expect(response.headers[name.toLowerCase()], name).toBe(value);
  }
  const body = JSON.parse(response.body) as Record<string, unknown>;
  expect(body).toEqual({ error: 'invalid_request', error_description: expect.any(String) });
  // Sent in full, then the connection is ended, not reset.
  expect(response.peerEnded).toBe(true);
  expect(response.error).toBeUndefined();
}

describe('requests the HTTP parser refuses', () => {
  it('answers a header block over the limit with a complete 431 that closes the connection', async () => {
    const response = await rawExchange(`GET /healthz HTTP/1.1\r\nHost: ${hostHeader()}\r\nX-Filler: ${OVERSIZED}\r\n\r\n`);
    expectClosingJsonError(response, 431);
    expect(response.body).not.toContain(CANARY);
  });

  it('logs one warn line with the status and the parser code, and nothing of the request', async () => {
    const logged = await clientErrorLines(() =>
      rawExchange(`GET /healthz?secret=query-canary HTTP/1.1\r\nHost: ${hostHeader()}\r\nX-Filler: ${OVERSIZED}\r\n\r\n`),
    );
    expect(logged).toHaveLength(1);
    expect(logged[0]).toEqual({ time: expect.any(String), level: 'warn', msg: 'client error', status: 431, code: 'HPE_HEADER_OVERFLOW' });
    const text = JSON.stringify(logged);
    expect(text).not.toContain(CANARY);
    expect(text).not.toContain('query-canary');
    expect(text).not.toContain('127.0.0.1');
  });

  it.each([
    ['a header name with a space in it', 'GET /healthz HTTP/1.1\r\nHost: {host}\r\nBad Header: value-canary\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['a request line that is not HTTP', '\u0001\u0002 value-canary\r\n\r\n', 'HPE_INVALID_METHOD'],
  ])('answers %s with a complete 400 that closes the connection', async (_name, request, code) => {
    let response: RawResponse | undefined;
    const logged = await clientErrorLines(async () => {
      response = await rawExchange(request.replace('{host}', hostHeader()));
    });
    expectClosingJsonError(response!, 400);
    expect(response!.body).not.toContain('value-canary');
    expect(logged).toEqual([{ time: expect.any(String), level: 'warn', msg: 'client error', status: 400, code }]);
  });

  it('leaves a keep-alive client able to send its next request after a 431', async () => {
    const client = new Client(stack.issuer, { connect: { ca: stack.ca } });
    try {
      const refused = await client.request({ method: 'GET', path: '/healthz', headers: { 'x-filler': OVERSIZED } });
      expect(refused.statusCode).toBe(431);
      expect(refused.headers['connection']).toBe('close');
      expect(await refused.body.json()).toMatchObject({ error: 'invalid_request' });

      const next = await client.request({ method: 'GET', path: '/healthz' });
      expect(next.statusCode).toBe(200);
      expect(await next.body.json()).toEqual({ status: 'ok' });
    } finally {
      await client.close();
    }
  });
});

describe('a body over the limit', () => {
  it('answers 413 with Connection: close, since the unread body leaves the connection unusable', async () => {
    const client = new Client(stack.issuer, { connect: { ca: stack.ca } });
    try {
      const response = await client.request({
        method: 'POST',
        path: '/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `grant_type=client_credentials&filler=${'a'.repeat(100_000)}`,
      });
      expect(response.statusCode).toBe(413);
      expect(response.headers['connection']).toBe('close');
      expect(await response.body.json()).toEqual({ error: 'invalid_request', error_description: 'the request body is too large' });

      const next = await client.request({ method: 'GET', path: '/healthz' });
      expect(next.statusCode).toBe(200);
    } finally {
      await client.close();
    }
  });

  it('closes the connection on any 413 the route error handler answers, not only on those of the body parser', async () => {
    const app = await buildApp(stack.ctx);
    // A route that reads its own stream refuses the same way the body parser does.
    app.post('/test/own-stream', async () => {
      throw Object.assign(new Error('body over the limit'), { statusCode: 413 });
    });
    try {
      const response = await app.inject({ method: 'POST', url: '/test/own-stream', payload: 'x' });
      expect(response.statusCode).toBe(413);
      expect(response.headers['connection']).toBe('close');
      expect(response.json()).toEqual({ error: 'invalid_request', error_description: 'the request body is too large' });
    } finally {
      await app.close();
    }
  });
});

describe('the answer to a refused request', () => {
  it.each([
    ['HPE_HEADER_OVERFLOW', 431],
    ['HPE_CHUNK_EXTENSIONS_OVERFLOW', 413],
    ['ERR_HTTP_REQUEST_TIMEOUT', 408],
    ['HPE_INVALID_METHOD', 400],
    ['HPE_INVALID_HEADER_TOKEN', 400],
    [undefined, 400],
  ] as const)('maps the parser code %s to %i', (code, status) => {
    expect(statusOfClientError(code)).toBe(status);
  });

  it('is a complete HTTP/1.1 response for a request timeout too', () => {
    const raw = clientErrorResponse(408, HSTS_MIN_MAX_AGE, new Date(0));
    const [head, body] = raw.split('\r\n\r\n') as [string, string];
    expect(head.split('\r\n')).toEqual([
      'HTTP/1.1 408 Request Timeout',
      'Date: Thu, 01 Jan 1970 00:00:00 GMT',
      'Content-Type: application/json; charset=utf-8',
      `Content-Length: ${Buffer.byteLength(body)}`,
      'Connection: close',
      ...Object.entries(securityHeaders('api')).map(([name, value]) => `${name}: ${value}`),
    ]);
    expect(JSON.parse(body)).toEqual({ error: 'invalid_request', error_description: 'the request was not received in time' });
  });
});
