// Readers for RFC 7591 §2 client metadata fields, shared by Client ID Metadata Documents
// (validate-document.ts) and dynamic registration requests (src/oauth/registration/): each reports
// a bad field through the caller's own error, naming the field.
import { fetchableUrlProblem } from './client-id-url.js';

export interface MetadataFieldReaders {
  /** An optional array of strings (fallback when absent), at most maxEntries long. */
  stringList(doc: Record<string, unknown>, name: string, fallback: string[]): string[];
  /** An https URL this server could fetch (the same rules as a client_id URL). */
  httpsUrl(value: unknown, name: string): string;
}

export function metadataFieldReaders(invalid: (description: string) => Error, maxEntries: number): MetadataFieldReaders {
  return {
    stringList(doc, name, fallback) {
      if (!Object.hasOwn(doc, name)) return fallback;
      const value = doc[name];
      if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) throw invalid(`${name} must be an array of strings`);
      if (value.length > maxEntries) throw invalid(`${name} has too many entries`);
      return value as string[];
    },
    httpsUrl(value, name) {
      if (typeof value !== 'string') throw invalid(`${name} must be a string`);
      const problem = fetchableUrlProblem(value);
      if (problem !== undefined) throw invalid(`${name} ${problem}`);
      return value;
    },
  };
}
