// Flag parsing for every subcommand (node:util parseArgs), turning its errors into usage errors
// that name the flag.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './command.js';

export type FlagSpec = NonNullable<ParseArgsConfig['options']>;

export const COMMON_FLAGS = {
  help: { type: 'boolean', short: 'h' },
  json: { type: 'boolean' },
  config: { type: 'string' },
  data: { type: 'string' },
} satisfies FlagSpec;

export function parseFlags<T extends FlagSpec>(argv: string[], options: T, allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options: { ...COMMON_FLAGS, ...options }, strict: true, allowPositionals });
  } catch (err) {
    throw new UsageError(`${(err as Error).message.replace(/\. To specify.*$/s, '')}; see --help`);
  }
}

export function requireFlag(value: string | undefined, flag: string, hint: string): string {
  if (value === undefined || value === '') throw new UsageError(`--${flag} is required: ${hint}`);
  return value;
}
