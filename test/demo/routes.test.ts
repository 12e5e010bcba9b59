// The /demo walkthrough routes: only on a seeded dev stack, PKCE S256 with a __Host- cookie, and a
// callback that refuses a state it did not send.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fetch } from 'undici';
import { devConfig } from '../../src/server/dev-stack.js';
import { createContext } from '../../src/server/start.js';
import { buildApp } from '../../src/server/app.js';
import { startTestStack, trustingDispatcher, type TestStack } from '../support/stack.js';

let stack: TestStack;
beforeAll(async () => { stack = await startTestStack(); });
afterAll(async () => { await stack?.close(); });

test('without the seeded walkthrough client (any non-dev configuration) there is no /demo', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'caduceus-nodemo-'));
  const { config } = await devConfig({ dataDir, port: 18999 });
  const ctx = await createContext(config, { env: {}, log: () => undefined });
  try {
    const app = await buildApp(ctx);
    for (const url of ['/demo', '/demo/start', '/demo/callback', '/demo/flow']) {
      expect((await app.inject({ method: 'GET', url })).statusCode).toBe(404);
    }
    await app.close();
  } finally {
    await ctx.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('/demo/start redirects to /authorize with PKCE S256 and binds the request to a __Host- cookie', async () => {
  const dispatcher = trustingDispatcher(stack.ca);
  const res = await fetch(`${stack.issuer}/demo/start`, { redirect: 'manual', dispatcher });
  expect(res.status).toBe(303);
  const location = new URL(res.headers.get('location')!, stack.issuer);
  expect(location.pathname).toBe('/authorize');
  expect(location.searchParams.get('code_challenge_method')).toBe('S256');
  expect(location.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
  expect(location.searchParams.get('redirect_uri')).toBe(`${stack.issuer}/demo/callback`);
  expect(location.searchParams.get('client_id')).toBe(stack.demo.walkthrough_client_id);
  const cookie = res.headers.get('set-cookie')!;
  expect(cookie).toMatch(/^__Host-caduceus-demo=[A-Za-z0-9_-]{43}; Path=\/; Secure; HttpOnly; SameSite=Lax; Max-Age=600/);

  // A callback with another state (or without the cookie) is refused and redeems nothing.
  const jar = cookie.split(';')[0]!;
  const bad = await fetch(`${stack.issuer}/demo/callback?code=x&state=other&iss=${encodeURIComponent(stack.issuer)}`, { headers: { cookie: jar }, redirect: 'manual', dispatcher });
  expect(bad.status).toBe(400);
  expect(await bad.text()).toContain('state');
  const noCookie = await fetch(`${stack.issuer}/demo/callback?code=x&state=${location.searchParams.get('state')}`, { redirect: 'manual', dispatcher });
  expect(noCookie.status).toBe(400);
  const wrongIss = await fetch(`${stack.issuer}/demo/callback?code=x&state=${location.searchParams.get('state')}&iss=https://evil.example`, { headers: { cookie: jar }, redirect: 'manual', dispatcher });
  expect(wrongIss.status).toBe(400);
  expect(await wrongIss.text()).toContain('issuer');
  // The flow page needs tokens: back to the start.
  const flow = await fetch(`${stack.issuer}/demo/flow`, { headers: { cookie: jar }, redirect: 'manual', dispatcher });
  expect(flow.status).toBe(303);
});
