// SMART App Launch 2.2 scopes (scopes-and-launch-context.md): one model shared by the
// authorization server (what may be requested and granted) and the PHI gateway (what a granted
// scope authorises). Its sections "Scopes for requesting FHIR Resources" (syntax, v1 compatibility,
// granular scopes, wildcards, union) and "Scopes for requesting context data".
//
//   resource scope: ( patient | user | system ) "/" ( Type | "*" ) "." ( [c][r][u][d][s] | read | write | * ) [ "?" param=value *( "&" param=value ) ]
//   context scope:  launch | launch/patient | launch/encounter | launch/<type> [ "?role=" uri ] | openid | fhirUser | offline_access | online_access
//
// Deliberately not done here: the intersection with what the user may do (SMART: "If the underlying
// user has limited permissions, the client will face these same limitations"; the role policy does
// it) and any search parameter semantics of granular scopes beyond exact "param=value" matching
// (see scopeAllows).
import type { ScopeReason } from '../errors/catalogue.js';
import { InternalError } from '../errors/internal-error.js';

export type ScopeLevel = 'patient' | 'user' | 'system';
export type Permission = 'c' | 'r' | 'u' | 'd' | 's';
export const PERMISSION_ORDER = 'cruds';

/** A FHIR resource scope, normalised to SMART v2 permissions. */
export interface ResourceScope {
  kind: 'resource';
  /** The scope exactly as written (and as granted). */
  raw: string;
  level: ScopeLevel;
  /** A FHIR resource type, or "*" for every type ("both now and in the future"). */
  resourceType: string;
  /** v2 permission letters in canonical order, e.g. "rs" (v1 ".read" is "rs"). */
  permissions: string;
  /** Which syntax was used: v1 (.read/.write/.*) or v2 (.cruds letters). */
  syntax: 'v1' | 'v2';
  /** Granular constraints ("?param=value"), in the order written; empty when none. */
  query: ReadonlyArray<readonly [name: string, value: string]>;
}

export type ContextScopeName = 'launch' | 'launch/patient' | 'launch/encounter' | `launch/${string}` | 'openid' | 'fhirUser' | 'offline_access' | 'online_access';

/**
 * A scope asking for context or identity rather than for FHIR data (SMART App Launch 2.2, "Scopes
 * for requesting context data", "… identity data" and "… a refresh token").
 */
export interface ContextScope {
  kind: 'context';
  raw: string;
  name: ContextScopeName;
  /** `launch/patient?role=…`: at most one role ("Scopes for requesting context data"). */
  role?: string;
}

/** Any other RFC 6749 scope token (e.g. "profile", or an http route's own scopes). */
export interface OtherScope {
  kind: 'other';
  raw: string;
}

export type SmartScope = ResourceScope | ContextScope | OtherScope;

export type ScopeSyntaxProblem = ScopeReason;

/** A scope that is not SMART scope syntax: an InternalError with a ScopeReason code of the catalogue. */
export class ScopeSyntaxError extends InternalError<ScopeReason> {
  override readonly name: string = 'ScopeSyntaxError';
}

// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
const RESOURCE_SCOPE = /^(patient|user|system)\/([^.?]*)\.([^?]*)(?:\?(.*))?$/s;
const RESOURCE_TYPE = /^[A-Z][A-Za-z]{0,63}$/;
// SMART App Launch 2.2: "Valid suffixes are a subset of the in-order string .cruds" — empty,
// repeated and out-of-order letters (".dus", ".rc", ".rr") do not match.
const V2_PERMISSIONS = /^(?=[cruds])c?r?u?d?s?$/;
const V1_PERMISSIONS: Readonly<Record<string, string>> = { read: 'rs', write: 'cud', '*': 'cruds' };
// Search parameter names, with the experimental modifiers (`code:in`) and chains (`patient.birthdate`).
const QUERY_PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_-]*(?:[:.][A-Za-z_][A-Za-z0-9_-]*)*$/;
const FIXED_CONTEXT = new Set(['launch', 'openid', 'fhirUser', 'offline_access', 'online_access']);
const LAUNCH_CONTEXT = /^launch\/([a-z][a-z0-9]*)(?:\?role=([^&?=]+))?$/;

