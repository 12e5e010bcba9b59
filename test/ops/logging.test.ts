// The request log: one JSON line per request with only the allowed fields, and none of the
// secrets or identifiers a full flow handles (45 CFR 164.312: PHI and credentials stay out of
// operational logs). The captured log of a code flow, a refresh, an introspection and a failed
// login is searched for every secret value that crossed the wire.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fetch } from 'undici';
import { startOpsStack, type OpsStack } from './ops-stack.js';
import { codeFlow, introspect, refresh, relyingParty, authorizationUrl, type Rp } from '../support/flows.js';
import { Browser, formAction, hiddenCsrf } from '../support/browserless.js';
import { createLogger, logRequest, MAX_FIELD_LENGTH } from '../../src/ops/logging.js';

let stack: OpsStack;
let rp: Rp;
const secrets: Record<string, string> = {};
const WRONG_PASSWORD = 'Wr0ng-Passw0rd-For-The-Log-Test';

beforeAll(async () => {
  stack = await startOpsStack();
  rp = await relyingParty(stack);

  const flow = await codeFlow(rp);
  const refreshed = await refresh(rp, flow.tokens.refresh_token!);
  expect(refreshed.status).toBe(200);
  const inspected = await introspect(rp, flow.tokens.access_token);
  expect(inspected.json.active).toBe(true);

  // A failed login with a wrong password, once (the demo account must not be throttled).
  const browser = new Browser(rp.dispatcher);
  const { url, state, verifier } = await authorizationUrl(rp);
  const loginPage = await browser.follow(url.href, new URL(stack.issuer).origin);
  expect(loginPage.body).toContain('type="password"');
  const failed = await browser.follow(formAction(loginPage), new URL(stack.issuer).origin, {
    form: { csrf: hiddenCsrf(loginPage), username: stack.demo.username, password: WRONG_PASSWORD },
  });
  expect(failed.body).toContain('type="password"');

  const user = await stack.ctx.storage.users.getByUsername(stack.demo.username);
  Object.assign(secrets, {
    'access token': flow.tokens.access_token,
    'refreshed access token': refreshed.json.access_token as string,
    'refresh token': flow.tokens.refresh_token!,
    'rotated refresh token': refreshed.json.refresh_token as string,
    'ID token': flow.tokens.id_token!,
    'authorization code': flow.code,
    'client secret': stack.demo.client_secret,
    'Authorization header value': Buffer.from(`${stack.demo.client_id}:${stack.demo.client_secret}`).toString('base64'),
    password: stack.demo.password,
    'wrong password': WRONG_PASSWORD,
    username: stack.demo.username,
    'user id': user!.id,
    'client id': stack.demo.client_id,
    state: flow.state,
    'PKCE verifier': flow.verifier,
    'state of the failed login': state,
    'verifier of the failed login': verifier,
    'interaction id': new URL(loginPage.url).pathname.split('/').pop()!,
  });
});
afterAll(async () => stack?.close());

const parsed = () => stack.logs.map((line) => JSON.parse(line) as Record<string, unknown>);

describe('request log', () => {
  test('every line is one JSON object with time, level, request id, method, route, status and duration only', () => {
    expect(stack.logs.length).toBeGreaterThan(8);
    for (const line of stack.logs) {
      expect(line.endsWith('\n')).toBe(true);
      expect(line.slice(0, -1)).not.toContain('\n');
      const entry = JSON.parse(line) as Record<string, unknown>;
      expect(Object.keys(entry).sort()).toEqual(['durationMs', 'level', 'method', 'msg', 'requestId', 'route', 'status', 'time']);
      expect(entry.msg).toBe('request');
      expect(entry.requestId).toMatch(/^[0-9a-f-]{36}$/);
      expect(typeof entry.durationMs).toBe('number');
      expect(new Date(entry.time as string).toISOString()).toBe(entry.time);
    }
  });

  test('routes are patterns: the token, introspection and interaction requests are logged without their URLs', () => {
    const entries = parsed();
    const seen = (method: string, route: string, status: number) => entries.some((e) => e.method === method && e.route === route && e.status === status);
    expect(seen('POST', '/token', 200)).toBe(true);
    expect(seen('POST', '/introspect', 200)).toBe(true);
    expect(seen('GET', '/authorize', 303)).toBe(true);
    expect(entries.some((e) => typeof e.route === 'string' && e.route.startsWith('/interaction/:'))).toBe(true);
    for (const e of entries) expect(String(e.route)).not.toMatch(/\?|=/);
  });

  test('no token, code, secret, password, username, identifier or Authorization header value appears in the log', () => {
    const text = stack.logs.join('');
    expect(Object.keys(secrets).length).toBeGreaterThan(15);
    const leaked = Object.entries(secrets).filter(([, value]) => value && text.includes(value)).map(([name]) => name);
    expect(leaked).toEqual([]);
    // Nor a recognisable fragment: a JWT header or the Basic scheme.
    expect(text).not.toContain('eyJ');
    expect(text).not.toMatch(/basic /i);
    expect(text).not.toContain('127.0.0.1');
  });

  test('an unmatched path is logged with a null route, not its URL', async () => {
    const before = stack.logs.length;
    const res = await fetch(`${stack.issuer}/no/such/path?code=abc123secret`, { dispatcher: rp.dispatcher });
    expect(res.status).toBe(404);
    const added = stack.logs.slice(before).join('');
    expect(added).toContain('"route":null');
    expect(added).not.toContain('abc123secret');
    expect(added).not.toContain('/no/such/path');
  });
});

describe('the logger', () => {
  test('cuts long strings, keeps its own time/level/msg fields, and survives a failing sink', () => {
    const lines: string[] = [];
    const logger = createLogger((l) => void lines.push(l), () => 0);
    logger.log('warn', 'x', { long: 'a'.repeat(MAX_FIELD_LENGTH + 50), level: 'forged', n: 1, skip: undefined });
    const entry = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(entry).toEqual({ time: '1970-01-01T00:00:00.000Z', level: 'warn', msg: 'x', long: `${'a'.repeat(MAX_FIELD_LENGTH)}…`, n: 1 });
    const failing = createLogger(() => { throw new Error('disk full'); });
    expect(() => logRequest(failing, { requestId: 'r', method: 'GET', route: '/', status: 500, durationMs: 1 })).not.toThrow();
  });

  test('a 5xx response is logged at level error', () => {
    const lines: string[] = [];
    logRequest(createLogger((l) => void lines.push(l)), { requestId: 'r', method: 'GET', route: '/x', status: 503, durationMs: 1.234 });
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 'error', status: 503, durationMs: 1.23 });
  });
});
