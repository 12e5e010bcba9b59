// Scope checks. RFC 6749 §3.3 (scope syntax), RFC 9700 §2.3 (least privilege), RFC 6749 §6
// (a refresh MUST NOT widen the scope originally granted).
import { invalidScope } from '../../errors/oauth-error.js';
import { parseSmartScope, scopeCovers, ScopeSyntaxError } from '../../smart/scopes.js';

// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

/** OpenID Connect scopes that are not tied to a resource server. */
export const IDENTITY_SCOPES = new Set(['openid', 'offline_access', 'fhirUser', 'profile']);

/**
 * Identity and SMART launch-context scopes (SMART App Launch 2.2, "Scopes for requesting context
 * data"): not tied to what a resource server accepts.
 */
export function isContextScope(scope: string): boolean {
  return IDENTITY_SCOPES.has(scope) || scope === 'launch' || scope.startsWith('launch/') || scope === 'online_access';
}

export function parseScope(scope: string | undefined): string[] {
  if (scope === undefined) return [];
  const parts = scope.split(' ').filter(Boolean);
  for (const p of parts) {
    if (!SCOPE_TOKEN.test(p)) throw invalidScope('scope contains characters outside RFC 6749 §3.3');
  }
  return [...new Set(parts)];
}

export function formatScope(scopes: readonly string[]): string {
  return scopes.join(' ');
}

/**
 * Every requested scope must be one the client may request and, for resource scopes, one the target
 * resource server accepts (when it lists its scopes). SMART scopes are compared by meaning, not
 * spelling (SMART App Launch 2.2, v1 scopes mapped to v2): a client registered for `patient/*.read`
 * (v1) may ask for `patient/Observation.rs` (v2) and the reverse; a registration never widens
 * (`.rs` does not cover `.cruds`). A malformed SMART scope (`patient/Observation.dus`) is refused
 * as such.
 */
export function checkRequestedScopes(requested: readonly string[], clientScopes: readonly string[], resourceScopes?: readonly string[]): void {
  for (const s of requested) {
    if (/^(patient|user|system)\//.test(s)) {
      try {
        parseSmartScope(s);
      } catch (err) {
        if (err instanceof ScopeSyntaxError) throw invalidScope(`scope "${s.slice(0, 60)}" is not a valid SMART scope: ${err.message}`);
        throw err;
      }
    }
    if (!clientScopes.some((c) => scopeCovers(c, s))) throw invalidScope(`scope "${s.slice(0, 60)}" is not allowed for this client`);
    if (resourceScopes && resourceScopes.length && !isContextScope(s) && !resourceScopes.some((r) => scopeCovers(r, s))) {
      throw invalidScope(`scope "${s.slice(0, 60)}" is not accepted by the requested resource`);
    }
  }
}

/** RFC 6749 §6: the requested scope "MUST NOT include any scope not originally granted". */
export function narrowScope(requested: readonly string[], granted: readonly string[]): string[] {
  const g = new Set(granted);
  for (const s of requested) {
    if (!g.has(s)) throw invalidScope(`scope "${s.slice(0, 60)}" was not granted and cannot be added on refresh`);
  }
  return [...requested];
}
