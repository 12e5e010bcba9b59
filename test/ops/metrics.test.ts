// Prometheus metrics on the admin listener: present after a full flow, labelled by route pattern,
// grant type and outcome only, never by an identifier of a person, client, token or address; and
// never served on the public listener.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fetch } from 'undici';
import { startOpsStack, type OpsStack } from './ops-stack.js';
import { codeFlow, introspect, post, refresh, relyingParty, type Rp } from '../support/flows.js';
import { recordCacheLookup, recordGatewayDecision, instrumentLedgerDriver, type GatewayOutcome } from '../../src/ops/metrics.js';
import { startTestStack } from '../support/stack.js';
import type { SqlDriver } from '../../src/storage/sql.js';

let stack: OpsStack;
let rp: Rp;
let adminUrl: string;
const identifiers: Record<string, string> = {};

beforeAll(async () => {
  stack = await startOpsStack();
  adminUrl = stack.server.adminUrl!;
  rp = await relyingParty(stack);
  const flow = await codeFlow(rp);
  const refreshed = await refresh(rp, flow.tokens.refresh_token!);
  expect(refreshed.status).toBe(200);
  await introspect(rp, flow.tokens.access_token);
  const cc = await post(rp, rp.as.token_endpoint!, { grant_type: 'client_credentials' }, { id: stack.demo.cc_client_id, secret: stack.demo.cc_client_secret });
  expect(cc.status).toBe(200);
  await stack.ctx.storage.sql.get('SELECT 1');
  const user = await stack.ctx.storage.users.getByUsername(stack.demo.username);
  Object.assign(identifiers, {
    'user id': user!.id, username: stack.demo.username, 'client id': stack.demo.client_id, 'backend client id': stack.demo.cc_client_id,
    'access token': flow.tokens.access_token, 'refresh token': flow.tokens.refresh_token!, 'rotated refresh token': refreshed.json.refresh_token as string,
    code: flow.code, 'client secret': stack.demo.client_secret, 'IP address': '127.0.0.1', 'fhirUser': 'Patient/demo-1', state: flow.state,
    'interaction id': new URL(flow.pages[0]!.url).pathname.split('/').pop()!,
  });
  // Let the ledger's batch-size observation (after each commit) run.
  await new Promise((r) => setTimeout(r, 50));
});
afterAll(async () => stack?.close());

const scrape = async () => {
  const res = await fetch(`${adminUrl}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/plain');
  return res.text();
};

/** The value of one sample line, e.g. value(text, 'caduceus_tokens_issued_total{grant_type="refresh_token"}'). */
const value = (text: string, sample: string): number => {
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line ? Number(line.slice(sample.length + 1)) : Number.NaN;
};

describe('the admin listener', () => {
  test('listens on loopback on its own port, not the public one', () => {
    expect(adminUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(new URL(adminUrl).port).not.toBe(new URL(stack.issuer).port);
  });

  test('/metrics is not served on the public listener (404)', async () => {
    const res = await fetch(`${stack.issuer}/metrics`, { dispatcher: rp.dispatcher });
    expect(res.status).toBe(404);
    expect(await res.text()).not.toContain('caduceus_');
  });

  test('serves /healthz and /readyz, refuses other methods (405) and paths (404)', async () => {
    expect((await fetch(`${adminUrl}/healthz`)).status).toBe(200);
    const ready = await fetch(`${adminUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready' });
    expect((await fetch(`${adminUrl}/metrics`, { method: 'POST' })).status).toBe(405);
    expect((await fetch(`${adminUrl}/token`)).status).toBe(404);
  });

  test('is off when admin.port is absent', async () => {
    const plain = await startTestStack();
    try {
      expect(plain.ctx.config.admin).toEqual({ host: '127.0.0.1' });
    } finally {
      await plain.close();
    }
  });
});

