// Flags shared by `caduceus check`, `probe` and `report`: --format and --fail-on, checked with
// usage errors that name the flag and the accepted values.
import { relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { UsageError } from './command.js';
import { configLocatorForFile } from '../compliance/config-locator.js';
import { formatJson, formatText } from '../compliance/format.js';
import { formatSarif, type SarifArtifact } from '../compliance/sarif.js';
import type { Report, Severity } from '../compliance/types.js';

export function parseChoice<T extends string>(value: string | undefined, flag: string, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`--${flag} ${value}: use one of ${allowed.join(', ')}`);
  return value as T;
}

export const parseFailOn = (value: string | undefined): Severity => parseChoice(value, 'fail-on', ['error', 'warning', 'note'] as const, 'error');

/** The SARIF artifact of a configuration file: a URI and a line locator. */
export function configArtifact(configFile: string): SarifArtifact {
  const abs = resolve(configFile);
  const rel = relative(process.cwd(), abs);
  // Relative to the working directory (the repository root in CI), else an absolute file: URI.
  const uri = rel.startsWith('..') || rel === '' ? pathToFileURL(abs).href : rel.split(sep).join('/');
  const locate = configLocatorForFile(abs);
  return { uri, ...(locate ? { locate } : {}) };
}

export function renderReport(report: Report, format: 'text' | 'json' | 'sarif', options: { artifact?: SarifArtifact; docsUrl?: string } = {}): string {
  if (format === 'json') return formatJson(report);
  if (format === 'sarif') return formatSarif(report, options);
  return formatText(report);
}
