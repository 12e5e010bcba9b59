// Loads caduceus.yaml: parse, apply environment overrides, resolve relative paths, validate.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse } from 'yaml';
import { ConfigError, validateConfig, type CaduceusConfig } from './schema.js';

export interface LoadedConfig {
  config: CaduceusConfig;
  /** Folder relative paths were resolved against. */
  baseDir: string;
}

export function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([`--config ${path}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'}); check the path`]);
  }
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (err) {
    throw new ConfigError([`${path}: not valid YAML: ${(err as Error).message.split('\n')[0]}`]);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError([`${path}: the file must hold a YAML mapping (issuer: …, storage: …)`]);
  }
  return loadConfigObject(raw as Record<string, unknown>, dirname(resolve(path)), env);
}

export function loadConfigObject(raw: Record<string, unknown>, baseDir: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const withEnv = { ...raw };
  if (env.CADUCEUS_DATABASE_URL) withEnv.storage = env.CADUCEUS_DATABASE_URL;
  const config = validateConfig(withEnv);
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  if (config.tls) config.tls = { ...config.tls, cert: abs(config.tls.cert), key: abs(config.tls.key) };
  if (config.master_key_file) config.master_key_file = abs(config.master_key_file);
  if (config.storage.startsWith('sqlite:') && config.storage !== 'sqlite::memory:') {
    config.storage = `sqlite:${abs(config.storage.slice('sqlite:'.length))}`;
  }
  if (config.audit.witness_file) config.audit.witness_file = abs(config.audit.witness_file);
  return { config, baseDir };
}

/** The unsafe.* switches that are on, as warnings to print at startup (and compliance findings). */
export function unsafeWarnings(config: CaduceusConfig): string[] {
  return Object.entries(config.unsafe)
    .filter(([, on]) => on === true)
    .map(([name]) => `unsafe.${name} is on: this weakens the server and fails the compliance check`);
}
