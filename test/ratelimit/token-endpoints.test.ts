// rate_limits.token_endpoints on a real server and a controlled clock: every request to /token,
// /introspect, /revoke and /par counts (successes too), per presented client id and per address;
// over the limit the answer is 429 with Retry-After and an RFC 6749 error body, and the first
// refusal per key and minute is audited once as token.failed, reason rate_limited.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { searchEvents } from '../../src/audit/search.js';
import type { AuditEvent } from '../../src/audit/events.js';
import { post, relyingParty, type Rp } from '../support/flows.js';
import { startTestStack, type TestStack } from '../support/stack.js';

const MINUTE = 60_000;
// Windows are aligned to the clock: the tests start each minute on its boundary.
let clock = Math.floor(Date.now() / MINUTE) * MINUTE;

const rateLimited = async (stack: TestStack, since: number): Promise<AuditEvent[]> =>
  (await searchEvents(stack.ctx.storage.sql, { type: 'token.failed', since, limit: 1000 })).filter((e) => e.reason === 'rate_limited');

function expectRefused(res: Awaited<ReturnType<typeof post>>, retryAfter: number) {
  expect(res.status).toBe(429);
  expect(res.headers.get('retry-after')).toBe(String(retryAfter));
  expect(res.headers.get('cache-control')).toBe('no-store');
  expect(res.json).toEqual({ error: 'temporarily_unavailable', error_description: `too many requests; retry after ${retryAfter} seconds` });
}

describe('per client id (rate_limits.token_endpoints.per_client = 3)', () => {
  let stack: TestStack;
  let rp: Rp;
  let cc: { id: string; secret: string };
  const ccToken = () => post(rp, rp.as.token_endpoint!, { grant_type: 'client_credentials', resource: stack.demo.resource }, cc);

  beforeAll(async () => {
    stack = await startTestStack({
      context: { now: () => clock },
      configure: (c) => { c.rate_limits.token_endpoints.per_client = 3; c.rate_limits.token_endpoints.per_address = 1000; },
    });
    rp = await relyingParty(stack);
    cc = { id: stack.demo.cc_client_id, secret: stack.demo.cc_client_secret };
  });
  afterAll(async () => stack?.close());

  test('the 4th request of a client in a minute gets 429 with Retry-After and temporarily_unavailable; another client is unaffected', async () => {
    clock = Math.floor(clock / MINUTE) * MINUTE + MINUTE;
    const start = clock;
    for (let i = 0; i < 3; i++) expect((await ccToken()).status).toBe(200);
    expectRefused(await ccToken(), 60);
    clock += 20_500;
    expectRefused(await ccToken(), 40);

    // The demo app, from the same address, in the same minute: its own budget.
    const other = await post(rp, rp.as.token_endpoint!, { grant_type: 'client_credentials', resource: stack.demo.resource });
    expect(other.status).toBe(400);
    expect(other.json.error).toBe('unauthorized_client');
    expect((await post(rp, rp.as.introspection_endpoint!, { token: 'not-a-token' })).json).toEqual({ active: false });

    const events = await rateLimited(stack, start);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      outcome: 'denied', action: 'token', actor: { clientId: cc.id }, sourceAddress: '127.0.0.1',
      details: { limit: 'rate_limits.token_endpoints.per_client', max: 3, window_seconds: 60 },
    });
  });

  test('the window resets after a minute, and its first refusal is audited again', async () => {
    clock = Math.floor(clock / MINUTE) * MINUTE + MINUTE;
    const start = clock;
    for (let i = 0; i < 3; i++) expect((await ccToken()).status).toBe(200);
    for (let i = 0; i < 5; i++) expect((await ccToken()).status).toBe(429);
    clock = Math.floor(clock / MINUTE) * MINUTE + MINUTE;
    expect((await ccToken()).status).toBe(200);
    for (let i = 0; i < 3; i++) await ccToken();
    const events = await rateLimited(stack, start);
    expect(events).toHaveLength(2);
    expect(events.every((e) => e.actor.clientId === cc.id)).toBe(true);
  });

  test('introspection, revocation and PAR count toward the same budget and answer the same way', async () => {
    clock = Math.floor(clock / MINUTE) * MINUTE + MINUTE;
    const start = clock;
    const app = { id: stack.demo.client_id, secret: stack.demo.client_secret };
    expect((await post(rp, rp.as.introspection_endpoint!, { token: 'x' }, app)).status).toBe(200);
    expect((await post(rp, rp.as.revocation_endpoint!, { token: 'x' }, app)).status).toBe(200);
    expect((await post(rp, rp.as.introspection_endpoint!, { token: 'x' }, app)).status).toBe(200);
    expectRefused(await post(rp, rp.as.revocation_endpoint!, { token: 'x' }, app), 60);
    expectRefused(await post(rp, rp.as.introspection_endpoint!, { token: 'x' }, app), 60);
    expectRefused(await post(rp, rp.as.pushed_authorization_request_endpoint!, { response_type: 'code' }, app), 60);
    expectRefused(await post(rp, rp.as.token_endpoint!, { grant_type: 'refresh_token', refresh_token: 'x' }, app), 60);
    const events = await rateLimited(stack, start);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ action: 'revoke', actor: { clientId: app.id } });
  });

  test('an unknown client id is limited too, before authentication, and its failures stop reaching the ledger', async () => {
    clock = Math.floor(clock / MINUTE) * MINUTE + MINUTE;
    const start = clock;
    const nobody = { id: 'no-such-client', secret: 'wrong' };
    for (let i = 0; i < 3; i++) expect((await post(rp, rp.as.token_endpoint!, { grant_type: 'client_credentials' }, nobody)).status).toBe(401);
    for (let i = 0; i < 10; i++) expect((await post(rp, rp.as.token_endpoint!, { grant_type: 'client_credentials' }, nobody)).status).toBe(429);
    const failed = await searchEvents(stack.ctx.storage.sql, { type: 'token.failed', since: start, limit: 1000 });
    expect(failed.map((e) => e.reason).sort()).toEqual(['invalid_client', 'invalid_client', 'invalid_client', 'rate_limited']);
  });
});

