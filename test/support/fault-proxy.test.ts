// The fault proxy (test/support/fault-proxy.ts) against the real PostgreSQL: a pg.Client through it
// works in pass mode, fails at once on reset and drop (open and new connections alike), waits
// without an answer in blackhole until its own timeout fires, answers late in slow mode, and
// works again after heal() without anything else being restarted. The proxy's sessions are told
// from everyone else's by client_port. What the resilience suites build on is checked here, so a
// fault that a suite reports is the server's, not the proxy's.
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import pg from 'pg';
import { POSTGRES_TEST_URL, postgresAdapter, testAdapters } from '../storage/databases.js';
import { startFaultProxy, targetOf, throughProxy, type FaultProxy } from './fault-proxy.js';

const postgresUp = (await testAdapters()).includes(postgresAdapter);

/** A client's own bounds: nothing here may wait longer than these. */
const CONNECT_TIMEOUT_MS = 1_500;
const QUERY_TIMEOUT_MS = 1_500;

describe.runIf(postgresUp)('the fault proxy in front of PostgreSQL', () => {
  let proxy: FaultProxy;
  const clients: pg.Client[] = [];

  /** A connected client through the proxy; its 'error' events are collected, never thrown. */
  async function client(): Promise<{ c: pg.Client; errors: Error[] }> {
    const c = new pg.Client({ connectionString: throughProxy(POSTGRES_TEST_URL, proxy), connectionTimeoutMillis: CONNECT_TIMEOUT_MS, query_timeout: QUERY_TIMEOUT_MS, application_name: 'fault-proxy-test' });
    const errors: Error[] = [];
    c.on('error', (err) => errors.push(err));
    clients.push(c);
    await c.connect();
    return { c, errors };
  }

  /** Whether a new client can connect and answer SELECT 1, within the client's own timeouts. */
  async function roundTrip(): Promise<string> {
    try {
      const { c } = await client();
      const r = await c.query('SELECT 1 AS one');
      await c.end();
      return r.rows[0].one === 1 ? 'ok' : 'wrong answer';
    } catch (err) {
      return (err as Error).message;
    }
  }

  beforeAll(async () => {
    proxy = await startFaultProxy({ target: targetOf(POSTGRES_TEST_URL), finGraceMs: 500 });
  });
  // A failed test must not leave its fault behind for the next one.
  afterEach(() => proxy.heal());
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    await proxy?.close();
  });

  test('in pass mode a client works through it, and its session shows the proxy\'s local port as client_port', async () => {
    const { c } = await client();
    const r = await c.query<{ port: number }>('SELECT client_port AS port FROM pg_stat_activity WHERE pid = pg_backend_pid()');
    expect(proxy.targetLocalPorts()).toContain(r.rows[0]!.port);
    await c.end();
    expect(proxy.stats().bytesToTarget).toBeGreaterThan(0);
  });

  test('reset: an open connection fails at once with a connection error, new ones are refused, heal restores service', async () => {
    const { c, errors } = await client();
    await c.query('SELECT 1');
    proxy.reset();
    const started = Date.now();
    const failure = await c.query('SELECT 1').then(() => 'answered', (err: Error) => err.message);
    // An RST, not a FIN and not a timeout: ECONNRESET, at once.
    expect(failure).toMatch(/ECONNRESET/);
    expect(errors.map((e) => e.message)).toContainEqual(expect.stringMatching(/ECONNRESET/));
    expect(Date.now() - started).toBeLessThan(QUERY_TIMEOUT_MS);
    expect(await roundTrip()).toMatch(/^connect ECONNRESET/);
    expect(proxy.stats().refused).toBeGreaterThan(0);
    proxy.heal();
    expect(await roundTrip()).toBe('ok');
  });

  test('drop: an open connection is ended (FIN) and new ones are closed at once; heal restores service', async () => {
    const { c, errors } = await client();
    await c.query('SELECT 1');
    proxy.drop();
    const ended = await new Promise<string>((resolve) => {
      const timer = setTimeout(() => resolve('not ended'), 2_000);
      c.once('end', () => {
        clearTimeout(timer);
        resolve('ended');
      });
    });
    expect(ended).toBe('ended');
    expect(errors.map((e) => e.message).join('\n')).toMatch(/Connection terminated unexpectedly/);
    // Closed with a FIN as soon as accepted: no RST.
    expect(await roundTrip()).toBe('Connection terminated unexpectedly');
    proxy.heal();
    expect(await roundTrip()).toBe('ok');
  });

  test('blackhole: an open connection gets no answer until its own query timeout, a new one cannot connect; both sides stay open; heal delivers what was held', async () => {
    const { c } = await client();
    await c.query('SELECT 1');
    const openBefore = proxy.stats().open;
    const bytesBefore = proxy.stats().bytesToTarget;
    proxy.blackhole();
    const started = Date.now();
    const failure = await c.query('SELECT 1').then(() => 'answered', (err: Error) => err.message);
    expect(failure).toMatch(/Query read timeout/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(QUERY_TIMEOUT_MS - 50);
    expect(await roundTrip()).toBe('timeout expired'); // pg's connectionTimeoutMillis
    expect(proxy.stats().bytesToTarget).toBe(bytesBefore);
    expect(proxy.stats().open).toBeGreaterThanOrEqual(openBefore);
    proxy.heal();
    expect(await roundTrip()).toBe('ok');
    expect(proxy.stats().bytesToTarget).toBeGreaterThan(bytesBefore);
  });

  test('slow(ms): every answer comes at least ms late, and heal makes it quick again', async () => {
    const { c } = await client();
    proxy.slow(300);
    let started = Date.now();
    await c.query('SELECT 1');
    // One chunk each way: at least 2 × 300 ms.
    expect(Date.now() - started).toBeGreaterThanOrEqual(2 * 300 - 20);
    proxy.heal();
    started = Date.now();
    await c.query('SELECT 1');
    expect(Date.now() - started).toBeLessThan(300);
    await c.end();
  });

  test('close() ends every connection through it', async () => {
    const other = await startFaultProxy({ target: targetOf(POSTGRES_TEST_URL) });
    const c = new pg.Client({ connectionString: throughProxy(POSTGRES_TEST_URL, other), connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
    const ended = new Promise<void>((resolve) => c.once('end', () => resolve()));
    c.on('error', () => undefined);
    await c.connect();
    expect(other.stats().open).toBe(1);
    await other.close();
    await ended;
    expect(other.stats().open).toBe(0);
  });
});