describe('metrics after a full flow', () => {
  test('count requests per route pattern and status class, with latency histograms', async () => {
    const text = await scrape();
    expect(value(text, 'caduceus_http_requests_total{method="POST",route="/token",status_class="2xx"}')).toBeGreaterThanOrEqual(3);
    expect(value(text, 'caduceus_http_requests_total{method="GET",route="/authorize",status_class="3xx"}')).toBeGreaterThanOrEqual(1);
    expect(text).toMatch(/^caduceus_http_requests_total\{method="POST",route="\/interaction\/:[A-Za-z]+[^"]*",status_class="3xx"\} \d+$/m);
    expect(value(text, 'caduceus_http_request_duration_seconds_count{method="POST",route="/token",status_class="2xx"}')).toBeGreaterThanOrEqual(3);
    expect(text).toContain('caduceus_http_request_duration_seconds_bucket{le="0.005",method="POST",route="/token",status_class="2xx"}');
  });

  test('count tokens issued by grant type', async () => {
    const text = await scrape();
    for (const grant of ['authorization_code', 'refresh_token', 'client_credentials']) {
      expect(value(text, `caduceus_tokens_issued_total{grant_type="${grant}"}`)).toBeGreaterThanOrEqual(1);
    }
  });

  test('export the audit ledger: events, transactions, batch sizes and commit latency', async () => {
    const text = await scrape();
    const events = value(text, 'caduceus_ledger_events_total');
    const transactions = value(text, 'caduceus_ledger_transactions_total');
    expect(events).toBeGreaterThanOrEqual(5);
    expect(transactions).toBeGreaterThanOrEqual(1);
    expect(transactions).toBeLessThanOrEqual(events);
    expect(value(text, 'caduceus_ledger_failed_transactions_total')).toBe(0);
    // The registry is per process: batch sizes of other (closed) contexts in this process stay in the histogram.
    expect(value(text, 'caduceus_ledger_batch_size_sum')).toBeGreaterThanOrEqual(events);
    expect(value(text, 'caduceus_ledger_commit_duration_seconds_count')).toBeGreaterThanOrEqual(transactions);
  });

  test('export the signing-key cache hit ratio, gateway decisions and process figures', async () => {
    recordGatewayDecision('allowed');
    recordGatewayDecision('denied');
    recordGatewayDecision('Patient/123' as GatewayOutcome);
    recordCacheLookup('token_status', true);
    const text = await scrape();
    expect(value(text, 'caduceus_cache_requests_total{cache="signing_keys",result="hit"}')).toBeGreaterThanOrEqual(1);
    expect(value(text, 'caduceus_gateway_decisions_total{outcome="allowed"}')).toBe(1);
    expect(value(text, 'caduceus_gateway_decisions_total{outcome="other"}')).toBe(1);
    expect(text).not.toContain('Patient/123');
    expect(value(text, 'caduceus_cache_requests_total{cache="token_status",result="hit"}')).toBe(1);
    expect(text).toContain('process_resident_memory_bytes');
    expect(value(text, 'caduceus_readiness_check{check="database"}')).toBe(1);
  });

  test('hold no identifier of a person, client, token or address', async () => {
    const text = await scrape();
    expect(Object.keys(identifiers).length).toBeGreaterThan(10);
    const leaked = Object.entries(identifiers).filter(([, v]) => v && text.includes(v)).map(([k]) => k);
    expect(leaked).toEqual([]);
    // Every label value of our metrics comes from a closed set.
    const labelValues = new Set([...text.matchAll(/^caduceus_[a-z_]+\{([^}]*)\}/gm)].flatMap((m) => [...m[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((l) => `${l[1]}=${l[2]}`)));
    for (const lv of labelValues) {
      const [name, v] = lv.split('=') as [string, string];
      const allowed: Record<string, RegExp> = {
        method: /^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS|other)$/, status_class: /^[1-5]xx$/, le: /^[0-9.e+]+|\+Inf$/,
        route: /^(\/[A-Za-z0-9_.:\/-]*|unmatched)$/, grant_type: /^(authorization_code|refresh_token|client_credentials)$/,
        outcome: /^[a-z_]+$/, cache: /^[a-z_]+$/, result: /^(hit|miss)$/, check: /^(database|ledger|keys|cache)$/,
      };
      expect(allowed[name], `unexpected label ${name}`).toBeDefined();
      expect(v, lv).toMatch(allowed[name]!);
    }
  });
});

describe('the instrumented ledger driver', () => {
  test('remembers a failed transaction until the next one commits', async () => {
    let fail = true;
    const inner = {
      dialect: 'sqlite',
      async transaction(fn: (tx: never) => Promise<unknown>) {
        if (fail) throw new Error('disk I/O error');
        return fn({} as never);
      },
    } as unknown as SqlDriver;
    const probe = instrumentLedgerDriver(inner, () => 42);
    expect(probe.lastFailureAt()).toBeUndefined();
    await expect(probe.driver.transaction(async () => 1)).rejects.toThrow('disk I/O error');
    expect(probe.lastFailureAt()).toBe(42);
    fail = false;
    await expect(probe.driver.transaction(async () => 2)).resolves.toBe(2);
    expect(probe.lastFailureAt()).toBeUndefined();
  });
});
