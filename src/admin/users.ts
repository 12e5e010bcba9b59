// User administration: opaque random subject ids (never an e-mail, name or MRN), argon2id
// password hashes, a role (patient, practitioner, administrator), and for practitioners a patient
// panel and the break-glass permission. Changes are audited without the password.
import { hashPassword } from '../crypto/password.js';
import { randomToken } from '../crypto/random.js';
import { REDACTED, type AuditChange } from '../audit/events.js';
import { ConfigError } from '../config/schema.js';
import { InternalError } from '../errors/internal-error.js';
import { USER_ROLES, isClinicalScope, isUserRole, roleOf } from '../identity/role-policy.js';
import type { UserRecord, UserRole } from '../storage/types.js';
import { FHIR_ID, FHIR_ID_SOURCE } from '../util/fhir-id.js';
import type { AdminDeps } from './clients.js';

export const MIN_PASSWORD_LENGTH = 12;
const FHIR_USER = new RegExp(`^(Patient|Practitioner|RelatedPerson|Person)/${FHIR_ID_SOURCE}$`);

function checkRole(role: string | undefined): UserRole {
  if (role === undefined) return 'patient';
  if (!isUserRole(role)) throw new ConfigError([`--role: use one of ${USER_ROLES.join(', ')}`]);
  return role;
}

export async function addUser(deps: Omit<AdminDeps, 'masterKey'>, input: { username: string; password: string; fhirUser?: string; role?: string }): Promise<UserRecord> {
  if (!/^[A-Za-z0-9._@+-]{3,128}$/.test(input.username)) {
    throw new ConfigError(['--username: use 3-128 letters, digits, ".", "_", "@", "+" or "-"']);
  }
  if (input.password.length < MIN_PASSWORD_LENGTH) {
    throw new ConfigError([`password: must be at least ${MIN_PASSWORD_LENGTH} characters (read from standard input)`]);
  }
  if (input.fhirUser !== undefined && !FHIR_USER.test(input.fhirUser)) {
    throw new ConfigError(['--patient: use a FHIR reference such as Patient/123']);
  }
  const role = checkRole(input.role);
  if (await deps.storage.users.getByUsername(input.username)) throw new InternalError('ERR_CONFLICT', `user ${input.username} already exists`);
  const user: UserRecord = {
    id: `u_${randomToken(16)}`, username: input.username, passwordHash: await hashPassword(input.password), disabled: false,
    fhirUser: input.fhirUser ?? null, createdAt: deps.now(), role,
  };
  await deps.storage.users.create(user);
  await deps.audit.record({
    type: 'user.changed', actor: { userId: deps.actor }, outcome: 'success', action: 'create', resource: user.id,
    changes: [{ field: 'password', before: null, after: REDACTED }, { field: 'disabled', before: null, after: false }, { field: 'role', before: null, after: role }],
  });
  return user;
}

export async function setUserDisabled(deps: Omit<AdminDeps, 'masterKey'>, username: string, disabled: boolean): Promise<boolean> {
  const user = await deps.storage.users.getByUsername(username);
  if (!user) return false;
  await deps.storage.users.setDisabled(user.id, disabled);
  // A disabled account keeps no access: every grant goes, with its refresh and access tokens.
  const revoked = disabled ? await deps.storage.grants.revokeByUser(user.id, deps.now(), 'user_disabled') : [];
  await deps.audit.record({
    type: 'user.changed', actor: { userId: deps.actor }, outcome: 'success', action: disabled ? 'disable' : 'enable', resource: user.id,
    changes: [{ field: 'disabled', before: user.disabled, after: disabled }], details: { grants_revoked: revoked.length },
  });
  return true;
}

/**
 * Changes a user's role. Making someone an administrator also revokes their consents that hold
 * clinical scopes, and the grants made under them (administrator and clinical identities stay
 * apart, the 2025 NPRM to 45 CFR 164.312(a)(2)(ii)). Resolves undefined for an unknown user.
 */
export async function setUserRole(deps: Omit<AdminDeps, 'masterKey'>, username: string, roleText: string): Promise<{ user: UserRecord; consentsRevoked: number } | undefined> {
  const role = checkRole(roleText);
  const user = await deps.storage.users.getByUsername(username);
  if (!user) return undefined;
  const before = roleOf(user);
  await deps.storage.users.setRole(user.id, role);
  // A patient panel and the break-glass permission belong to practitioners only: they go with the role.
  const changes: AuditChange[] = [{ field: 'role', before, after: role }];
  if (role !== 'practitioner' && (user.patientPanel ?? []).length > 0) {
    await deps.storage.users.setPatientPanel(user.id, []);
    changes.push({ field: 'patient_panel', before: user.patientPanel, after: [] });
  }
  if (role !== 'practitioner' && user.breakGlass === true) {
    await deps.storage.users.setBreakGlass(user.id, false);
    changes.push({ field: 'break_glass', before: true, after: false });
  }
  await deps.audit.record({
    type: 'user.changed', actor: { userId: deps.actor }, outcome: 'success', action: 'set_role', resource: user.id, changes,
  });
  let consentsRevoked = 0;
  if (role === 'administrator') {
    const now = deps.now();
    for (const consent of await deps.storage.consents.listByUser(user.id)) {
      if (consent.revokedAt !== null || !consent.scopesGranted.some(isClinicalScope)) continue;
      await deps.storage.consents.revoke(consent.id, now);
      const grants = await deps.storage.grants.revokeByConsent(consent.id, now, 'consent_revoked');
      await deps.audit.record({
        type: 'consent.revoked', actor: { userId: deps.actor, clientId: consent.clientId }, outcome: 'success', consentId: consent.id,
        reason: 'role_policy', resource: user.id, details: { grants_revoked: grants.length },
      });
      consentsRevoked += 1;
    }
  }
  const cleared = role === 'practitioner' ? {} : { patientPanel: [], breakGlass: false };
  return { user: { ...user, role, ...cleared }, consentsRevoked };
}

