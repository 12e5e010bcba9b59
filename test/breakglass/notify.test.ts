// The break-glass webhook (src/breakglass/notify.ts) against a real HTTP receiver on 127.0.0.1 and
// a real ledger on SQLite: what is sent, how it is signed, and what happens when delivery fails.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { searchEvents } from '../../src/audit/search.js';
import { DELIVERY_LEASE_MS, notifyBreakGlass, redeliverDue, REDELIVERY_WINDOW_MS, webhookKey } from '../../src/breakglass/notify.js';
import { loadMasterKey } from '../../src/crypto/master-key.js';
import { createContext, type ContextOptions } from '../../src/server/start.js';
import type { AppContext } from '../../src/context/app-context.js';
import type { BreakGlassAccessRecord } from '../../src/storage/types.js';
import { createDataDir, runCli, type DataDir } from '../cli/harness.js';
import { freePort } from '../support/stack.js';

const REASON = 'Unconscious patient in the emergency department, no panel assignment yet';

let data: DataDir;
beforeAll(async () => { data = await createDataDir(); });
afterAll(() => data?.remove());

interface Received { method: string; url: string; headers: IncomingMessage['headers']; body: string }

/** A webhook receiver on 127.0.0.1 that answers each request with the next handler (the last one repeats). */
async function receiver(...handlers: Array<(res: ServerResponse) => void>): Promise<{ url: string; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      handlers[Math.min(received.length - 1, handlers.length - 1)]!(res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/breakglass`,
    received,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

const status = (code: number, headers: Record<string, string> = {}) => (res: ServerResponse) => { res.writeHead(code, headers); res.end(); };

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function context(webhookUrl: string | undefined, options: ContextOptions = {}): Promise<AppContext> {
  const config = { ...data.config, breakglass: { token_ttl_seconds: 900, ...(webhookUrl ? { webhook_url: webhookUrl } : {}) } };
  const ctx = await createContext(config, { env: {}, log: () => undefined, ...options });
  cleanups.push(() => ctx.close());
  return ctx;
}

let counter = 0;
async function access(ctx: AppContext): Promise<BreakGlassAccessRecord> {
  counter += 1;
  const now = Date.UTC(2026, 0, 15, 3, 4, 5);
  const record: BreakGlassAccessRecord = {
    id: `bg_notify_${counter}`, userId: 'u_practitioner_1', clientId: 'ehr-app', grantId: `g_notify_${counter}`, patient: `p-${counter}`,
    reason: REASON, createdAt: now, expiresAt: now + 900_000, reviewedAt: null, reviewedBy: null, reviewOutcome: null, reviewNote: null,
  };
  await ctx.storage.breakGlass.create(record);
  return record;
}

async function failures(ctx: AppContext, id: string) {
  const events = await searchEvents(ctx.storage.sql, { type: 'breakglass.notify_failed', limit: 1000 });
  return events.filter((e) => e.details?.breakglass_id === id);
}

describe('break-glass webhook', () => {
  it('POSTs identifiers only (no reason text), signed with HMAC-SHA-256 under the key "caduceus breakglass webhook-key" prints', async () => {
    const hook = await receiver(status(204));
    cleanups.push(hook.close);
    const ctx = await context(hook.url);
    const a = await access(ctx);
    await expect(notifyBreakGlass(ctx, a)).resolves.toBeUndefined();

    expect(hook.received).toHaveLength(1);
    const [req] = hook.received;
    expect(req!.method).toBe('POST');
    expect(req!.url).toBe('/hooks/breakglass');
    expect(req!.headers['content-type']).toBe('application/json');
    expect(JSON.parse(req!.body)).toEqual({
      type: 'breakglass.granted', id: a.id, user_id: 'u_practitioner_1', client_id: 'ehr-app', patient: `Patient/${a.patient}`,
      created_at: '2026-01-15T03:04:05.000Z', expires_at: '2026-01-15T03:19:05.000Z', issuer: data.config.issuer,
    });
    expect(req!.body).not.toContain('Unconscious');
    expect(req!.body).not.toContain('reason');

    // The receiver's check, with the key as the operator hands it over (hex from the CLI).
    const printed = await runCli(['breakglass', 'webhook-key', '--data', data.dir]);
    expect(printed.code, printed.stderr).toBe(0);
    const hex = printed.stdout.trim();
    expect(hex).toMatch(/^[0-9a-f]{64}$/);
    expect(hex).toBe(webhookKey(loadMasterKey({ env: {}, file: data.config.master_key_file })).toString('hex'));
    const signature = String(req!.headers['x-caduceus-signature']);
    expect(signature).toMatch(/^sha256=[0-9a-f]{64}$/);
    const expected = createHmac('sha256', Buffer.from(hex, 'hex')).update(req!.body).digest();
    expect(timingSafeEqual(Buffer.from(signature.slice('sha256='.length), 'hex'), expected)).toBe(true);
    // A body changed by one byte no longer verifies.
    const tampered = createHmac('sha256', Buffer.from(hex, 'hex')).update(req!.body.replace(a.patient, 'p-999')).digest('hex');
    expect(signature).not.toBe(`sha256=${tampered}`);

    expect(await failures(ctx, a.id)).toEqual([]);
  });

  it('the webhook key is not the key of any other purpose and "webhook-key --json" names the header', async () => {
    const key = webhookKey(loadMasterKey({ env: {}, file: data.config.master_key_file }));
    const master = loadMasterKey({ env: {}, file: data.config.master_key_file });
    for (const other of ['audit-checkpoint', 'session', 'csrf', 'smart-launch'] as const) expect(master.digestKey(other).equals(key)).toBe(false);
    const run = await runCli(['breakglass', 'webhook-key', '--data', data.dir, '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ algorithm: 'HMAC-SHA256', header: 'x-caduceus-signature', key: key.toString('hex') });
  });

  it('a 500 is retried once, then recorded as breakglass.notify_failed (reason http_500) without rejecting', async () => {
    const hook = await receiver(status(500));
    cleanups.push(hook.close);
    const ctx = await context(hook.url);
    const a = await access(ctx);
    await expect(notifyBreakGlass(ctx, a)).resolves.toBeUndefined();
    expect(hook.received).toHaveLength(2);
    expect(hook.received[1]!.body).toBe(hook.received[0]!.body);
    const events = await failures(ctx, a.id);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'breakglass.notify_failed', outcome: 'error', reason: 'http_500', patient: `Patient/${a.patient}`, grantId: a.grantId,
      actor: { userId: a.userId, clientId: a.clientId }, details: { breakglass_id: a.id, attempts: 2, status: 500 },
    });
    expect(JSON.stringify(events[0])).not.toContain('Unconscious');
  });

  it('a failed first attempt that succeeds on the retry records no failure', async () => {
    const hook = await receiver(status(503), status(200));
    cleanups.push(hook.close);
    const ctx = await context(hook.url);
    const a = await access(ctx);
    await notifyBreakGlass(ctx, a);
    expect(hook.received).toHaveLength(2);
    expect(await failures(ctx, a.id)).toEqual([]);
  });

  it('a refused connection is recorded as breakglass.notify_failed (reason network) without rejecting', async () => {
    const port = await freePort(); // nothing listens there
    const ctx = await context(`http://127.0.0.1:${port}/hook`);
    const a = await access(ctx);
    await expect(notifyBreakGlass(ctx, a)).resolves.toBeUndefined();
    const events = await failures(ctx, a.id);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ reason: 'network', outcome: 'error', details: { breakglass_id: a.id, attempts: 2 } });
  });

  it('a receiver that does not answer in time is recorded as breakglass.notify_failed (reason timeout)', async () => {
    const hook = await receiver(() => undefined); // never answers
    cleanups.push(hook.close);
    const ctx = await context(hook.url);
    const a = await access(ctx);
    const started = Date.now();
    await expect(notifyBreakGlass(ctx, a, { timeoutMs: 200 })).resolves.toBeUndefined();
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(hook.received).toHaveLength(2);
    expect((await failures(ctx, a.id))[0]).toMatchObject({ reason: 'timeout', details: { attempts: 2 } });
  });

  it('a redirect is not followed: the signed body goes nowhere else, and it counts as a failure (http_302)', async () => {
    const elsewhere = await receiver(status(204));
    cleanups.push(elsewhere.close);
    const hook = await receiver(status(302, { location: elsewhere.url }));
    cleanups.push(hook.close);
    const ctx = await context(hook.url);
    const a = await access(ctx);
    await notifyBreakGlass(ctx, a);
    expect(elsewhere.received).toEqual([]);
    expect((await failures(ctx, a.id))[0]).toMatchObject({ reason: 'http_302', details: { status: 302 } });
  });

  it('without breakglass.webhook_url nothing is sent and nothing is recorded', async () => {
    const ctx = await context(undefined);
    const a = await access(ctx);
    await expect(notifyBreakGlass(ctx, a)).resolves.toBeUndefined();
    expect(await failures(ctx, a.id)).toEqual([]);
  });

  it('when the ledger cannot record the failure either, one log line without identifiers says so, and the promise still resolves', async () => {
    const lines: string[] = [];
    const port = await freePort();
    const ctx = await context(`http://127.0.0.1:${port}/hook`, {
      log: (line) => lines.push(line),
      wrapAudit: (ledger) => ({
        record: async (event) => {
          if (event.type === 'breakglass.notify_failed') throw new Error('ledger unavailable');
          await ledger.record(event);
        },
      }),
    });
    const a = await access(ctx);
    await expect(notifyBreakGlass(ctx, a)).resolves.toBeUndefined();
    const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.component === 'breakglass');
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ level: 'error', reason: 'network' });
    const text = lines.join('');
    for (const id of [a.id, a.userId, a.clientId, a.patient, a.grantId, 'Unconscious']) expect(text).not.toContain(id);
    expect(await failures(ctx, a.id)).toEqual([]);
  });
});