/** Parses one scope; throws ScopeSyntaxError for anything that looks like SMART but is malformed. */
export function parseSmartScope(raw: string): SmartScope {
  if (!SCOPE_TOKEN.test(raw)) throw new ScopeSyntaxError('ERR_SCOPE_CHARACTERS', 'a scope may only use the characters of RFC 6749 §3.3 and no spaces');
  const resource = RESOURCE_SCOPE.exec(raw);
  if (resource) return parseResourceScope(raw, resource);
  if (FIXED_CONTEXT.has(raw)) return { kind: 'context', raw, name: raw as ContextScopeName };
  if (raw.startsWith('launch/')) {
    const m = LAUNCH_CONTEXT.exec(raw);
    if (!m) throw new ScopeSyntaxError('ERR_SCOPE_CONTEXT', 'a launch context scope is launch/<lower-case type>, optionally with one ?role=<uri>');
    return { kind: 'context', raw, name: `launch/${m[1]!}`, ...(m[2] !== undefined ? { role: decodeValue(m[2]) } : {}) };
  }
  if (/^(patient|user|system)\//.test(raw)) {
    throw new ScopeSyntaxError('ERR_SCOPE_PERMISSIONS', 'a resource scope is level/Type.permissions, e.g. patient/Observation.rs');
  }
  return { kind: 'other', raw };
}

// Granted scopes repeat on every request of a token: parse each distinct string once.
const PARSED = new Map<string, SmartScope | undefined>();
const PARSED_MAX = 4096;

/** parseSmartScope without the exception: undefined for a malformed scope. Results are frozen and memoised. */
export function tryParseSmartScope(raw: string): SmartScope | undefined {
  if (PARSED.has(raw)) return PARSED.get(raw);
  let parsed: SmartScope | undefined;
  try {
    parsed = deepFreeze(parseSmartScope(raw));
  } catch (err) {
    if (!(err instanceof ScopeSyntaxError)) throw err;
    parsed = undefined;
  }
  if (PARSED.size >= PARSED_MAX) PARSED.clear();
  PARSED.set(raw, parsed);
  return parsed;
}

function deepFreeze<T extends SmartScope>(scope: T): T {
  if (scope.kind === 'resource') for (const pair of scope.query) Object.freeze(pair);
  if (scope.kind === 'resource') Object.freeze(scope.query);
  return Object.freeze(scope);
}

function parseResourceScope(raw: string, m: RegExpExecArray): ResourceScope {
  const level = m[1] as ScopeLevel;
  const resourceType = m[2]!;
  const suffix = m[3]!;
  const queryText = m[4];
  if (resourceType !== '*' && !RESOURCE_TYPE.test(resourceType)) {
    throw new ScopeSyntaxError('ERR_SCOPE_RESOURCE_TYPE', 'the resource type must be a FHIR resource type name or "*"');
  }
  let permissions: string;
  let syntax: 'v1' | 'v2';
  if (Object.hasOwn(V1_PERMISSIONS, suffix)) {
    // v1 compatibility: .read ⇒ .rs, .write ⇒ .cud, .* ⇒ .cruds
    permissions = V1_PERMISSIONS[suffix]!;
    syntax = 'v1';
  } else if (V2_PERMISSIONS.test(suffix)) {
    permissions = suffix;
    syntax = 'v2';
  } else {
    throw new ScopeSyntaxError('ERR_SCOPE_PERMISSIONS', 'permissions must be a non-empty subset of "cruds" in that order (or v1 read, write, *)');
  }
  const query = queryText === undefined ? [] : parseQuery(queryText);
  if (query.length && syntax === 'v1') throw new ScopeSyntaxError('ERR_SCOPE_QUERY', 'granular ?param=value constraints need v2 permissions');
  return { kind: 'resource', raw, level, resourceType, permissions, syntax, query };
}

