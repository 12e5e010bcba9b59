// Display labels ("Given Family (born YYYY-MM-DD)") for the patients a page names: the
// practitioner's patient picker (SMART App Launch 2.2 standalone launch/patient), the patient of a
// consent (the user's own record, or the one the EHR opened) and the patients on the account page.
// Read as the person who sees them and recorded in the ledger first (src/interaction/patient-directory.ts).
// Any failure, a slow answer included, falls back to the bare FHIR ids: a page never shows a name
// it could not audit, and never waits more than LOOKUP_TIMEOUT_MS for one.
import type { AppContext } from '../context/app-context.js';
import { patientLabel, patientsById, type PatientReader } from './patient-directory.js';

export { LOOKUP_TIMEOUT_MS } from './patient-directory.js';

/**
 * Labels for the FHIR Patient ids, keyed by id; ids without a label are left out. Resolves an
 * empty map when there is no FHIR route for the resource, or on any error. `purpose` is recorded
 * on each read (e.g. patient_picker, consent_patient, account_page).
 */
export async function patientLabels(
  ctx: AppContext,
  input: { resource: string; ids: readonly string[]; purpose?: string } & PatientReader,
): Promise<Map<string, string>> {
  const { resource, ids, purpose = 'patient_picker', ...reader } = input;
  const labels = new Map<string, string>();
  if (ids.length === 0) return labels;
  const lookup = await patientsById(ctx, { resource, reader, ids, purpose });
  if (!lookup.ok) return labels;
  for (const patient of lookup.patients) {
    const label = patientLabel(patient);
    if (label) labels.set(patient.id, label);
  }
  return labels;
}
