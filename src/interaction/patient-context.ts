// Which patient an authorization is about (SMART App Launch 2.2, scopes-and-launch-context.md
// "launch/patient"): from an EHR launch, the user's own record for a patient, or a choice from the
// practitioner's panel (the patient picker on the consent page). Emergency access to a patient
// outside the panel is break-glass (src/interaction/break-glass.ts). Identifiers only. Who may act
// for which patient is src/identity/patients.ts.
import type { AuthorizationRequest } from '../oauth/authorization-request.js';
import { contextForScopes } from '../smart/launch-context.js';
import type { AppContext } from '../context/app-context.js';
import type { LaunchContext, UserRecord } from '../storage/types.js';
import { FHIR_ID } from '../util/fhir-id.js';
import { roleOf } from '../identity/role-policy.js';
import { needsPatient, ownPatientId, patientReach } from '../identity/patients.js';

export type PatientChoice =
  /** No patient context is asked for. */
  | { kind: 'none' }
  /** The patient is settled: from the EHR launch, or the patient user's own record. */
  | { kind: 'fixed'; patient: string; source: 'launch' | 'self' }
  /** A practitioner picks from their panel (and may use break-glass when permitted). */
  | { kind: 'pick'; patients: string[]; breakGlass: boolean }
  /** A patient context is needed and this user has none to give. */
  | { kind: 'unavailable'; description: string };

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
    const allowed = patientReach(user).has(launched);
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
