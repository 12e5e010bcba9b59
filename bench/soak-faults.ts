// Database faults for the soak's --faults variant (bench/soak.ts): a fresh PostgreSQL schema (or
// the --storage URL) reached through the tests' TCP fault proxy (test/support/fault-proxy.ts), and
// a timer that injects one fault every interval, holds it, and heals it. Loopback only.
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { startFaultProxy, targetOf, throughProxy, type FaultProxy } from '../test/support/fault-proxy.js';

const ADMIN_URL = process.env.CADUCEUS_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const HOLD_MS = 5000;
/** A fault window lasts from the injection to this long after the heal. */
const AFTER_HEAL_MS = 10_000;
const KINDS = ['reset', 'drop', 'blackhole', 'slow', 'terminate'] as const;

export interface DatabaseFaults {
  /** The storage URL the server is to use: through the proxy. */
  storage: string;
  /** Whether now is inside a fault window. */
  inWindow(): boolean;
  /** Stops injecting, heals, and tells what was injected and whether the server still runs. */
  stop(server: ChildProcess): Promise<{ injected: Array<{ kind: string; at_s: number }>; holdSeconds: number; alive: boolean }>;
  /** After the server has stopped: closes the proxy and drops the schema it made. */
  close(): Promise<void>;
}

export async function startDatabaseFaults(storage: string | undefined, everySeconds: number): Promise<DatabaseFaults> {
  const admin = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 3000 });
  await admin.connect();
  let schema: string | undefined;
  let url = storage;
  if (!url) {
    schema = `caduceus_soak_${randomBytes(6).toString('hex')}`;
    await admin.query(`CREATE SCHEMA ${schema}`);
    url = `${ADMIN_URL}${ADMIN_URL.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
  }
  if (!/^postgres(ql)?:\/\//.test(url)) throw new Error('--faults needs PostgreSQL: leave --storage out or give a postgres:// URL');
  const proxy: FaultProxy = await startFaultProxy({ target: targetOf(url) });
  const started = Date.now();
  const injected: Array<{ kind: string; at_s: number }> = [];
  let windowEnds = 0;
  let next = 0;
  let holding: NodeJS.Timeout | undefined;

  const inject = async (): Promise<void> => {
    const kind = KINDS[next++ % KINDS.length]!;
    injected.push({ kind, at_s: Math.round((Date.now() - started) / 1000) });
    windowEnds = Number.POSITIVE_INFINITY;
    console.error(`  fault: ${kind}`);
    if (kind === 'reset') proxy.reset();
    else if (kind === 'drop') proxy.drop();
    else if (kind === 'blackhole') proxy.blackhole();
    else if (kind === 'slow') proxy.slow(500);
    else {
      // What a failover or a restart of the database does to the server's sessions.
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE client_port = ANY($1::int[]) AND pid <> pg_backend_pid()', [proxy.targetLocalPorts()]);
    }
    holding = setTimeout(() => {
      proxy.heal();
      windowEnds = Date.now() + AFTER_HEAL_MS;
    }, HOLD_MS);
  };
  const timer = setInterval(() => { void inject().catch((err: Error) => console.error(`  fault injection failed: ${err.message}`)); }, everySeconds * 1000);

  return {
    storage: throughProxy(url, proxy),
    inWindow: () => Date.now() < windowEnds,
    async stop(server) {
      clearInterval(timer);
      clearTimeout(holding);
      proxy.heal();
      const alive = server.exitCode === null && server.signalCode === null;
      return { injected, holdSeconds: HOLD_MS / 1000, alive };
    },
    async close() {
      await proxy.close();
      if (schema) await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.end();
    },
  };
}
