// RFC 8785 JSON Canonicalization Scheme (JCS), for the values audit events hold: strings, finite
// numbers, booleans, null, arrays and plain objects. Members whose value is undefined are omitted
// (as JSON.stringify does); anything else that is not I-JSON (RFC 7493) is refused rather than
// guessed at: non-finite numbers, bigint, lone surrogates, class instances, functions, symbols.
//
// - §3.2.2.3 numbers: the ECMAScript Number-to-String algorithm, which is what String(n) does
//   (with -0 written as 0).
// - §3.2.2.2 strings: JSON.stringify's escaping (ES2019 well-formed stringify) is the JCS one:
//   \b \t \n \f \r \" \\, other controls as \u00xx lowercase, everything else literal.
// - §3.2.3 members sorted by their names as arrays of UTF-16 code units, which is the default
//   ordering of JavaScript strings.
import { AuditError } from './errors.js';

// Without the u flag the regex sees UTF-16 code units: a high surrogate not followed by a low one,
// or a low one not preceded by a high one.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** The canonical JSON text of value (RFC 8785). */
export function canonicalize(value: unknown): string {
  return serialize(value, '$');
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
  names.push(hole);
  names.sort(compareNames);
  const parts = names.map((name) => (name === hole ? '' : member(object, name, '$')));
  const at = names.indexOf(hole);
  const before = `{${parts.slice(0, at).join(',')}${at > 0 ? ',' : ''}${JSON.stringify(hole)}:`;
  const afterParts = parts.slice(at + 1);
  const after = `${afterParts.length > 0 ? ',' : ''}${afterParts.join(',')}}`;
  return { before, after };
}

function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function member(object: Record<string, unknown>, name: string, path: string): string {
  checkString(name, `${path}.${name}`);
  return `${JSON.stringify(name)}:${serialize(object[name], `${path}.${name}`)}`;
}

function serialize(value: unknown, path: string): string {
  switch (typeof value) {
    case 'string':
      checkString(value, path);
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new AuditError('ERR_JCS_UNSUPPORTED', `${path}: not a finite number`);
      return Object.is(value, -0) ? '0' : String(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) {
        return `[${value.map((item, i) => (item === undefined ? 'null' : serialize(item, `${path}[${i}]`))).join(',')}]`;
      }
      assertPlainObject(value, path);
      const object = value as Record<string, unknown>;
      const names = Object.keys(object).filter((name) => object[name] !== undefined).sort(compareNames);
      return `{${names.map((name) => member(object, name, path)).join(',')}}`;
    }
    default:
      throw new AuditError('ERR_JCS_UNSUPPORTED', `${path}: a ${typeof value} is not JSON`);
  }
}

function assertPlainObject(value: unknown, path: string): void {
  const proto = typeof value === 'object' && value !== null ? Object.getPrototypeOf(value) : undefined;
  if (proto !== Object.prototype && proto !== null) {
    throw new AuditError('ERR_JCS_UNSUPPORTED', `${path}: only plain objects are canonicalised`);
  }
}

// RFC 8785 §3.2.2.2 requires I-JSON strings: a lone surrogate has no UTF-8 form.
function checkString(value: string, path: string): void {
  if (LONE_SURROGATE.test(value)) {
    throw new AuditError('ERR_JCS_UNSUPPORTED', `${path}: string has a lone surrogate`);
  }
}
