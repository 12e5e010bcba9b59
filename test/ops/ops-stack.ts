// A test stack like test/support/stack.ts, that also returns the running server (its admin URL)
// and captures the structured log lines.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { devConfig, seedDemo, type DemoCredentials } from '../../src/server/dev-stack.js';
import { createContext, startServer, type ContextOptions, type RunningServer } from '../../src/server/start.js';
import type { AppContext } from '../../src/context/app-context.js';
import type { CaduceusConfig } from '../../src/config/schema.js';
import { freePort, type TestStack } from '../support/stack.js';

export interface OpsStack extends TestStack {
  ctx: AppContext & { close(): Promise<void> };
  server: RunningServer;
  /** Every log line written so far (raw JSON text). */
  logs: string[];
}

export async function startOpsStack(opts: { storage?: string; configure?: (c: CaduceusConfig) => void; context?: ContextOptions } = {}): Promise<OpsStack> {
  const dataDir = mkdtempSync(join(tmpdir(), 'caduceus-ops-'));
  const port = await freePort();
  const { config, caFile } = await devConfig({ dataDir, port, host: '127.0.0.1', issuerHost: '127.0.0.1', storage: opts.storage });
  config.admin = { host: '127.0.0.1', port: 0 };
  opts.configure?.(config);
  const logs: string[] = [];
  const ctx = await createContext(config, { env: {}, log: (line) => void logs.push(line), ...opts.context });
  let demo: DemoCredentials;
  let server: RunningServer;
  try {
    demo = await seedDemo(ctx, dataDir, caFile);
    server = await startServer(ctx, { demo });
  } catch (err) {
    await ctx.close().catch(() => undefined);
    throw err;
  }
  return {
    ctx, demo, server, logs, issuer: config.issuer, dataDir, ca: readFileSync(caFile, 'utf8'),
    async close() {
      await server.close();
      await ctx.close().catch(() => undefined);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
