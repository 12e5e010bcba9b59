// Starts a real Caduceus server over TLS on loopback for a test: the dev stack's configuration
// and demo data on SQLite (a temp folder) or PostgreSQL (a fresh schema).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { Agent, setGlobalDispatcher, type Dispatcher } from 'undici';
import { readFileSync } from 'node:fs';
import { devConfig, seedDemo, type DemoCredentials } from '../../src/server/dev-stack.js';
import { startDemoFhirServer } from '../../src/fhir-demo/index.js';
import type { TestAdapter } from '../storage/databases.js';
import { createContext, startServer, type ContextOptions } from '../../src/server/start.js';
import { consoleCompliance } from '../../src/compliance/console.js';
import type { AppContext } from '../../src/context/app-context.js';
import type { CaduceusConfig } from '../../src/config/schema.js';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface TestStack {
  ctx: AppContext;
  demo: DemoCredentials;
  issuer: string;
  dataDir: string;
  ca: string;
  close(): Promise<void>;
}

export async function startTestStack(opts: { adapter?: TestAdapter; storage?: string; configure?: (c: CaduceusConfig) => void; context?: ContextOptions } = {}): Promise<TestStack> {
  // A fresh database of the adapter, dropped again by close().
  const db = opts.adapter ? await opts.adapter.open() : undefined;
  if (db) opts = { ...opts, storage: db.url };
  const dataDir = mkdtempSync(join(tmpdir(), 'caduceus-stack-'));
  const port = await freePort();
  const fhir = await startDemoFhirServer({ port: 0 });
  const { config, caFile } = await devConfig({ dataDir, port, host: '127.0.0.1', issuerHost: '127.0.0.1', storage: opts.storage, fhirUpstream: fhir.url });
  opts.configure?.(config);
  // Request log lines are not printed during tests (test/ops/logging.test.ts captures them itself).
  const ctx = await createContext(config, { env: {}, log: () => undefined, clientMetadataCa: readFileSync(caFile, 'utf8'), ...opts.context });
  const demo = await seedDemo(ctx, dataDir, caFile);
  const server = await startServer(ctx, { demo, adminConsole: { compliance: consoleCompliance(ctx, {}) } });
  return {
    ctx, demo, issuer: config.issuer, dataDir, ca: readFileSync(caFile, 'utf8'),
    async close() {
      await server.close();
      await ctx.close();
      await fhir.close();
      await db?.cleanup();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A fetch dispatcher that trusts the stack's development CA. */
export function trustingDispatcher(ca: string): Dispatcher {
  return new Agent({ connect: { ca } });
}

export { setGlobalDispatcher };
