// Automatic logoff per client (45 CFR 164.312(a)(2)(iii)): `clients[].session` in the
// configuration file and the limits of CLI-managed clients, capped by the global `session.*`, at
// the authorization step, over real TLS on a frozen clock, on SQLite and PostgreSQL.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { addClient } from '../../src/admin/clients.js';
import { searchEvents } from '../../src/audit/search.js';
import { clientSchema } from '../../src/config/schema.js';
import { effectiveSessionLimits, exceededSessionLimit } from '../../src/interaction/client-session-policy.js';
import { DEMO_REDIRECT_URI, DEMO_SCOPE } from '../../src/server/dev-stack.js';
import { Browser, formAction, hiddenCsrf, scopeBoxes, type Step } from '../support/browserless.js';
import { authorizationUrl, frontChannel, relyingParty, type Rp } from '../support/flows.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { testAdapters } from '../storage/databases.js';

const adapters = await testAdapters();
const SECOND = 1000;
const SESSION_COOKIE = '__Host-caduceus-session';
let clock = Math.floor(Date.now() / 30_000) * 30_000 + 10_000;

/** A CLI-managed client with a 60 s idle limit, one whose limits are above the global ones, and a static client with a 600 s absolute limit. */
const IDLE_APP = 'idle-app';
const LOOSE_APP = 'loose-app';
const STATIC_APP = 'static-short-app';

describe('effective limits', () => {
  const global = { idle_timeout: 900, absolute_timeout: 43_200 };

  test('each limit is the smallest of the client\'s values and the global one; unset values leave the global one', () => {
    expect(effectiveSessionLimits(global)).toEqual({ idleTimeout: 900, absoluteTimeout: 43_200 });
    expect(effectiveSessionLimits(global, { idleTimeout: 60 })).toEqual({ idleTimeout: 60, absoluteTimeout: 43_200 });
    expect(effectiveSessionLimits(global, { absoluteTimeout: 600 }, { idleTimeout: 120, absoluteTimeout: 3600 })).toEqual({ idleTimeout: 120, absoluteTimeout: 600 });
  });

  test('a client value above the global one is capped by it', () => {
    expect(effectiveSessionLimits(global, { idleTimeout: 3600, absoluteTimeout: 86_400 })).toEqual({ idleTimeout: 900, absoluteTimeout: 43_200 });
  });

  test('a session reaching a limit exceeds it; idle runs from the last use before this request, absolute from the start', () => {
    const limits = { idleTimeout: 60, absoluteTimeout: 600 };
    const t = 1_700_000_000_000;
    expect(exceededSessionLimit(limits, { createdAt: t, previousSeenAt: t }, t + 59_999)).toBeUndefined();
    expect(exceededSessionLimit(limits, { createdAt: t, previousSeenAt: t }, t + 60_000)).toBe('idle');
    expect(exceededSessionLimit(limits, { createdAt: t, previousSeenAt: t + 590_000 }, t + 599_999)).toBeUndefined();
    expect(exceededSessionLimit(limits, { createdAt: t, previousSeenAt: t + 590_000 }, t + 600_000)).toBe('absolute');
    expect(exceededSessionLimit(limits, { createdAt: t, previousSeenAt: t }, t + 700_000)).toBe('absolute');
  });
});