describe('per address (rate_limits.token_endpoints.per_address = 5, per_client = 0: off)', () => {
  let stack: TestStack;
  let rp: Rp;

  beforeAll(async () => {
    stack = await startTestStack({
      context: { now: () => clock },
      configure: (c) => { c.rate_limits.token_endpoints.per_client = 0; c.rate_limits.token_endpoints.per_address = 5; },
    });
    rp = await relyingParty(stack);
  });
  afterAll(async () => stack?.close());

  test('the 6th request from one address in a minute is refused whichever client sends it, and audited once', async () => {
    clock = Math.floor(clock / MINUTE) * MINUTE + MINUTE;
    const start = clock;
    const cc = { id: stack.demo.cc_client_id, secret: stack.demo.cc_client_secret };
    const ccToken = () => post(rp, rp.as.token_endpoint!, { grant_type: 'client_credentials', resource: stack.demo.resource }, cc);
    // With per_client off, one client may use the whole address budget.
    for (let i = 0; i < 5; i++) expect((await ccToken()).status).toBe(200);
    expectRefused(await ccToken(), 60);
    expectRefused(await post(rp, rp.as.introspection_endpoint!, { token: 'x' }), 60);
    expectRefused(await post(rp, rp.as.token_endpoint!, { grant_type: 'client_credentials' }, null), 60);
    // The EHR launch API counts with them (it authenticates clients too).
    const ehr = { id: stack.demo.ehr_client_id!, secret: stack.demo.ehr_client_secret! };
    expectRefused(await post(rp, `${stack.issuer}/smart/launch`, { target_client_id: stack.demo.client_id, patient: 'demo-1' }, ehr), 60);
    const events = await rateLimited(stack, start);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ sourceAddress: '127.0.0.1', actor: { clientId: cc.id }, details: { limit: 'rate_limits.token_endpoints.per_address', max: 5 } });
    clock = Math.floor(clock / MINUTE) * MINUTE + MINUTE;
    expect((await ccToken()).status).toBe(200);
    expect((await post(rp, `${stack.issuer}/smart/launch`, { target_client_id: stack.demo.client_id, patient: 'demo-1' }, ehr)).status).toBe(201);
  });
});
