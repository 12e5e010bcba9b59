// Policy for non-FHIR PHI APIs (route type `http`): explicit rules, method + path pattern → scopes,
// first match wins, everything unmatched is denied (403) and audited (docs/SECURITY.md, "PHI
// gateway: deny by default, SMART scope per interaction").
//
// A rule's scopes are alternatives: any one of them authorises. A granted SMART scope also
// satisfies a narrower listed one (scopeCovers). A patient/ scope reaches a rule only when the
// rule names the :param holding the patient's id, and that param must be the token's patient; a
// user/ scope reaches such a rule only for a patient on the user's panel.
// Deliberately not checked: response bodies (the gateway cannot know their shape).
import { scopeCovers, tryParseSmartScope } from '../smart/scopes.js';
import type { GatewayRule } from '../config/gateway.js';
import { accessDenied, GatewayDenial, notOnPanel } from './errors.js';
import type { VerifiedAccessToken } from '../oauth/resource-server/verify-access-token.js';

export interface HttpMatch {
  rule: GatewayRule;
  params: Record<string, string>;
}

export interface HttpPlan {
  scopeUsed: string;
  compartment?: string;
  patientHint?: string;
  resource: string;
}

/** Splits and decodes a path below the prefix; null when a segment is malformed or a dot segment. */
export function pathSegments(path: string): string[] | null {
  if (path === '' || path === '/') return [];
  const raw = path.replace(/^\//, '').split('/');
  const out: string[] = [];
  for (const s of raw) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(s);
    } catch {
      return null;
    }
    // Encoded slashes, backslashes, NUL and dot segments could change meaning upstream.
    if (decoded === '' || decoded === '.' || decoded === '..' || /[/\\\0]/.test(decoded) || /[\x00-\x1f\x7f]/.test(decoded)) return null;
    out.push(decoded);
  }
  return out;
}

export function matchRule(rules: readonly GatewayRule[], method: string, segments: readonly string[]): HttpMatch | undefined {
  for (const rule of rules) {
    if (rule.method !== method && !(method === 'HEAD' && rule.method === 'GET')) continue;
    const pattern = rule.path === '/' ? [] : rule.path.slice(1).split('/');
    if (pattern.length !== segments.length) continue;
    const params: Record<string, string> = {};
    if (pattern.every((p, i) => (p.startsWith(':') ? ((params[p.slice(1)] = segments[i]!), true) : p === segments[i]))) return { rule, params };
  }
  return undefined;
}

export function planHttpRequest(match: HttpMatch, token: VerifiedAccessToken, prefix: string, userReach?: ReadonlySet<string>): HttpPlan {
  const { rule, params } = match;
  const resource = `${prefix}${rule.path}`;
  // Prefer a granted scope that is neither user- nor patient-level (no limit), then a user-level one
  // (limited to the user's reach when the rule names the patient), then a patient-level one.
  const candidates: Array<{ granted: string; level: 'patient' | 'user' | 'other' }> = [];
  for (const granted of token.scopes) {
    if (!rule.scopes.some((required) => scopeCovers(granted, required))) continue;
    const parsed = tryParseSmartScope(granted);
    candidates.push({ granted, level: parsed?.kind === 'resource' && parsed.level !== 'system' ? parsed.level : 'other' });
  }
  const broad = candidates.find((c) => c.level === 'other') ?? candidates.find((c) => c.level === 'user');
  if (broad) {
    const named = rule.patient_param ? params[rule.patient_param]!.replace(/^Patient\//, '') : undefined;
    // A user/ scope reaches only the user's patients (src/gateway/user-reach.ts) where the rule says which patient.
    if (broad.level === 'user' && userReach && named !== undefined && !userReach.has(named)) {
      throw notOnPanel();
    }
    return { scopeUsed: broad.granted, resource, ...(rule.patient_param ? { patientHint: params[rule.patient_param] } : {}) };
  }
  const narrow = candidates[0];
  if (!narrow) throw new GatewayDenial('insufficient_scope', 'the access token does not carry a scope that allows this request', 'ERR_INSUFFICIENT_SCOPE', { requiredScope: rule.scopes.join(' ') });
  if (!token.patient) throw accessDenied('patient scopes need a patient in context, and this token has none', 'ERR_NO_PATIENT_CONTEXT');
  if (!rule.patient_param) throw accessDenied('this endpoint cannot be limited to one patient, so patient scopes cannot reach it', 'ERR_PATIENT_COMPARTMENT');
  const named = params[rule.patient_param];
  if (named !== token.patient && named !== `Patient/${token.patient}`) throw accessDenied('patient scopes reach only the patient in context', 'ERR_PATIENT_COMPARTMENT');
  return { scopeUsed: narrow.granted, compartment: token.patient, patientHint: token.patient, resource };
}