describe('break-glass webhook redelivery', () => {
  /** A clock the test moves. */
  const clock = (start: number) => {
    let t = start;
    return { now: () => t, set: (v: number) => { t = v; } };
  };
  const T = Date.UTC(2026, 5, 1, 12, 0, 0);

  async function freshAccess(ctx: AppContext, createdAt: number): Promise<BreakGlassAccessRecord> {
    counter += 1;
    const record: BreakGlassAccessRecord = {
      id: `bg_redeliver_${counter}`, userId: 'u_practitioner_1', clientId: 'ehr-app', grantId: `g_redeliver_${counter}`, patient: `p-${counter}`,
      reason: REASON, createdAt, expiresAt: createdAt + 900_000, reviewedAt: null, reviewedBy: null, reviewOutcome: null, reviewNote: null,
    };
    await ctx.storage.breakGlass.create(record);
    return record;
  }
  const events = async (ctx: AppContext, type: 'breakglass.notified' | 'breakglass.notify_failed', id: string) =>
    (await searchEvents(ctx.storage.sql, { type, limit: 1000 })).filter((e) => e.details?.breakglass_id === id);

  it('a notification that failed is delivered by a later round when it is due, and the ledger records both', async () => {
    const hook = await receiver(status(500), status(500), status(204));
    cleanups.push(hook.close);
    const time = clock(T);
    const ctx = await context(hook.url, { now: time.now, background: false });
    const a = await freshAccess(ctx, T);
    await notifyBreakGlass(ctx, a);
    expect(hook.received).toHaveLength(2);
    const [failed] = await events(ctx, 'breakglass.notify_failed', a.id);
    expect(failed).toMatchObject({ reason: 'http_500', details: { breakglass_id: a.id, attempts: 2, round: 1, final: false, next_round_at: T + 60_000 } });
    // Not due yet: nothing is sent.
    time.set(T + 59_000);
    expect(await redeliverDue(ctx)).toBe(0);
    expect(hook.received).toHaveLength(2);
    time.set(T + 61_000);
    expect(await redeliverDue(ctx)).toBe(1);
    expect(hook.received).toHaveLength(3);
    expect(hook.received[2]!.body).toBe(hook.received[0]!.body);
    expect(await events(ctx, 'breakglass.notified', a.id)).toEqual([expect.objectContaining({ outcome: 'success', details: { breakglass_id: a.id, rounds: 2 } })]);
    // Delivered: never sent again.
    time.set(T + 24 * 60 * 60_000);
    expect(await redeliverDue(ctx)).toBe(0);
    expect(hook.received).toHaveLength(3);
    expect(await events(ctx, 'breakglass.notify_failed', a.id)).toHaveLength(1);
  });

  it('an access whose first round never ran (the process stopped) is delivered once, by exactly one of two instances', async () => {
    const hook = await receiver(status(204));
    cleanups.push(hook.close);
    const time = clock(T);
    const one = await context(hook.url, { now: time.now, background: false });
    const two = await context(hook.url, { now: time.now, background: false });
    const a = await freshAccess(one, T);
    time.set(T + DELIVERY_LEASE_MS - 1);
    expect(await redeliverDue(two)).toBe(0);
    time.set(T + DELIVERY_LEASE_MS);
    const ran = await Promise.all([redeliverDue(one), redeliverDue(two), redeliverDue(one), redeliverDue(two)]);
    expect(ran.reduce((x, y) => x + y, 0)).toBe(1);
    expect(hook.received).toHaveLength(1);
    expect(JSON.parse(hook.received[0]!.body)).toMatchObject({ id: a.id });
    expect(await events(one, 'breakglass.notified', a.id)).toEqual([]);
  });

  it('retries back off and stop at the end of the window, and the last failed round says final', async () => {
    const port = await freePort(); // nothing listens there
    const time = clock(T);
    const ctx = await context(`http://127.0.0.1:${port}/hook`, { now: time.now, background: false });
    const createdAt = T - REDELIVERY_WINDOW_MS + 90 * 60_000;
    const a = await freshAccess(ctx, createdAt);
    await notifyBreakGlass(ctx, a);
    expect((await events(ctx, 'breakglass.notify_failed', a.id))[0]).toMatchObject({ reason: 'network', details: { round: 1, final: false, next_round_at: T + 60_000 } });
    // Rounds 2 and 3 (due after 1 and 2 more minutes) are not recorded; each one's delay doubles.
    time.set(T + 60_000);
    expect(await redeliverDue(ctx)).toBe(1);
    time.set(T + 60_000 + 119_000);
    expect(await redeliverDue(ctx)).toBe(0);
    time.set(T + 60_000 + 120_000);
    expect(await redeliverDue(ctx)).toBe(1);
    expect(await events(ctx, 'breakglass.notify_failed', a.id)).toHaveLength(1);
    // Later rounds double their delay (4, 8, 16, 32 minutes, then at most an hour); the round whose
    // next one would fall past the window's end (90 minutes from T) is the last, and says final.
    let rounds = 3;
    const ranAt: number[] = [];
    for (let t = T + 4 * 60_000; t <= T + 100 * 60_000; t += 60_000) {
      time.set(t);
      const ran = await redeliverDue(ctx);
      if (ran) ranAt.push((t - T) / 60_000);
      rounds += ran;
    }
    expect(ranAt).toEqual([7, 15, 31, 63]);
    expect(rounds).toBe(7);
    const recorded = await events(ctx, 'breakglass.notify_failed', a.id);
    expect(recorded.map((e) => e.details?.round).sort()).toEqual([1, 7]);
    const last = recorded.find((e) => e.details?.round === 7)!;
    expect(last).toMatchObject({ reason: 'network', details: { round: 7, final: true } });
    expect(last.details).not.toHaveProperty('next_round_at');
    time.set(T + 4 * 60 * 60_000);
    expect(await redeliverDue(ctx)).toBe(0);
  });
});