function parseQuery(text: string): Array<readonly [string, string]> {
  if (text === '') throw new ScopeSyntaxError('ERR_SCOPE_QUERY', 'a "?" must be followed by param=value');
  return text.split('&').map((pair) => {
    const eq = pair.indexOf('=');
    const name = eq < 0 ? pair : pair.slice(0, eq);
    const value = eq < 0 ? '' : pair.slice(eq + 1);
    if (!QUERY_PARAM_NAME.test(name) || value === '' || value.includes('=') || value.includes('?')) {
      throw new ScopeSyntaxError('ERR_SCOPE_QUERY', 'each granular constraint must be param=value with a non-empty value');
    }
    return [name, decodeValue(value)] as const;
  });
}

function decodeValue(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw new ScopeSyntaxError('ERR_SCOPE_QUERY', 'a constraint value has a malformed percent-encoding');
  }
}

/** The v2 form of a resource scope (v1 compatibility), e.g. "patient/Observation.read" → "patient/Observation.rs". */
export function toV2Scope(scope: ResourceScope): string {
  const q = scope.raw.indexOf('?');
  return `${scope.level}/${scope.resourceType}.${scope.permissions}${q < 0 ? '' : scope.raw.slice(q)}`;
}

// The v1 mapping read backwards: the v1 suffix of a v2 permission set, where there is one.
const V1_SUFFIX: Readonly<Record<string, string>> = Object.fromEntries(Object.entries(V1_PERMISSIONS).map(([suffix, letters]) => [letters, suffix]));

/**
 * The same resource scope moved to `level` and keeping only the permission letters in `keep`,
 * written in its own syntax: a v1 scope stays v1 while its letters have a v1 name (".*" keeping
 * "rs" is ".read"), otherwise it is written in v2; constraints (`?param=value`) are kept as written.
 * Undefined when no permission is left. It never adds a permission.
 */
export function restrictResourceScope(scope: ResourceScope, change: { level?: ScopeLevel; keep: string }): string | undefined {
  const permissions = [...scope.permissions].filter((p) => change.keep.includes(p)).join('');
  if (permissions === '') return undefined;
  const v1 = scope.syntax === 'v1' ? V1_SUFFIX[permissions] : undefined;
  const q = scope.raw.indexOf('?');
  return `${change.level ?? scope.level}/${scope.resourceType}.${v1 ?? permissions}${q < 0 ? '' : scope.raw.slice(q)}`;
}

// ---------------------------------------------------------------------------------------------
// What a granted scope authorises.

/** FHIR REST interactions, at the granularity that decides the SMART permission letter. */
export type Interaction =
  | 'read'
  | 'vread'
  | 'history-instance'
  | 'history-type'
  | 'history-system'
  | 'search-type'
  | 'search-system'
  | 'create'
  | 'update'
  | 'patch'
  | 'delete';

/**
 * SMART App Launch 2.2 "FHIR Resource Scope Syntax": c create; r read (+ vread, instance history);
 * u update (+ patch); d delete; s search (type search, type/system history, system search).
 */
export const INTERACTION_PERMISSION: Readonly<Record<Interaction, Permission>> = {
  read: 'r',
  vread: 'r',
  'history-instance': 'r',
  'history-type': 's',
  'history-system': 's',
  'search-type': 's',
  'search-system': 's',
  create: 'c',
  update: 'u',
  patch: 'u',
  delete: 'd',
};

export interface ScopeRequest {
  /** Only scopes of this level are considered (e.g. the gateway asking "is there a patient/ scope"). */
  level?: ScopeLevel;
  /** The resource type acted on; "*" for system-level interactions (every type). */
  resourceType: string;
  interaction: Interaction;
  /**
   * The search parameters the upstream will receive, for granular scopes. A granular scope only
   * authorises a type search that carries each of its constraints verbatim.
   */
  searchParams?: URLSearchParams | ReadonlyArray<readonly [string, string]>;
}