/**
 * Parses a patient panel given as FHIR ids or Patient/ references, comma separated ("Patient/1,2");
 * blanks are dropped, duplicates kept once. An empty text is the empty panel.
 */
export function parsePatientPanel(text: string): string[] {
  const ids: string[] = [];
  for (const item of text.split(',')) {
    const trimmed = item.trim();
    if (trimmed === '') continue;
    const id = trimmed.replace(/^Patient\//, '');
    if (!FHIR_ID.test(id)) {
      throw new ConfigError([`patients: "${trimmed.slice(0, 80)}" is not a FHIR Patient id or Patient/ reference (letters, digits, "-" and ".", at most 64)`]);
    }
    if (!ids.includes(id)) ids.push(id);
  }
  return ids;
}

function onlyPractitioners(user: UserRecord, what: string): void {
  const role = roleOf(user);
  if (role !== 'practitioner') {
    throw new ConfigError([`${user.username} is ${role === 'administrator' ? 'an' : 'a'} ${role}: only practitioners can hold ${what} (caduceus user set-role ${user.username} practitioner)`]);
  }
}

/**
 * Replaces a practitioner's patient panel: the patients they may pick at launch (FHIR ids, from
 * parsePatientPanel). Any role's panel may be cleared; only a practitioner may be given one.
 * Resolves undefined for an unknown user.
 */
export async function setUserPatientPanel(deps: Omit<AdminDeps, 'masterKey'>, username: string, patients: readonly string[]): Promise<{ before: string[]; after: string[] } | undefined> {
  const after = parsePatientPanel(patients.join(','));
  const user = await deps.storage.users.getByUsername(username);
  if (!user) return undefined;
  if (after.length > 0) onlyPractitioners(user, 'a patient panel');
  const before = user.patientPanel ?? [];
  await deps.storage.users.setPatientPanel(user.id, after);
  await deps.audit.record({
    type: 'user.changed', actor: { userId: deps.actor }, outcome: 'success', action: 'set_patient_panel', resource: user.id,
    changes: [{ field: 'patient_panel', before, after }],
  });
  return { before, after };
}

/**
 * Grants or withdraws the break-glass (emergency access) permission, 45 CFR 164.312(a)(2)(ii).
 * Anyone's may be withdrawn; only a practitioner may be granted it. Resolves undefined for an
 * unknown user.
 */
export async function setUserBreakGlass(deps: Omit<AdminDeps, 'masterKey'>, username: string, allowed: boolean): Promise<{ before: boolean; after: boolean } | undefined> {
  const user = await deps.storage.users.getByUsername(username);
  if (!user) return undefined;
  if (allowed) onlyPractitioners(user, 'the break-glass permission');
  const before = user.breakGlass === true;
  await deps.storage.users.setBreakGlass(user.id, allowed);
  await deps.audit.record({
    type: 'user.changed', actor: { userId: deps.actor }, outcome: 'success', action: 'set_break_glass', resource: user.id,
    changes: [{ field: 'break_glass', before, after: allowed }],
  });
  return { before, after: allowed };
}

/**
 * Removes every second factor and recovery code of a user (a lost phone and lost codes). If the
 * role requires MFA, the user enrols again at the next sign-in. Resolves undefined for an unknown user.
 */
export async function resetUserMfa(deps: Omit<AdminDeps, 'masterKey'>, username: string): Promise<{ factors: number; recoveryCodes: number } | undefined> {
  const user = await deps.storage.users.getByUsername(username);
  if (!user) return undefined;
  const factors = await deps.storage.mfaFactors.removeByUser(user.id);
  const recoveryCodes = await deps.storage.recoveryCodes.removeByUser(user.id);
  await deps.audit.record({
    type: 'user.changed', actor: { userId: deps.actor }, outcome: 'success', action: 'mfa_reset', resource: user.id,
    changes: [{ field: 'mfa', before: factors > 0 ? REDACTED : null, after: null }], details: { factors, recovery_codes: recoveryCodes },
  });
  return { factors, recoveryCodes };
}
