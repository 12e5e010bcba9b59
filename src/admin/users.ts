// User administration, shared by the CLI, the admin console and the admin API: opaque random
// subject ids (never an e-mail, name or MRN), argon2id password hashes, a role (patient,
// practitioner, administrator), and for practitioners a patient panel and the break-glass
// permission. Accounts added in the console get their password from their owner through a one-time
// link. Changes are audited without the password (45 CFR 164.308(a)(4)(ii)(C)).
import { keyedDigest } from '../crypto/digest.js';
import { hashPassword } from '../crypto/password.js';
import { randomToken } from '../crypto/random.js';
import { REDACTED, type AuditChange } from '../audit/events.js';
import { ConfigError } from '../config/schema.js';
import { InternalError, isInternalError } from '../errors/internal-error.js';
import { USER_ROLES, isClinicalScope, isUserRole, roleOf } from '../identity/role-policy.js';
import type { UserRecord, UserRole } from '../storage/types.js';
import { FHIR_ID, FHIR_ID_SOURCE } from '../util/fhir-id.js';
import type { AdminDeps } from './clients.js';

export const MIN_PASSWORD_LENGTH = 12;
const FHIR_USER = new RegExp(`^(Patient|Practitioner|RelatedPerson|Person)/${FHIR_ID_SOURCE}$`);

// Field names in messages: the CLI's flags by default, the wire names for the console and the API.
function checkRole(role: string | undefined, field = '--role'): UserRole {
  if (role === undefined) return 'patient';
  if (!isUserRole(role)) throw new ConfigError([`${field}: use one of ${USER_ROLES.join(', ')}`]);
  return role;
}

function checkUsername(username: string, field: string): void {
  if (!/^[A-Za-z0-9._@+-]{3,128}$/.test(username)) {
    throw new ConfigError([`${field}: use 3-128 letters, digits, ".", "_", "@", "+" or "-"`]);
  }
}

function checkFhirUser(fhirUser: string | undefined, field: string): void {
  if (fhirUser !== undefined && !FHIR_USER.test(fhirUser)) throw new ConfigError([`${field}: use a FHIR reference such as Patient/123`]);
}

