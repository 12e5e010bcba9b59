// Drives `caduceus` in-process (main(argv, io)) against a dev-stack data folder in a temp dir.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import type { CliIo } from '../../src/cli/command.js';
import { devConfig, seedDemo, type DemoCredentials } from '../../src/server/dev-stack.js';
import { createContext } from '../../src/server/start.js';
import type { CaduceusConfig } from '../../src/config/schema.js';

export const TEST_PORT = 18443;

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  /** How many times the command read standard input. */
  stdinReads: number;
}

/** Runs `caduceus ...argv` with `stdin` as standard input. */
export async function runCli(argv: string[], stdin = ''): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  let stdinReads = 0;
  const io: CliIo = {
    stdout: (t) => { stdout += t; },
    stderr: (t) => { stderr += t; },
    readStdin: async () => { stdinReads += 1; return stdin; },
    env: {},
  };
  const code = await main(argv, io);
  return { code, stdout, stderr, stdinReads };
}

export interface DataDir {
  dir: string;
  config: CaduceusConfig;
  demo: DemoCredentials;
  remove(): void;
}

/** A temp folder initialised like `caduceus dev` does (database, keys, demo data, dev.json). */
export async function createDataDir(): Promise<DataDir> {
  const dir = mkdtempSync(join(tmpdir(), 'caduceus-cli-'));
  const { config, caFile } = await devConfig({ dataDir: dir, port: TEST_PORT });
  const ctx = await createContext(config, { env: {} });
  let demo: DemoCredentials;
  try {
    demo = await seedDemo(ctx, dir, caFile);
  } finally {
    await ctx.close();
  }
  writeFileSync(join(dir, 'dev.json'), JSON.stringify({ port: TEST_PORT }));
  return { dir, config, demo, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A temp folder with only dev.json: no database yet. */
export function createEmptyDataDir(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'caduceus-cli-empty-'));
  writeFileSync(join(dir, 'dev.json'), JSON.stringify({ port: TEST_PORT }));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
