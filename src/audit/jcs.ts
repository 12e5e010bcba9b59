// RFC 8785 JSON Canonicalization Scheme (JCS), for the values audit events hold: strings, finite
// numbers, booleans, null, arrays and plain objects. Members whose value is undefined are omitted
// (as JSON.stringify does); anything else that is not I-JSON (RFC 7493) is refused rather than
// guessed at: non-finite numbers, bigint, lone surrogates, class instances, functions, symbols.
//
// - §3.2.2.3 numbers: the ECMAScript Number-to-String algorithm, which is what JSON.stringify
//   does (with -0 written as 0).
// - §3.2.2.2 strings: JSON.stringify's escaping (ES2019 well-formed stringify) is the JCS one:
//   \b \t \n \f \r \" \\, other controls as \u00xx lowercase, everything else literal. Lone
//   surrogates, which it would escape, are refused first.
// - §3.2.3 members sorted by their names as arrays of UTF-16 code units, which is the default
//   ordering of JavaScript strings.
//
// Two implementations: `serialize` writes the text member by member and is the reference; the
// fast path copies the value with its members inserted in sorted order, checking every value on
// the way, and lets JSON.stringify write it. The fast path cannot express objects with
// array-index names ("1", "42"), which JavaScript always enumerates first in numeric order; such
// values take the reference path. The ledger canonicalises every event, hence the fast path.
import { AuditError } from './errors.js';

// Without the u flag the regex sees UTF-16 code units: a high surrogate not followed by a low one,
// or a low one not preceded by a high one.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const ANY_SURROGATE = /[\uD800-\uDFFF]/;
const ARRAY_INDEX = /^(?:0|[1-9][0-9]*)$/;

/** Raised inside the fast path; the caller then takes the reference path, which names the member. */
class SlowPath extends Error {}

/** The canonical JSON text of value (RFC 8785). */
export function canonicalize(value: unknown): string {
  try {
    return JSON.stringify(sortedCopy(value));
  } catch (err) {
    if (!(err instanceof SlowPath)) throw err;
    return serialize(value, '$');
  }
}

/**
 * The canonical text of a top-level object with one member, `hole`, left out, split where that
 * member goes: canonicalize({ ...object, [hole]: v }) === before + canonicalize(v) + after.
 * The ledger uses it to canonicalise an event before its seq is known. object must not have the
 * hole member, and must have at least one other member.
 */
export function canonicalizeAround(object: Record<string, unknown>, hole: string): { before: string; after: string } {
  assertPlainObject(object, '$');
  const names = Object.keys(object).filter((name) => object[name] !== undefined);
  if (names.includes(hole)) throw new AuditError('ERR_JCS_UNSUPPORTED', `$.${hole}: the hole member must be absent`);
  if (names.length === 0) throw new AuditError('ERR_JCS_UNSUPPORTED', '$: needs a member besides the hole');
  names.sort(compareNames);
  const holeName = JSON.stringify(hole);
  // Fast path: the members before and after the hole as two sorted objects, two stringify calls.
  try {
    const head: Record<string, unknown> = {};
    const tail: Record<string, unknown> = {};
    for (const name of names) {
      if (ARRAY_INDEX.test(name) || (ANY_SURROGATE.test(name) && LONE_SURROGATE.test(name))) throw new SlowPath();
      (name < hole ? head : tail)[name] = sortedCopy(object[name]);
    }
    const h = JSON.stringify(head);
    const t = JSON.stringify(tail);
    return { before: `${h.length > 2 ? `${h.slice(0, -1)},` : '{'}${holeName}:`, after: t.length > 2 ? `,${t.slice(1)}` : '}' };
  } catch (err) {
    if (!(err instanceof SlowPath)) throw err;
  }
  names.push(hole);
  names.sort(compareNames);
  const parts = names.map((name) => (name === hole ? '' : `${string(name, '$')}:${canonicalizeAt(object[name], `$.${name}`)}`));
  const at = names.indexOf(hole);
  const before = `{${parts.slice(0, at).join(',')}${at > 0 ? ',' : ''}${holeName}:`;
  const afterParts = parts.slice(at + 1);
  const after = `${afterParts.length > 0 ? ',' : ''}${afterParts.join(',')}}`;
  return { before, after };
}

function canonicalizeAt(value: unknown, path: string): string {
  try {
    return JSON.stringify(sortedCopy(value));
  } catch (err) {
    if (!(err instanceof SlowPath)) throw err;
    return serialize(value, path);
  }
}

function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The fast path: a copy whose objects have their members in JCS order, every value checked. */
function sortedCopy(value: unknown): unknown {
  switch (typeof value) {
    case 'string':
      if (ANY_SURROGATE.test(value) && LONE_SURROGATE.test(value)) throw new SlowPath();
      return value;
    case 'number':
      if (!Number.isFinite(value)) throw new SlowPath();
      return value;
    case 'boolean':
      return value;
    case 'object': {
      if (value === null) return null;
      if (Array.isArray(value)) return Array.from(value, (item: unknown) => (item === undefined ? null : sortedCopy(item)));
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) throw new SlowPath();
      const object = value as Record<string, unknown>;
      const copy: Record<string, unknown> = {};
      for (const name of Object.keys(object).sort(compareNames)) {
        const item = object[name];
        if (item === undefined) continue;
        if (ARRAY_INDEX.test(name) || (ANY_SURROGATE.test(name) && LONE_SURROGATE.test(name))) throw new SlowPath();
        copy[name] = sortedCopy(item);
      }
      return copy;
    }
    default:
      throw new SlowPath();
  }
}

function unsupported(path: string, why: string): never {
  throw new AuditError('ERR_JCS_UNSUPPORTED', `${path}: ${why}`);
}

/** The reference path: writes the canonical text member by member. */
function serialize(value: unknown, path: string): string {
  switch (typeof value) {
    case 'string':
      return string(value, path);
    case 'number':
      if (!Number.isFinite(value)) unsupported(path, 'not a finite number');
      return Object.is(value, -0) ? '0' : String(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) {
        return `[${Array.from(value, (item: unknown, i) => (item === undefined ? 'null' : serialize(item, `${path}[${i}]`))).join(',')}]`;
      }
      assertPlainObject(value, path);
      const object = value as Record<string, unknown>;
      const names = Object.keys(object).filter((name) => object[name] !== undefined).sort(compareNames);
      return `{${names.map((name) => `${string(name, path)}:${serialize(object[name], `${path}.${name}`)}`).join(',')}}`;
    }
    default:
      return unsupported(path, `a ${typeof value} is not JSON`);
  }
}

function assertPlainObject(value: unknown, path: string): void {
  const proto = typeof value === 'object' && value !== null ? Object.getPrototypeOf(value) : undefined;
  if (proto !== Object.prototype && proto !== null) unsupported(path, 'only plain objects are canonicalised');
}

// RFC 8785 §3.2.2.2 requires I-JSON strings: a lone surrogate has no UTF-8 form.
function string(value: string, path: string): string {
  if (ANY_SURROGATE.test(value) && LONE_SURROGATE.test(value)) unsupported(path, 'string has a lone surrogate');
  return JSON.stringify(value);
}

/** The reference serialiser, exported for tests that cross-check the fast path. */
export function canonicalizeReference(value: unknown): string {
  return serialize(value, '$');
}
