// Which patient an authorization is about (SMART App Launch 2.2, scopes-and-launch-context.md
// "launch/patient"): from an EHR launch, the user's own record for a patient, or a choice from the
// practitioner's panel (the patient picker on the consent page). Emergency access to a patient
// outside the panel is break-glass (src/interaction/break-glass.ts). Identifiers only.
import type { AuthorizationRequest } from '../oauth/authorization-request.js';
import { contextForScopes, FHIR_ID } from '../smart/launch-context.js';
import type { AppContext } from '../server/context.js';
import type { LaunchContext, UserRecord } from '../storage/types.js';
import { roleOf } from './role-policy.js';

export type PatientChoice =
  /** No patient context is asked for. */
  | { kind: 'none' }
  /** The patient is settled: from the EHR launch, or the patient user's own record. */
  | { kind: 'fixed'; patient: string; source: 'launch' | 'self' }
  /** A practitioner picks from their panel (and may use break-glass when permitted). */
  | { kind: 'pick'; patients: string[]; breakGlass: boolean }
  /** A patient context is needed and this user has none to give. */
  | { kind: 'unavailable'; description: string };

/** patient/ scopes and launch/patient need a patient in context. */
export function needsPatient(scopes: readonly string[]): boolean {
  return scopes.some((s) => s === 'launch/patient' || s.startsWith('launch/patient?') || s.startsWith('patient/'));
}

/** The FHIR id of a user's own Patient record (fhirUser Patient/123 → "123"). */
export function ownPatientId(user: UserRecord): string | undefined {
  return /^Patient\/([A-Za-z0-9.-]{1,64})$/.exec(user.fhirUser ?? '')?.[1];
}

export function patientChoice(user: UserRecord, request: AuthorizationRequest, scopes: readonly string[]): PatientChoice {
  // A launch the EHR made for one of its users is redeemed by that account only.
  if (request.launch?.forUser !== undefined && request.launch.forUser !== user.id) {
    return { kind: 'unavailable', description: 'the launch was made for another account' };
  }
  const role = roleOf(user);
  const launched = request.launch?.patient;
  if (launched !== undefined) {
    // An EHR launch names the patient, but only someone who may act for them gets them in context:
    // the patient themself, or a practitioner with the patient on their panel.
    const allowed = role === 'patient' ? ownPatientId(user) === launched : role === 'practitioner' && (user.patientPanel ?? []).includes(launched);
    return allowed ? { kind: 'fixed', patient: launched, source: 'launch' } : { kind: 'unavailable', description: 'the launched patient is not one this account may access' };
  }
  if (!needsPatient(scopes)) return { kind: 'none' };
  if (role === 'patient') {
    const own = ownPatientId(user);
    return own ? { kind: 'fixed', patient: own, source: 'self' } : { kind: 'unavailable', description: 'your account is not linked to a patient record' };
  }
  if (role === 'practitioner') {
    const patients = (user.patientPanel ?? []).filter((p) => FHIR_ID.test(p));
    const breakGlass = user.breakGlass === true;
    if (patients.length === 0 && !breakGlass) return { kind: 'unavailable', description: 'no patients are assigned to your account' };
    return { kind: 'pick', patients, breakGlass };
  }
  return { kind: 'unavailable', description: 'this account cannot act for a patient' };
}

/**
 * The launch context stored on the grant. A standalone launch (no EHR around the app) needs the
 * app to show a patient banner; an EHR launch says itself. smart_style_url comes from the EHR
 * launch or, for standalone launches, from `smart.style_url`.
 */
export function grantLaunchContext(ctx: AppContext, request: AuthorizationRequest, scopes: readonly string[], patient: string | undefined): LaunchContext | null {
  if (request.launch) {
    const { forUser: _bound, ...context } = contextForScopes(request.launch, scopes);
    return Object.keys(context).length ? context : null;
  }
  if (patient === undefined) return null;
  return { patient, needPatientBanner: true, ...(ctx.config.smart.style_url ? { smartStyleUrl: ctx.config.smart.style_url } : {}) };
}
