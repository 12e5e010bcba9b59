// Finding the patient for emergency access (src/interaction/break-glass.ts): the clinician searches
// by family name and date of birth, or by medical record number (MRN), never by a FHIR id typed from
// memory. Two identifiers (name and birth date) or an MRN keep the search narrow (45 CFR 164.502(b)
// minimum necessary) and identify the patient the way a ward does (Joint Commission NPSG.01.01.01:
// at least two patient identifiers). The search runs against the FHIR server as the practitioner,
// every patient shown is recorded in the ledger (purpose breakglass_search), and the criteria are
// never logged or put in a URL (src/interaction/patient-directory.ts).
import type { AppContext } from '../context/app-context.js';
import { readPatients, type FhirPatient, type PatientReader, type PatientSummary } from './patient-directory.js';

/** The most patients one search shows; more matches ask for narrower criteria. */
export const MAX_SEARCH_RESULTS = 10;
const MAX_FIELD = 100;

/** What the clinician typed into the emergency-access form, kept to fill it in again. */
export interface EmergencyFormValues {
  family: string;
  birthDate: string;
  mrn: string;
  reason: string;
  /** The FHIR id of the patient chosen from the results. */
  patient: string;
}

/** Field errors of the emergency-access form, shown next to their fields. */
export type EmergencyFieldErrors = Partial<Record<'family' | 'birthDate' | 'mrn' | 'patient' | 'reason', string>>;

export type EmergencySearchCriteria = { by: 'mrn'; mrn: string } | { by: 'name'; family: string; birthDate: string };

export function emergencyFormValues(body: URLSearchParams): EmergencyFormValues {
  const field = (name: string) => (body.get(name) ?? '').slice(0, 2000);
  return { family: field('bg_family'), birthDate: field('bg_birthdate'), mrn: field('bg_mrn'), reason: field('bg_reason'), patient: field('bg_patient') };
}

const CALENDAR_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

function validDate(text: string): boolean {
  const m = CALENDAR_DATE.exec(text);
  if (!m) return false;
  const date = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return date.toISOString().slice(0, 10) === text;
}

const printable = (text: string) => !/[\u0000-\u001f\u007f]/.test(text);

/** The search asked for, or the fields to correct. An MRN wins over name and date of birth. */
export function parseEmergencySearch(values: EmergencyFormValues): { ok: true; criteria: EmergencySearchCriteria } | { ok: false; fields: EmergencyFieldErrors } {
  const mrn = values.mrn.trim();
  if (mrn) {
    if (mrn.length > MAX_FIELD || !printable(mrn)) return { ok: false, fields: { mrn: 'Enter the medical record number as printed on the wristband or chart.' } };
    return { ok: true, criteria: { by: 'mrn', mrn } };
  }
  const family = values.family.trim();
  const birthDate = values.birthDate.trim();
  const fields: EmergencyFieldErrors = {};
  if (!family) fields.family = 'Enter the family name, or search by MRN instead.';
  else if (family.length > MAX_FIELD || !printable(family)) fields.family = 'Enter the family name only (at most 100 characters).';
  if (!birthDate) fields.birthDate = 'Enter the date of birth as well as the name.';
  else if (!validDate(birthDate)) fields.birthDate = 'Enter the date of birth as a date, for example 1970-01-31.';
  if (fields.family || fields.birthDate) return { ok: false, fields };
  return { ok: true, criteria: { by: 'name', family, birthDate } };
}

/** FHIR search value escaping (https://hl7.org/fhir/R4/search.html#escaping): `\`, `,`, `$` and `|`. */
const escapeSearchValue = (value: string) => value.replace(/[\\,$|]/g, (c) => `\\${c}`);

/** Whether a returned patient really matches: a server may ignore a parameter it does not support. */
function matches(patient: FhirPatient, criteria: EmergencySearchCriteria): boolean {
  if (criteria.by === 'mrn') return (Array.isArray(patient.identifier) ? patient.identifier : []).some((i) => i.value === criteria.mrn);
  const wanted = criteria.family.toLowerCase();
  const names = Array.isArray(patient.name) ? patient.name : [];
  return patient.birthDate === criteria.birthDate && names.some((n) => typeof n.family === 'string' && n.family.toLowerCase().startsWith(wanted));
}

export type EmergencySearchResult =
  | { ok: true; patients: Array<PatientSummary & { onPanel: boolean }>; more: boolean }
  | { ok: false; problem: 'no_route' | 'unavailable' };

/** Searches the patients matching `criteria` as the practitioner; each shown patient is recorded in the ledger. */
export async function searchEmergencyPatients(
  ctx: AppContext, input: { resource: string; reader: PatientReader; criteria: EmergencySearchCriteria; panel: ReadonlySet<string> },
): Promise<EmergencySearchResult> {
  const { criteria } = input;
  const query = criteria.by === 'mrn'
    ? new URLSearchParams({ identifier: escapeSearchValue(criteria.mrn) })
    : new URLSearchParams({ family: escapeSearchValue(criteria.family), birthdate: criteria.birthDate });
  query.set('_count', String(MAX_SEARCH_RESULTS + 1));
  const lookup = await readPatients(ctx, {
    resource: input.resource, reader: input.reader, query, purpose: 'breakglass_search', limit: MAX_SEARCH_RESULTS, keep: (p) => matches(p, criteria),
  });
  if (!lookup.ok) return lookup;
  return { ok: true, patients: lookup.patients.map((p) => ({ ...p, onPanel: input.panel.has(p.id) })), more: lookup.more === true };
}
