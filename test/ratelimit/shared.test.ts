// Request rate-limit counters work across instances (docs/configuration.md "`rate_limits`"), in
// PostgreSQL by default and in Redis with `cache`. Two instances (two AppContexts and TLS listeners
// on one database, one master key) share rate_limits.token_endpoints.per_client: what one has
// counted, the other refuses on, once they have exchanged counts (servers do it every second; the
// tests call syncRateLimits).
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { searchEvents } from '../../src/audit/search.js';
import { syncRateLimits } from '../../src/http/request-rate-limits.js';
import { createContext, startServer, type RunningServer } from '../../src/server/start.js';
import type { AppContext } from '../../src/context/app-context.js';
import { postgresAdapter } from '../storage/databases.js';
import { post, relyingParty, type Rp } from '../support/flows.js';
import { startTestStack, type TestStack } from '../support/stack.js';

const MINUTE = 60_000;
let clock = Math.floor(Date.now() / MINUTE) * MINUTE;
const LIMIT = 5;

describe.each([
  { name: 'PostgreSQL', cache: undefined },
  { name: 'Redis', cache: 'redis://127.0.0.1:6379/0' },
])('request rate limits shared by two instances ($name)', ({ cache }) => {
  let stack: TestStack;
  let rp: Rp;
  let second: AppContext & { close(): Promise<void> };
  let server: RunningServer;
  let cc: { id: string; secret: string };

  beforeAll(async () => {
    stack = await startTestStack({
      adapter: postgresAdapter,
      // background: false: the exchanges happen when the test says, not every second.
      context: { now: () => clock, background: false },
      configure: (c) => {
        c.rate_limits.token_endpoints.per_client = LIMIT;
        c.rate_limits.token_endpoints.per_address = 1000;
        if (cache) c.cache = cache;
      },
    });
    rp = await relyingParty(stack);
    cc = { id: stack.demo.cc_client_id, secret: stack.demo.cc_client_secret };
    const config = stack.ctx.config;
    second = await createContext({ ...config, listen: { ...config.listen, port: 0 } }, { env: {}, log: () => undefined, now: () => clock, background: false });
    server = await startServer(second);
  });
  afterAll(async () => {
    await server?.close();
    await second?.close();
    await stack?.close();
  });

  const token = (url: string) => post(rp, `${url}/token`, { grant_type: 'client_credentials', resource: stack.demo.resource }, cc);

  test('what one instance counted, the other refuses on after they exchange counts; a new minute starts afresh', async () => {
    clock = Math.floor(clock / MINUTE) * MINUTE + MINUTE;
    const a = stack.issuer;
    const b = server.url;
    for (let i = 0; i < 3; i++) expect((await token(a)).status).toBe(200);
    await syncRateLimits(stack.ctx);
    for (let i = 0; i < 2; i++) expect((await token(b)).status).toBe(200);
    await syncRateLimits(second);
    // 3 at A + 3 at B > 5: B refuses, though it has counted only 3 itself.
    const refusedAtB = await token(b);
    expect([refusedAtB.status, refusedAtB.json.error]).toEqual([429, 'temporarily_unavailable']);
    // A learns of B's requests at its next exchange (its counts did not change: a refresh).
    await syncRateLimits(stack.ctx);
    const refusedAtA = await token(a);
    expect([refusedAtA.status, refusedAtA.json.error]).toEqual([429, 'temporarily_unavailable']);
    const refusals = (await searchEvents(stack.ctx.storage.sql, { type: 'token.failed', since: clock, limit: 100 })).filter((e) => e.reason === 'rate_limited');
    expect(refusals).toHaveLength(2);
    expect(refusals.every((e) => e.actor.clientId === cc.id && e.details?.limit === 'rate_limits.token_endpoints.per_client')).toBe(true);

    clock += MINUTE;
    expect((await token(b)).status).toBe(200);
    expect((await token(a)).status).toBe(200);
  });

  test('the shared store holds keyed digests only: no client id or address', async () => {
    let names: string[];
    if (cache) {
      const redis = new Redis(cache);
      try {
        names = await redis.keys('caduceus:ratelimit:*');
      } finally {
        redis.disconnect();
      }
    } else {
      const rows = await stack.ctx.storage.sql.all<{ limit_name: string; key_digest: string }>('SELECT limit_name, key_digest FROM rate_limit_counts');
      names = rows.map((r) => `${r.limit_name}:${r.key_digest}`);
    }
    expect(names.length).toBeGreaterThan(0);
    for (const plain of [cc.id, '127.0.0.1']) expect(names.join(' ')).not.toContain(plain);
  });
});
