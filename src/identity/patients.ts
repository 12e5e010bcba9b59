// Which patients a person may act for, and which scopes need a patient in context: the rules the
// consent page (src/interaction/patient-context.ts), the grants (src/oauth/grants/issue.ts) and
// the gateway (src/gateway/user-reach.ts) share. SMART App Launch 2.2 scopes-and-launch-context
// ("launch/patient", user/ scopes: "resources the user is permitted to access"); 45 CFR
// 164.502(b) minimum necessary. Identifiers only; pure functions.
//
// Deliberately not checked here: whether the account is disabled (the caller has the account and
// decides), and break-glass, which reaches a patient off the panel through patient/ scopes of its
// own (src/interaction/break-glass.ts).
import type { UserRecord } from '../storage/types.js';
import { FHIR_ID_SOURCE } from '../util/fhir-id.js';
import { roleOf } from './role-policy.js';

const NOBODY: ReadonlySet<string> = new Set();

/** patient/ scopes and launch/patient need a patient in context. */
export function needsPatient(scopes: readonly string[]): boolean {
  return scopes.some((s) => s === 'launch/patient' || s.startsWith('launch/patient?') || s.startsWith('patient/'));
}

const OWN_PATIENT = new RegExp(`^Patient/(${FHIR_ID_SOURCE})$`);

/** The FHIR id of a user's own Patient record (fhirUser Patient/123 → "123"). */
export function ownPatientId(user: Pick<UserRecord, 'fhirUser'>): string | undefined {
  return OWN_PATIENT.exec(user.fhirUser ?? '')?.[1];
}

/**
 * The patients a person may act for: a practitioner's panel (users.patient_panel, set with
 * `caduceus user set-panel`), a patient account's own record, and nobody for any other account.
 */
export function patientReach(user: Pick<UserRecord, 'role' | 'fhirUser' | 'patientPanel'>): ReadonlySet<string> {
  const role = roleOf(user);
  if (role === 'practitioner') return new Set(user.patientPanel ?? []);
  const own = role === 'patient' ? ownPatientId(user) : undefined;
  return own !== undefined ? new Set([own]) : NOBODY;
}
