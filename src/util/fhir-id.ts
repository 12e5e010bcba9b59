// The FHIR R4 `id` datatype (FHIR R4 §2.24.0.1): 1 to 64 characters from A-Z, a-z, 0-9, "-" and
// ".". The one definition used by the access-token claims, the launch context, the gateway's path
// parsing, admin input and audit references. No imports: every layer may use it.

/** The id pattern without anchors, to compose into larger patterns (`Patient/${FHIR_ID_SOURCE}`). */
export const FHIR_ID_SOURCE = '[A-Za-z0-9.-]{1,64}';

/** A whole string that is a FHIR id. */
export const FHIR_ID = new RegExp(`^${FHIR_ID_SOURCE}$`);
