// RFC 6749 §3.1 and §3.2: "Request and response parameters MUST NOT be included more than once."
import { invalidRequest } from '../../errors/oauth-error.js';

export type Params = Record<string, string>;

/**
 * Turns a query string or form body into single-valued parameters. A repeated parameter is an
 * invalid_request; so is an empty value for a parameter the spec treats as absent (RFC 6749 §3.1:
 * "Parameters sent without a value MUST be treated as if they were omitted").
 */
export function singleValuedParams(source: URLSearchParams): Params {
  const out: Params = Object.create(null);
  for (const [name, value] of source) {
    if (name in out) throw invalidRequest(`parameter "${name.slice(0, 40)}" is repeated`);
    if (value !== '') out[name] = value;
  }
  return out;
}

/** Throws invalid_request naming the first missing parameter. */
export function requireParams(params: Params, ...names: string[]): void {
  for (const name of names) {
    if (params[name] === undefined) throw invalidRequest(`parameter "${name}" is required`);
  }
}