const isSystemWide = (i: Interaction) => i === 'search-system' || i === 'history-system';

/**
 * Does one scope authorise the request? Rules:
 * - the permission letter of the interaction must be granted (v1 mapped to v2);
 * - the type must match, or the scope must be a "*" scope; system-wide interactions (system
 *   search, system history) return every type and need a "*" scope;
 * - a granular scope (`?param=value`) authorises only a type search whose parameters carry each
 *   constraint exactly (the caller adds or checks them). It never authorises read, vread,
 *   history, create, update, patch or delete: checking a resource against a search parameter
 *   needs the server's search semantics, which this module deliberately does not guess.
 */
export function scopeAllows(scope: SmartScope | string, request: ScopeRequest): boolean {
  const s = typeof scope === 'string' ? tryParseSmartScope(scope) : scope;
  if (!s || s.kind !== 'resource') return false;
  if (request.level !== undefined && s.level !== request.level) return false;
  if (!s.permissions.includes(INTERACTION_PERMISSION[request.interaction])) return false;
  if (isSystemWide(request.interaction) || request.resourceType === '*') {
    if (s.resourceType !== '*') return false;
  } else if (s.resourceType !== '*' && s.resourceType !== request.resourceType) {
    return false;
  }
  if (s.query.length === 0) return true;
  if (request.interaction !== 'search-type' || !request.searchParams) return false;
  const params = [...request.searchParams];
  return s.query.every(([name, value]) => params.some(([n, v]) => n === name && v === value));
}

const LEVEL_PREFERENCE: readonly ScopeLevel[] = ['system', 'user', 'patient'];

/**
 * The exact granted scope string that authorises the request, or undefined. Scopes combine as a
 * union ("Scope Equivalence"); when several authorise, the broadest wins: system before user before
 * patient (a patient/ scope restricts the request to the patient compartment, a user/ scope does
 * not), an unconstrained scope before a granular one, then the order granted.
 */
export function findAuthorisingScope(granted: readonly string[], request: ScopeRequest): string | undefined {
  const parsed = granted.map(tryParseSmartScope).filter((s): s is ResourceScope => s?.kind === 'resource');
  const levels = request.level ? [request.level] : LEVEL_PREFERENCE;
  for (const level of levels) {
    const candidates = parsed.filter((s) => s.level === level && scopeAllows(s, { ...request, level }));
    const best = candidates.find((s) => s.query.length === 0) ?? candidates[0];
    if (best) return best.raw;
  }
  return undefined;
}

/**
 * Does `granted` cover everything `required` grants? Used for explicit rule lists (http routes):
 * equal strings always do; otherwise both must be resource scopes of the same level, the granted
 * type equal or "*", its permissions a superset, and its constraints none or the same.
 */
export function scopeCovers(granted: string, required: string): boolean {
  if (granted === required) return true;
  const g = tryParseSmartScope(granted);
  const r = tryParseSmartScope(required);
  if (g?.kind !== 'resource' || r?.kind !== 'resource') return false;
  if (g.level !== r.level) return false;
  if (g.resourceType !== '*' && g.resourceType !== r.resourceType) return false;
  if (![...r.permissions].every((p) => g.permissions.includes(p))) return false;
  if (g.query.length === 0) return true;
  return g.query.length === r.query.length && g.query.every(([n, v], i) => r.query[i]![0] === n && r.query[i]![1] === v);
}

/** Splits a space-delimited scope claim (RFC 6749 §3.3), dropping empties and duplicates. */
export function splitScopeClaim(scope: unknown): string[] {
  if (typeof scope !== 'string') return [];
  return [...new Set(scope.split(' ').filter(Boolean))];
}