export async function addUser(deps: Omit<AdminDeps, 'masterKey'>, input: { username: string; password: string; fhirUser?: string; role?: string }): Promise<UserRecord> {
  checkUsername(input.username, '--username');
  if (input.password.length < MIN_PASSWORD_LENGTH) {
    throw new ConfigError([`password: must be at least ${MIN_PASSWORD_LENGTH} characters (read from standard input)`]);
  }
  checkFhirUser(input.fhirUser, '--patient');
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

/**
 * Disables or enables an account. An administrator cannot disable their own account (the actor is
 * their user id in the console): another administrator must, so the server is never left without
 * one by a slip.
 */
export async function setUserDisabled(deps: Omit<AdminDeps, 'masterKey'>, username: string, disabled: boolean): Promise<boolean> {
  const user = await deps.storage.users.getByUsername(username);
  if (!user) return false;
  if (disabled && user.id === deps.actor) throw new ConfigError(['disabled: you cannot disable your own account; another administrator can']);
  await deps.storage.users.setDisabled(user.id, disabled);
  // A disabled account keeps no access: every grant goes, with its refresh and access tokens, its
  // console sessions and any unused password-set link.
  const revoked = disabled ? await deps.storage.grants.revokeByUser(user.id, deps.now(), 'user_disabled') : [];
  const consoleSessions = disabled ? await deps.storage.adminSessions.removeByUser(user.id) : 0;
  const links = disabled ? await deps.storage.passwordSetLinks.removeByUser(user.id) : 0;
  await deps.audit.record({
    type: 'user.changed', actor: { userId: deps.actor }, outcome: 'success', action: disabled ? 'disable' : 'enable', resource: user.id,
    changes: [{ field: 'disabled', before: user.disabled, after: disabled }],
    details: { grants_revoked: revoked.length, ...(disabled ? { console_sessions_ended: consoleSessions, password_links_removed: links } : {}) },
  });
  return true;
}

/**
 * Changes a user's role. Making someone an administrator also revokes their consents that hold
 * clinical scopes, and the grants made under them (administrator and clinical identities stay
 * apart, the 2025 NPRM to 45 CFR 164.312(a)(2)(ii)). Resolves undefined for an unknown user.
 */
export async function setUserRole(deps: Omit<AdminDeps, 'masterKey'>, username: string, roleText: string, field = '--role'): Promise<{ user: UserRecord; consentsRevoked: number } | undefined> {
  const role = checkRole(roleText, field);
  const user = await deps.storage.users.getByUsername(username);
  if (!user) return undefined;
  const before = roleOf(user);
  if (user.id === deps.actor && before === 'administrator' && role !== 'administrator') {
    throw new ConfigError([`${field}: you cannot remove your own administrator role; another administrator can`]);
  }
  await deps.storage.users.setRole(user.id, role);
  // A console session holds the rights of the role it began with: a changed role signs in again.
  const consoleSessions = role !== before ? await deps.storage.adminSessions.removeByUser(user.id) : 0;
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
    ...(consoleSessions > 0 ? { details: { console_sessions_ended: consoleSessions } } : {}),
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

// ---- The admin console and admin API (issue 15): search, accounts whose owner sets the password
// through a one-time link, unlock. Field names in messages are the wire names of the console's
// forms and the API's JSON.

/** One page of the users list. */
export const USER_PAGE_SIZE = 50;

/**
 * One page (from 1) of accounts by username, optionally those whose username contains `query` in
 * any letter case; `more` says whether a next page exists.
 */
export async function searchUsers(deps: Pick<AdminDeps, 'storage'>, input: { query?: string; page?: number; pageSize?: number }): Promise<{ users: UserRecord[]; more: boolean }> {
  const size = input.pageSize ?? USER_PAGE_SIZE;
  const page = Math.max(1, Math.floor(input.page ?? 1));
  const found = await deps.storage.users.search({ usernameContains: input.query?.trim() || undefined, limit: size + 1, offset: (page - 1) * size });
  return { users: found.slice(0, size), more: found.length > size };
}

/** The public view of an account (never its password hash), with the wire names of the API. */
export function describeUser(user: UserRecord): Record<string, unknown> {
  return {
    id: user.id, username: user.username, role: roleOf(user), disabled: user.disabled, fhir_user: user.fhirUser,
    patient_panel: user.patientPanel ?? [], break_glass: user.breakGlass === true, created_at: new Date(user.createdAt).toISOString(),
  };
}

/** Where a user opens their password-set link: outside /admin, so the console's IP allow-list never stands in their way. */
export const PASSWORD_LINK_PATH = '/password/set';

export function passwordLinkUrl(issuer: string, token: string): string {
  return `${issuer}${PASSWORD_LINK_PATH}?token=${encodeURIComponent(token)}`;
}

/** A one-time password-set link: the token is shown once (in the link) and stored only as its keyed digest. */
export interface PasswordLink {
  token: string;
  expiresAt: number;
}

const linkDigest = (deps: Pick<AdminDeps, 'masterKey'>, token: string) => keyedDigest(deps.masterKey.digestKey('password-link'), token);

/**
 * Replaces the user's password-set links with a new one, valid `ttlSeconds`
 * (admin_console.password_link_ttl): an older link stops working. Audited as user.changed,
 * action password_link; the token is never recorded.
 */
async function issuePasswordLink(deps: AdminDeps, user: UserRecord, ttlSeconds: number): Promise<PasswordLink> {
  const replaced = await deps.storage.passwordSetLinks.removeByUser(user.id);
  // RFC 6749 §10.10-grade: 256 random bits, so the link cannot be guessed.
  const token = randomToken(32);
  const now = deps.now();
  const expiresAt = now + ttlSeconds * 1000;
  await deps.storage.passwordSetLinks.create({ digest: linkDigest(deps, token), userId: user.id, createdBy: deps.actor, createdAt: now, expiresAt });
  await deps.audit.record({
    type: 'user.changed', actor: { userId: deps.actor }, outcome: 'success', action: 'password_link', resource: user.id,
    details: { expires_at: new Date(expiresAt).toISOString(), links_replaced: replaced },
  });
  return { token, expiresAt };
}

export interface NewUserInput {
  username: string;
  role?: string;
  /** A FHIR reference the account is linked to (Patient/123). */
  fhirUser?: string;
  /** Practitioners only: FHIR Patient ids or Patient/ references. */
  patientPanel?: readonly string[];
}

/**
 * Adds an account whose owner chooses the password through a one-time link: the administrator
 * never types, sees or sends a password (45 CFR 164.308(a)(5)(ii)(D) password management). Until
 * the link is used the account holds an argon2id hash of 256 random bits nobody knows, so no
 * password signs in. Audited as user.changed create, then password_link.
 */
export async function addUserWithPasswordLink(deps: AdminDeps, input: NewUserInput, linkTtlSeconds: number): Promise<{ user: UserRecord; link: PasswordLink }> {
  checkUsername(input.username, 'username');
  const role = checkRole(input.role, 'role');
  checkFhirUser(input.fhirUser, 'fhir_user');
  const panel = parsePatientPanel((input.patientPanel ?? []).join(','));
  if (panel.length > 0 && role !== 'practitioner') throw new ConfigError(['patient_panel: only practitioners can have a patient panel']);
  const taken = () => new ConfigError(['username: an account with this username exists']);
  if (await deps.storage.users.getByUsername(input.username)) throw taken();
  const user: UserRecord = {
    id: `u_${randomToken(16)}`, username: input.username, passwordHash: await hashPassword(randomToken(32)), disabled: false,
    fhirUser: input.fhirUser ?? null, createdAt: deps.now(), role, patientPanel: panel, breakGlass: false,
  };
  await deps.storage.users.create(user).catch((err: unknown) => {
    throw isInternalError(err, 'ERR_CONFLICT') ? taken() : err;
  });
  await deps.audit.record({
    type: 'user.changed', actor: { userId: deps.actor }, outcome: 'success', action: 'create', resource: user.id,
    changes: [
      { field: 'disabled', before: null, after: false }, { field: 'role', before: null, after: role },
      ...(user.fhirUser ? [{ field: 'fhir_user', before: null, after: user.fhirUser }] : []),
      ...(panel.length ? [{ field: 'patient_panel', before: null, after: panel }] : []),
    ],
    details: { password: 'set_by_user_link' },
  });
  return { user, link: await issuePasswordLink(deps, user, linkTtlSeconds) };
}

/**
 * A new password-set link for an existing, enabled account (a forgotten password): older links stop
 * working; the current password keeps working until the user sets a new one. Resolves undefined
 * for an unknown user.
 */
export async function sendPasswordLink(deps: AdminDeps, username: string, linkTtlSeconds: number): Promise<PasswordLink | undefined> {
  const user = await deps.storage.users.getByUsername(username);
  if (!user) return undefined;
  if (user.disabled) throw new ConfigError(['password_link: the account is disabled; enable it first']);
  return issuePasswordLink(deps, user, linkTtlSeconds);
}

/** The account a password-set link is for, while the link is unused and unexpired (and the account enabled). */
export async function peekPasswordLink(deps: Pick<AdminDeps, 'storage' | 'masterKey' | 'now'>, token: string): Promise<UserRecord | undefined> {
  if (!/^[A-Za-z0-9_-]{20,100}$/.test(token)) return undefined;
  const link = await deps.storage.passwordSetLinks.peek(linkDigest(deps, token), deps.now());
  const user = link && await deps.storage.users.getById(link.userId);
  return user && !user.disabled ? user : undefined;
}

/** At most this long: argon2id hashes anything, but a megabyte of "password" is a denial of service. */
export const MAX_PASSWORD_LENGTH = 256;

/** What is wrong with a new password and its confirmation (NIST SP 800-63B §5.1.1.2: length, not composition rules), or undefined. */
export function newPasswordProblem(password: string, confirmation: string): { field: 'password' | 'confirmation'; message: string } | undefined {
  if (password.length < MIN_PASSWORD_LENGTH) return { field: 'password', message: `Use at least ${MIN_PASSWORD_LENGTH} characters.` };
  if (password.length > MAX_PASSWORD_LENGTH) return { field: 'password', message: `Use at most ${MAX_PASSWORD_LENGTH} characters.` };
  if (confirmation !== password) return { field: 'confirmation', message: 'The two passwords are not the same. Type the same password twice.' };
  return undefined;
}

export type PasswordLinkResult =
  | { ok: true; user: UserRecord }
  | { ok: false; reason: 'link_unusable' }
  | { ok: false; reason: 'invalid_password'; field: 'password' | 'confirmation'; message: string };

/**
 * Sets the password of the link's account and uses the link up: of two submissions of one link
 * only one succeeds (PasswordSetLinkStore.take). The password is checked before the link is taken,
 * so a typing mistake does not spend it. Audited as user.changed, action password_set, with the
 * user as actor. `deps.actor` is not used: the link says who acts.
 */
export async function setPasswordWithLink(deps: Omit<AdminDeps, 'actor'>, token: string, password: string, confirmation: string): Promise<PasswordLinkResult> {
  const problem = newPasswordProblem(password, confirmation);
  if (problem) return { ok: false, reason: 'invalid_password', ...problem };
  if (!/^[A-Za-z0-9_-]{20,100}$/.test(token)) return { ok: false, reason: 'link_unusable' };
  const link = await deps.storage.passwordSetLinks.take(linkDigest(deps, token), deps.now());
  const user = link && await deps.storage.users.getById(link.userId);
  if (!link || !user || user.disabled) return { ok: false, reason: 'link_unusable' };
  await deps.storage.users.setPasswordHash(user.id, await hashPassword(password));
  // A new password ends what the old one opened (a link is also how a compromised account is
  // recovered): sign-in and console sessions, and every grant with its tokens.
  const now = deps.now();
  const [sessions, consoleSessions, grants] = await Promise.all([
    deps.storage.sessions.removeByUser(user.id), deps.storage.adminSessions.removeByUser(user.id), deps.storage.grants.revokeByUser(user.id, now, 'password_set'),
  ]);
  await deps.audit.record({
    type: 'user.changed', actor: { userId: user.id }, outcome: 'success', action: 'password_set', resource: user.id,
    changes: [{ field: 'password', before: REDACTED, after: REDACTED }],
    details: { link_created_by: link.createdBy, sessions_ended: sessions + consoleSessions, grants_revoked: grants.length },
  });
  return { ok: true, user };
}

/** The sign-in lockout of src/interaction/login.ts, handed in by the console and the API (that layer keeps its keys). */
export interface LockoutControl {
  locked(username: string): Promise<boolean>;
  clear(username: string): Promise<void>;
}

/**
 * Ends the account's sign-in lockout and forgets its failures and lockout level (45 CFR
 * 164.308(a)(5)(ii)(C): the administrator who restores access is on record). Audited as
 * user.changed, action unlock. Resolves undefined for an unknown user.
 */
export async function unlockUser(deps: Omit<AdminDeps, 'masterKey'>, username: string, lockout: LockoutControl): Promise<{ wasLocked: boolean } | undefined> {
  const user = await deps.storage.users.getByUsername(username);
  if (!user) return undefined;
  const wasLocked = await lockout.locked(user.username);
  await lockout.clear(user.username);
  await deps.audit.record({
    type: 'user.changed', actor: { userId: deps.actor }, outcome: 'success', action: 'unlock', resource: user.id,
    changes: [{ field: 'locked', before: wasLocked, after: false }],
  });
  return { wasLocked };
}
