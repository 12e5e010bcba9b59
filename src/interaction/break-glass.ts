// Emergency access ("break-glass", 45 CFR 164.312(a)(2)(ii)): a practitioner with the permission,
// signed in with a second factor, finds a patient outside their panel (by name and date of birth or
// MRN: src/interaction/break-glass-search.ts), who must exist, and states a reason. The grant
// carries purpose_of_use ETREAT (HL7 v3 PurposeOfUse "emergency treatment"), its tokens live at
// most breakglass.token_ttl_seconds with no refresh, reach only the emergency patient and only
// read (narrowBreakGlassScopes), every use is flagged in the ledger, a webhook is told at once, and
// the access stays open until reviewed (`caduceus breakglass review`).
import { randomToken } from '../crypto/random.js';
import { notifyBreakGlass } from '../breakglass/notify.js';
import { sealAccessText } from '../breakglass/sealed-text.js';
import { restrictResourceScope, tryParseSmartScope } from '../smart/scopes.js';
import type { AppContext } from '../context/app-context.js';
import type { BreakGlassAccessRecord, LaunchContext, UserRecord } from '../storage/types.js';
import { FHIR_ID } from '../util/fhir-id.js';
import { hasSecondFactor } from './mfa/acr.js';
import { roleOf } from '../identity/role-policy.js';
import { patientReach } from '../identity/patients.js';
import type { EmergencyFieldErrors } from './break-glass-search.js';
import { patientsById, type PatientReader } from './patient-directory.js';

/** HL7 v3 ActReason "ETREAT": emergency treatment. */
export const EMERGENCY_PURPOSE_OF_USE = 'ETREAT';
export const MIN_REASON_LENGTH = 10;
export const MAX_REASON_LENGTH = 1000;

export type BreakGlassCheck =
  | { ok: true; patient: string; reason: string }
  /** Refused outright (no permission, no second factor): said at the top of the page. */
  | { ok: false; status: 403; message: string }
  /** Fields to correct: each message is shown next to its field, with what was typed kept. */
  | { ok: false; status: 400; fields: EmergencyFieldErrors };

/** Whether this sign-in may use emergency access at all (and so search for its patient): the permission and a second factor. */
export function checkBreakGlassPermission(user: UserRecord, amr: readonly string[]): { ok: true } | { ok: false; status: 403; message: string } {
  if (roleOf(user) !== 'practitioner' || user.breakGlass !== true) {
    return { ok: false, status: 403, message: 'Your account does not have emergency access permission.' };
  }
  if (!hasSecondFactor(amr)) {
    return { ok: false, status: 403, message: 'Emergency access needs two-step verification. Sign in again with your authenticator or passkey.' };
  }
  return { ok: true };
}