describe.each(adapters)('per-client session limits on $name', (adapter) => {
  let stack: TestStack;
  let plain: Rp;
  let idle: Rp;
  let loose: Rp;
  let staticApp: Rp;
  let origin: string;
  let userId: string;

  beforeAll(async () => {
    stack = await startTestStack({
      adapter,
      context: { now: () => clock },
      configure: (c) => {
        c.clients.push(clientSchema.parse({
          client_id: STATIC_APP, name: 'Static Short App', redirect_uris: [DEMO_REDIRECT_URI], scope: DEMO_SCOPE,
          resources: [c.resources[0]!.uri], token_endpoint_auth_method: 'none', session: { absolute_timeout: 600 },
        }));
      },
    });
    const deps = { storage: stack.ctx.storage, masterKey: stack.ctx.masterKey, audit: stack.ctx.audit, now: stack.ctx.now, actor: 'test' };
    const client = (client_id: string, session: { idle_timeout?: number; absolute_timeout?: number }) => addClient(deps, {
      client_id, name: client_id, grant_types: ['authorization_code'], redirect_uris: [DEMO_REDIRECT_URI], scope: DEMO_SCOPE,
      resources: [stack.demo.resource], token_endpoint_auth_method: 'none', session,
    }, [stack.demo.resource]);
    await client(IDLE_APP, { idle_timeout: 60 });
    await client(LOOSE_APP, { idle_timeout: 3600, absolute_timeout: 86_400 });
    plain = await relyingParty(stack);
    idle = { ...plain, client: { client_id: IDLE_APP } };
    loose = { ...plain, client: { client_id: LOOSE_APP } };
    staticApp = { ...plain, client: { client_id: STATIC_APP } };
    origin = new URL(stack.issuer).origin;
    userId = (await stack.ctx.storage.users.getByUsername(stack.demo.username))!.id;
  });
  afterAll(async () => stack?.close());

  /** A new authorization request of `rp` in `browser`, followed until a page or the redirect to the client. */
  async function authorize(rp: Rp, browser: Browser, extra: Record<string, string> = {}): Promise<Step> {
    const { url } = await authorizationUrl(rp, { extra });
    return browser.follow(url.href, origin);
  }

  /** Signs in (and consents) for each client in a new browser; the last step is the redirect with a code. */
  async function signedIn(...rps: Rp[]): Promise<Browser> {
    const browser = new Browser(plain.dispatcher);
    for (const rp of rps) {
      const flow = await frontChannel(rp, { browser });
      expectCode(flow.final);
    }
    return browser;
  }

  function expectCode(step: Step) {
    expect(step.status, step.body.slice(0, 200)).toBe(303);
    const location = new URL(step.location!);
    expect(`${location.origin}${location.pathname}`).toBe(DEMO_REDIRECT_URI);
    expect(location.searchParams.get('code')).toBeTruthy();
  }

  function expectPasswordPage(step: Step) {
    expect(step.status).toBe(200);
    expect(step.body).toContain('type="password"');
  }

  const clientLimitEvents = (clientId: string) => searchEvents(stack.ctx.storage.sql, { type: 'session.expired', client: clientId, limit: 10 });

  test('a client with a 60 s idle limit asks for the password again after 61 idle seconds, while a client without limits reuses a session as idle', async () => {
    const a = await signedIn(idle, plain);
    const b = await signedIn(idle, plain);
    const before = (await clientLimitEvents(IDLE_APP)).length;
    clock += 61 * SECOND;

    expectPasswordPage(await authorize(idle, a));
    expect(a.jar.has(SESSION_COOKIE)).toBe(false);
    expectCode(await authorize(plain, b));

    const events = await clientLimitEvents(IDLE_APP);
    expect(events).toHaveLength(before + 1);
    expect(events[0]).toMatchObject({
      outcome: 'success', action: 'client_limit', reason: 'client_idle_timeout', actor: { userId, clientId: IDLE_APP },
      details: { limit: 'idle', limit_seconds: 60 },
    });
    expect(JSON.stringify(events[0])).not.toContain(stack.demo.username);

    // Signing in again gives a fresh session that serves both clients.
    const again = await frontChannel(idle, { browser: a });
    expect(again.pages.map((p) => p.body.includes('type="password"'))).toEqual([true]);
    expectCode(again.final);
    expectCode(await authorize(plain, a));
  });

  test('a consent page left open beyond the client\'s idle limit cannot be submitted: the password is asked again, no code', async () => {
    const browser = await signedIn(idle);
    const consent = await authorize(idle, browser, { prompt: 'consent' });
    expect(consent.status).toBe(200);
    expect(consent.body).toContain('name="decision"');
    clock += 61 * SECOND;
    const submitted = await browser.request(formAction(consent), { form: { csrf: hiddenCsrf(consent), scope: scopeBoxes(consent), decision: 'allow' } });
    expectPasswordPage(submitted);
    expect(submitted.location).toBeUndefined();
    expect(browser.jar.has(SESSION_COOKIE)).toBe(false);
    expect((await clientLimitEvents(IDLE_APP))[0]).toMatchObject({ reason: 'client_idle_timeout', actor: { userId, clientId: IDLE_APP } });
  });

  test('59 idle seconds are within the 60 s limit: the client reuses the session', async () => {
    const browser = await signedIn(idle);
    clock += 59 * SECOND;
    expectCode(await authorize(idle, browser));
    expect(browser.jar.has(SESSION_COOKIE)).toBe(true);
  });

  test('the sign-in page shown for the idle limit does not refresh the idle time: a second try still needs the password', async () => {
    const browser = await signedIn(idle, plain);
    clock += 61 * SECOND;
    expectPasswordPage(await authorize(idle, browser));
    clock += 5 * SECOND;
    expectPasswordPage(await authorize(idle, browser));
  });

  test('with prompt=none, a session beyond the client\'s idle limit gets login_required at the redirect URI, with state', async () => {
    const browser = await signedIn(idle);
    clock += 61 * SECOND;
    const res = await authorize(idle, browser, { prompt: 'none', state: 'quiet-1' });
    expect(res.status).toBe(303);
    const location = new URL(res.location!);
    expect(`${location.origin}${location.pathname}`).toBe(DEMO_REDIRECT_URI);
    expect(location.searchParams.get('error')).toBe('login_required');
    expect(location.searchParams.get('state')).toBe('quiet-1');
    expect(location.searchParams.get('code')).toBeNull();
  });

  test('a static client with a 600 s absolute limit asks for the password again 10 minutes after sign-in, however active the session', async () => {
    const a = await signedIn(staticApp, plain);
    const b = await signedIn(staticApp, plain);
    for (let i = 0; i < 2; i++) {
      clock += 200 * SECOND;
      expectCode(await authorize(staticApp, a));
      expectCode(await authorize(plain, b));
    }
    clock += 200 * SECOND;
    expectPasswordPage(await authorize(staticApp, a));
    expectCode(await authorize(plain, b));
    expect((await clientLimitEvents(STATIC_APP))[0]).toMatchObject({
      reason: 'client_absolute_timeout', actor: { userId, clientId: STATIC_APP }, details: { limit: 'absolute', limit_seconds: 600 },
    });
  });

  test('limits above the global ones are capped: a 3600 s idle limit still ends at the global 900 s', async () => {
    const browser = await signedIn(loose);
    clock += 899 * SECOND;
    expectCode(await authorize(loose, browser));
    clock += 901 * SECOND;
    expectPasswordPage(await authorize(loose, browser));
    const [expired] = await searchEvents(stack.ctx.storage.sql, { type: 'session.expired', actor: userId, limit: 1 });
    expect(expired).toMatchObject({ reason: 'idle_timeout', actor: { userId } });
    expect(await clientLimitEvents(LOOSE_APP)).toEqual([]);
  });
});
