// The problems validateConfig reports for a raw configuration (empty when it is valid).
import { ConfigError, validateConfig } from '../../src/config/schema.js';

export function configProblems(raw: unknown): string[] {
  try {
    validateConfig(raw);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}