/** Checks a break-glass request from the consent page; the messages are shown to the practitioner. */
export function checkBreakGlassRequest(user: UserRecord, amr: readonly string[], patientInput: string | null, reasonInput: string | null): BreakGlassCheck {
  const permitted = checkBreakGlassPermission(user, amr);
  if (!permitted.ok) return permitted;
  const fields: EmergencyFieldErrors = {};
  const patient = (patientInput ?? '').trim().replace(/^Patient\//, '');
  if (!patient) fields.patient = 'Find the patient, then choose them from the results.';
  else if (!FHIR_ID.test(patient)) fields.patient = 'Enter the patient record id: letters, digits, hyphens and dots only.';
  const reason = (reasonInput ?? '').trim();
  if (reason.length < MIN_REASON_LENGTH || reason.length > MAX_REASON_LENGTH) {
    fields.reason = `State the reason for emergency access (${MIN_REASON_LENGTH} to ${MAX_REASON_LENGTH} characters).`;
  }
  if (fields.patient || fields.reason) return { ok: false, status: 400, fields };
  return { ok: true, patient, reason };
}

export type EmergencyPatientCheck =
  | { ok: true }
  /**
   * 409: the patient is on the practitioner's panel, so the ordinary picker applies (no emergency);
   * 400: no such patient; 503: the FHIR server could not be asked, so nothing is granted.
   */
  | { ok: false; status: 400 | 409 | 503; message: string; onPanel?: true };

/**
 * Emergency access is only for a patient who exists and is not already on the practitioner's
 * panel (45 CFR 164.312(a)(2)(ii) is for care that cannot wait for ordinary access, and a typo
 * must not open an emergency record, a review item and a webhook call). The patient is read from
 * the FHIR server as the practitioner and the read is recorded in the ledger (purpose
 * breakglass_check); when it cannot be read, access is refused (fail closed).
 */
export async function confirmEmergencyPatient(
  ctx: AppContext, input: { user: UserRecord; resource: string; reader: PatientReader; patient: string },
): Promise<EmergencyPatientCheck> {
  if (patientReach(input.user).has(input.patient)) {
    return { ok: false, status: 409, onPanel: true, message: 'This patient is on your patient list: choose them above. Emergency access is not needed.' };
  }
  const lookup = await patientsById(ctx, { resource: input.resource, reader: input.reader, ids: [input.patient], purpose: 'breakglass_check' });
  if (!lookup.ok) {
    return lookup.problem === 'no_route'
      ? { ok: false, status: 400, message: 'Emergency access is not available for this data source: its patients cannot be looked up.' }
      : { ok: false, status: 503, message: 'The patient records could not be checked just now, so emergency access was not granted. Try again in a moment.' };
  }
  if (lookup.patients.length === 0) return { ok: false, status: 400, message: 'No patient with this record was found. Search again by name and date of birth, or by MRN.' };
  return { ok: true };
}

/**
 * Whether a consent was made for emergency access: such a consent is never reused for a later
 * authorization (its scopes were narrowed for one patient, for one emergency).
 */
export async function isEmergencyConsent(ctx: AppContext, userId: string, consentId: string): Promise<boolean> {
  const grants = await ctx.storage.grants.listByUser(userId);
  return grants.some((g) => g.consentId === consentId && g.launchContext?.purposeOfUse === EMERGENCY_PURPOSE_OF_USE);
}

/** SMART permission letters an emergency access keeps: read and search, or every letter with unsafe.breakglass_write. */
const READ_ONLY = 'rs';
const READ_WRITE = 'cruds';

/**
 * Minimum necessary for an emergency access (45 CFR 164.502(b), 164.514(d)). Every resource scope
 * becomes a patient/ scope of the same type, permissions and constraints, so the token reaches only
 * the emergency patient's compartment (the grant's patient context); user/ scopes would reach every
 * patient the upstream holds. Create, update and delete (v2 c, u, d; v1 .write; v1 .* becomes
 * .read) are dropped unless `allowWrite` (unsafe.breakglass_write); a scope left with no
 * permission is dropped. Other scopes (openid, fhirUser, launch…) pass unchanged. Scopes that
 * become equal are granted once, in first-seen order. Malformed scopes were refused at /authorize;
 * one met here is dropped, never passed on.
 */
export function narrowBreakGlassScopes(scopes: readonly string[], allowWrite: boolean): string[] {
  const granted = new Set<string>();
  for (const raw of scopes) {
    const scope = tryParseSmartScope(raw);
    if (scope === undefined) continue;
    if (scope.kind !== 'resource') {
      granted.add(raw);
      continue;
    }
    const narrowed = restrictResourceScope(scope, { level: 'patient', keep: allowWrite ? READ_WRITE : READ_ONLY });
    if (narrowed !== undefined) granted.add(narrowed);
  }
  return [...granted];
}

/**
 * Records the emergency access (open for review), audits it and notifies the webhook. Resolves the
 * launch context for the grant. The ledger event carries identifiers only; the reason stays in the
 * break_glass_accesses row for the reviewer.
 */
export async function recordBreakGlass(
  ctx: AppContext,
  input: {
    userId: string; clientId: string; grantId: string; patient: string; reason: string; consentId: string; requestId: string; sourceAddress: string;
    /** As requested and as granted (narrowBreakGlassScopes). */
    scopes: { requested: string[]; granted: string[] };
  },
): Promise<LaunchContext> {
  const now = ctx.now();
  const id = `bg_${randomToken(16)}`;
  const access: BreakGlassAccessRecord = {
    // The reason is sealed at rest (src/breakglass/sealed-text.ts): it may describe the patient's condition.
    id, userId: input.userId, clientId: input.clientId, grantId: input.grantId, patient: input.patient, reason: sealAccessText(ctx.masterKey, id, 'reason', input.reason),
    createdAt: now, expiresAt: now + ctx.config.breakglass.token_ttl_seconds * 1000, reviewedAt: null, reviewedBy: null, reviewOutcome: null, reviewNote: null,
  };
  await ctx.storage.breakGlass.create(access);
  await ctx.audit.record({
    type: 'breakglass.granted', actor: { userId: input.userId, clientId: input.clientId }, outcome: 'success', patient: `Patient/${input.patient}`,
    scopes: input.scopes, grantId: input.grantId, consentId: input.consentId, requestId: input.requestId, sourceAddress: input.sourceAddress, reason: 'emergency',
    details: { breakglass_id: access.id, purpose_of_use: EMERGENCY_PURPOSE_OF_USE, expires_at: access.expiresAt },
  });
  // Real-time notification; never blocks or fails the emergency access (failures are audited).
  void notifyBreakGlass(ctx, access);
  return { patient: input.patient, purposeOfUse: EMERGENCY_PURPOSE_OF_USE, breakGlassId: access.id, needPatientBanner: true };
}
