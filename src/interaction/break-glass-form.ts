// The emergency-access part of the consent page: find the patient (family name and date of birth,
// or MRN), choose them from the results, state the reason, request. One form, so what was typed
// survives every answer; each error sits next to its field (aria-describedby, aria-invalid: WCAG
// 2.1 SC 3.3.1 error identification, 1.3.1), the disclosure opens again whenever it has something
// to show, and the answer scrolls to it (the form posts to …#emergency).
import { html, type Raw } from '../http/html.js';
import type { EmergencyFieldErrors, EmergencyFormValues } from './break-glass-search.js';
import { patientLabel, type PatientSummary } from './patient-directory.js';

export interface EmergencyFormInput {
  action: string;
  csrf: string;
  ttlMinutes: number;
  /** unsafe.breakglass_write: the access keeps write permissions. */
  write: boolean;
  values?: EmergencyFormValues;
  fields?: EmergencyFieldErrors & { find?: string };
  /** The patients a search found (panel patients are listed but sent to the picker). */
  results?: { patients: Array<PatientSummary & { onPanel: boolean }>; more: boolean };
  /** A problem with the request as a whole (e.g. the records could not be checked), shown above the button. */
  formError?: string;
}

const EMPTY: EmergencyFormValues = { family: '', birthDate: '', mrn: '', reason: '', patient: '' };

/** The error under a field; its id is what the field's aria-describedby names. */
function fieldError(id: string, message: string | undefined): Raw | '' {
  return message ? html`<div class="field-message" id="${id}"><p class="error" role="alert">${message}</p></div>` : '';
}

/** aria-describedby / aria-invalid of a field with (or without) an error. */
function invalid(errorId: string, ...messages: Array<string | undefined>): Raw | '' {
  return messages.some(Boolean) ? html` aria-invalid="true" aria-describedby="${errorId}"` : '';
}

function resultLabel(p: PatientSummary): Raw {
  const details = [p.recordNumber ? `MRN ${p.recordNumber}` : undefined, `Patient ${p.id}`].filter(Boolean).join(' · ');
  return html`${patientLabel(p) ?? `Patient ${p.id}`}<br><span class="scope-name">${details}</span>`;
}

function results(input: EmergencyFormInput, values: EmergencyFormValues): Raw | '' {
  const found = input.results;
  const error = input.fields?.patient;
  if (!found || found.patients.length === 0) return fieldError('bg-patient-error', error);
  const choosable = found.patients.filter((p) => !p.onPanel);
  let index = 0;
  const items = found.patients.map((p) => {
    if (p.onPanel) {
      return html`<p class="choice on-panel">${resultLabel(p)}<br><strong>On your patient list: choose them in the list above. Emergency access is not needed.</strong></p>`;
    }
    const id = `bg-patient-${index++}`;
    const checked = values.patient === p.id || choosable.length === 1;
    return html`<label for="${id}" class="choice"><input type="radio" id="${id}" name="bg_patient" value="${p.id}"${checked ? html` checked` : ''} required${error ? html` aria-invalid="true"` : ''}>
<span>${resultLabel(p)}</span></label>`;
  });
  return html`<fieldset class="picker"${error ? html` aria-describedby="bg-patient-error"` : ''}><legend>Patients found</legend>
${items}
</fieldset>
${found.more ? html`<p class="muted">More patients match than can be shown here. Search by MRN, or type more of the family name.</p>` : ''}
${fieldError('bg-patient-error', error)}`;
}

export function emergencyAccessForm(input: EmergencyFormInput): Raw {
  const values = input.values ?? EMPTY;
  const fields = input.fields ?? {};
  const choosable = input.results?.patients.some((p) => !p.onPanel) ?? false;
  // The reason and the request button once there is a patient to choose (or a field of theirs to correct).
  const requestStep = choosable || fields.patient !== undefined || fields.reason !== undefined || values.reason.trim() !== '';
  const open = input.values !== undefined || input.formError !== undefined;
  const findError = fields.find;
  return html`
<details class="break-glass" id="emergency"${open ? html` open` : ''}>
<summary>Emergency access to another patient</summary>
<form method="post" action="${input.action}#emergency">
<input type="hidden" name="csrf" value="${input.csrf}">
<p>Only in an emergency, for a patient who is not on your list. Access lasts ${String(input.ttlMinutes)} minutes, cannot be renewed, is recorded, and is reviewed by the privacy office.</p>
<p>${input.write ? 'Emergency access is limited to that patient.' : 'Emergency access is read-only and limited to that patient.'}</p>
<fieldset class="find"><legend>Find the patient</legend>
<p class="muted" id="bg-find-hint">By family name and date of birth, or by medical record number (MRN).</p>
<label for="bg-family">Family name</label>
<input type="text" id="bg-family" name="bg_family" value="${values.family}" autocomplete="off" spellcheck="false"${invalid(fields.family ? 'bg-family-error' : 'bg-find-error', fields.family, findError)}>
${fieldError('bg-family-error', fields.family)}
<label for="bg-birthdate">Date of birth</label>
<input type="date" id="bg-birthdate" name="bg_birthdate" value="${values.birthDate}" autocomplete="off"${invalid(fields.birthDate ? 'bg-birthdate-error' : 'bg-find-error', fields.birthDate, findError)}>
${fieldError('bg-birthdate-error', fields.birthDate)}
<p class="divider">or</p>
<label for="bg-mrn">Medical record number (MRN)</label>
<input type="text" id="bg-mrn" name="bg_mrn" value="${values.mrn}" autocomplete="off" autocapitalize="characters" spellcheck="false"${invalid(fields.mrn ? 'bg-mrn-error' : 'bg-find-error', fields.mrn, findError)}>
${fieldError('bg-mrn-error', fields.mrn)}
${fieldError('bg-find-error', findError)}
<div class="actions"><button type="submit" name="decision" value="breakglass_search" class="secondary" formnovalidate>Find patient</button></div>
</fieldset>
${results(input, values)}
${requestStep ? html`<label for="bg-reason">Reason (required)</label>
<textarea id="bg-reason" name="bg_reason" rows="3" minlength="10" maxlength="1000" required${invalid('bg-reason-error', fields.reason)}>${values.reason}</textarea>
${fieldError('bg-reason-error', fields.reason)}` : ''}
${fieldError('bg-form-error', input.formError)}
${requestStep ? html`<div class="actions"><button type="submit" name="decision" value="breakglass" class="danger">Request emergency access</button></div>` : ''}
</form>
</details>`;
}
