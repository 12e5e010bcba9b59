// What an admin command works on: the production configuration (--config FILE) or the dev
// stack's folder (--data DIR, usable while `caduceus dev` runs).
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadConfigFile } from '../config/load.js';
import { devConfig } from '../server/dev-stack.js';
import { createContext } from '../server/start.js';
import type { AppContext } from '../context/app-context.js';
import type { CaduceusConfig } from '../config/schema.js';
import { UsageError, type CliIo } from './command.js';

export const DEFAULT_DATA_DIR = './data';
export const DEV_SETTINGS_FILE = 'dev.json';

export async function resolveConfig(flags: { config?: string; data?: string }, io: CliIo): Promise<CaduceusConfig> {
  if (flags.config && flags.data) throw new UsageError('use either --config FILE or --data DIR, not both');
  if (flags.config) return loadConfigFile(flags.config, io.env).config;
  const dataDir = resolve(flags.data ?? DEFAULT_DATA_DIR);
  const settingsFile = join(dataDir, DEV_SETTINGS_FILE);
  if (!existsSync(settingsFile)) {
    throw new UsageError(`no Caduceus configuration: pass --config caduceus.yaml, or --data DIR of a dev stack (run "caduceus dev" first; ${settingsFile} not found)`);
  }
  const settings = JSON.parse(readFileSync(settingsFile, 'utf8')) as { port: number; host?: string; issuerHost?: string };
  return (await devConfig({ dataDir, port: settings.port, host: settings.host, issuerHost: settings.issuerHost })).config;
}

export async function openAdminContext(flags: { config?: string; data?: string }, io: CliIo): Promise<AppContext & { close(): Promise<void> }> {
  const config = await resolveConfig(flags, io);
  return createContext(config, { env: io.env, syncClients: false });
}

/** Opens the admin context, runs fn, and always closes the context. */
export async function withAdminContext<T>(flags: { config?: string; data?: string }, io: CliIo, fn: (ctx: AppContext) => Promise<T>): Promise<T> {
  const ctx = await openAdminContext(flags, io);
  try {
    return await fn(ctx);
  } finally {
    await ctx.close();
  }
}
