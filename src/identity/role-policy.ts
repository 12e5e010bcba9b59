// Role policy: what each role may be granted and whether it must use a second factor.
//
// Separation of administrator and clinical identities (the 2025 NPRM to 45 CFR 164.312(a)(2)(ii)):
// an administrator account cannot hold clinical scopes. Clinical scopes are the SMART resource
// scopes (patient/…, user/…, system/…) and the launch context scopes (launch, launch/…).
// Pure functions, shared by the consent step (src/interaction/routes.ts turns a refusal into
// access_denied), the MFA flow, break-glass, the gateway's user reach and user administration.
import type { UserRecord, UserRole } from '../storage/types.js';

export const USER_ROLES: readonly UserRole[] = ['patient', 'practitioner', 'administrator'];

/** A stored user's role; accounts from before roles existed are patients. */
export function roleOf(user: Pick<UserRecord, 'role'>): UserRole {
  return user.role ?? 'patient';
}

export function isUserRole(value: string): value is UserRole {
  return (USER_ROLES as readonly string[]).includes(value);
}

export function isClinicalScope(scope: string): boolean {
  return /^(patient|user|system)\//.test(scope) || scope === 'launch' || scope.startsWith('launch/');
}

export type RoleScopeDecision = { allowed: true } | { allowed: false; refused: string[]; description: string };

/** Whether a user of `role` may be granted `scopes`. Administrators may not hold any clinical scope. */
export function checkRoleScopes(role: UserRole, scopes: readonly string[]): RoleScopeDecision {
  if (role !== 'administrator') return { allowed: true };
  const refused = scopes.filter(isClinicalScope);
  if (refused.length === 0) return { allowed: true };
  return {
    allowed: false,
    refused,
    description: 'administrator accounts cannot be granted clinical scopes (patient/, user/, system/, launch); sign in with a clinical account',
  };
}

/**
 * Effective access is the requested scopes intersected with what the role may hold (SMART App
 * Launch 2.2 scopes-and-launch-context: "If the underlying user has limited permissions, the client
 * will face these same limitations"; 45 CFR 164.308(a)(4) access authorization, 164.502(b) minimum
 * necessary):
 * - system/ scopes are for backend services (client_credentials) only, never for a person;
 * - a patient acts for their own record only: no user/ scopes (every patient the server holds);
 * - a practitioner may hold patient/ and user/ scopes.
 * Administrators are refused clinical scopes outright (checkRoleScopes).
 */
export function scopesForRole(role: UserRole, scopes: readonly string[]): { allowed: string[]; removed: string[] } {
  const removable = (s: string) => s.startsWith('system/') || (role === 'patient' && s.startsWith('user/'));
  return { allowed: scopes.filter((s) => !removable(s)), removed: scopes.filter(removable) };
}

/** Whether the role must sign in with a second factor (config mfa.required_roles). */
export function mfaRequiredFor(role: UserRole, requiredRoles: readonly string[]): boolean {
  return requiredRoles.includes(role);
}
