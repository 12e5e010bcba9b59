// The patient compartment (https://hl7.org/fhir/R4/compartmentdefinition-patient.html) as the
// gateway enforces it for patient/ scopes (SMART App Launch 2.2, "Scopes for requesting context
// data": patient scopes are "restricted to a single patient"; docs/SECURITY.md "PHI gateway:
// patient/ scopes reach only the patient in context").
//
// Deliberately narrower than the FHIR definition: a resource belongs to the patient only through
// its owning element (subject / patient / beneficiary), never through performer, author or
// participant, and only the types below are reachable at all. Every Patient reference in the
// owning element must name the patient, and there must be at least one (fail closed).
import { FHIR_ID } from '../util/fhir-id.js';
import { GatewayDenial, accessDenied } from './errors.js';

/** Types reachable with patient/ scopes → the element(s) naming the patient; the search parameter is `patient`. */
export const PATIENT_COMPARTMENT: Readonly<Record<string, readonly string[]>> = {
  Patient: [],
  AllergyIntolerance: ['patient'],
  CarePlan: ['subject'],
  CareTeam: ['subject'],
  Claim: ['patient'],
  Communication: ['subject'],
  Composition: ['subject'],
  Condition: ['subject'],
  Coverage: ['beneficiary'],
  Device: ['patient'],
  DiagnosticReport: ['subject'],
  DocumentReference: ['subject'],
  Encounter: ['subject'],
  ExplanationOfBenefit: ['patient'],
  FamilyMemberHistory: ['patient'],
  Flag: ['subject'],
  Goal: ['subject'],
  ImagingStudy: ['subject'],
  Immunization: ['patient'],
  MedicationAdministration: ['subject'],
  MedicationDispense: ['subject'],
  MedicationRequest: ['subject'],
  MedicationStatement: ['subject'],
  Observation: ['subject'],
  Procedure: ['subject'],
  QuestionnaireResponse: ['subject'],
  RiskAssessment: ['subject'],
  ServiceRequest: ['subject'],
  Specimen: ['subject'],
};

export const inCompartmentTypes = (type: string) => Object.hasOwn(PATIENT_COMPARTMENT, type);

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The Patient id a reference names: "Patient/{id}", "Patient/{id}/_history/{v}", or the same
 * under one of `bases` (the upstream's and the gateway's base URLs). Anything else: undefined.
 */
export function patientIdOfReference(reference: unknown, bases: readonly string[]): string | undefined {
  if (typeof reference !== 'string') return undefined;
  let rel = reference;
  if (/^[a-z][a-z0-9+.-]*:/i.test(reference)) {
    const base = bases.find((b) => reference.startsWith(`${b.replace(/\/$/, '')}/`));
    if (!base) return undefined;
    rel = reference.slice(base.replace(/\/$/, '').length + 1);
  }
  const m = /^Patient\/([^/]+)(?:\/_history\/[^/]+)?$/.exec(rel);
  return m && FHIR_ID.test(m[1]!) ? m[1] : undefined;
}

/** Every Patient id the resource's owning element(s) name; `null` when one is not a Patient reference. */
export function ownerPatients(resource: Json, bases: readonly string[]): string[] | null {
  const type = resource.resourceType;
  if (typeof type !== 'string' || !inCompartmentTypes(type)) return null;
  if (type === 'Patient') return typeof resource.id === 'string' ? [resource.id] : null;
  const ids: string[] = [];
  for (const element of PATIENT_COMPARTMENT[type]!) {
    const value = resource[element];
    if (value === undefined) continue;
    for (const ref of Array.isArray(value) ? value : [value]) {
      const id = isObject(ref) ? patientIdOfReference(ref.reference, bases) : undefined;
      if (!id) return null;
      ids.push(id);
    }
  }
  return ids;
}

/** Is the resource in this patient's compartment (as narrowed above)? */
export function inPatientCompartment(resource: unknown, patientId: string, bases: readonly string[]): boolean {
  if (!isObject(resource)) return false;
  const owners = ownerPatients(resource, bases);
  return owners !== null && owners.length > 0 && owners.every((id) => id === patientId);
}

/**
 * Does the resource belong only to patients of `patients` (a practitioner's panel, for user/
 * scopes)? A resource of a type outside the compartment is not a patient's: it is not limited.
 */
export function withinPatients(resource: unknown, patients: ReadonlySet<string>, bases: readonly string[]): boolean {
  if (!isObject(resource)) return false;
  if (typeof resource.resourceType === 'string' && !inCompartmentTypes(resource.resourceType)) return true;
  const owners = ownerPatients(resource, bases);
  return owners !== null && owners.length > 0 && owners.every((id) => patients.has(id));
}

/** The single patient a resource belongs to, for the audit event of a user/ or system/ access. */
export function singlePatientOf(resource: unknown, bases: readonly string[]): string | undefined {
  if (!isObject(resource)) return undefined;
  const owners = ownerPatients(resource, bases);
  return owners && owners.length > 0 && owners.every((id) => id === owners[0]) ? owners[0] : undefined;
}

const PATIENT_PARAM_VARIANT = /^(patient|subject)[:.]/;

/**
 * Searches are constrained to the token's patient: the gateway adds or checks the patient/subject
 * parameter (docs/SECURITY.md "PHI gateway: patient/ scopes reach only the patient in context").
 * Returns the parameters to forward: `patient` / `subject` (or `_id` for Patient) must name only
 * this patient, else 403; when absent, `patient=` (or `_id=`) is added. Modifiers and chains on
 * those parameters cannot be checked and are refused.
 */
export function constrainSearchToPatient(type: string, params: URLSearchParams, patientId: string): URLSearchParams {
  if (!inCompartmentTypes(type)) throw accessDenied(`${type} is not reachable with patient scopes`, 'ERR_NOT_IN_COMPARTMENT_TYPES');
  const out = new URLSearchParams(params);
  const fail = () => new GatewayDenial('access_denied', 'patient scopes can only search the patient in context', 'ERR_SEARCH_PATIENT_PARAM');
  const names = [...new Set(out.keys())];
  if (type === 'Patient') {
    if (names.some((n) => n.startsWith('_id:') || n.startsWith('_id.'))) throw fail();
    const ids = out.getAll('_id');
    if (ids.some((v) => v.split(',').some((id) => id !== patientId))) throw fail();
    if (ids.length === 0) out.append('_id', patientId);
    return out;
  }
  if (names.some((n) => PATIENT_PARAM_VARIANT.test(n))) throw fail();
  const values = [...out.getAll('patient'), ...out.getAll('subject')];
  const ok = (v: string) => v === patientId || v === `Patient/${patientId}`;
  if (values.some((v) => v.split(',').some((x) => !ok(x)))) throw fail();
  if (values.length === 0) out.append('patient', patientId);
  return out;
}
