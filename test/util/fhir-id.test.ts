// The one FHIR id pattern shared by tokens, launch context, gateway, admin input and audit references.
import { describe, expect, it } from 'vitest';
import { FHIR_ID } from '../../src/util/fhir-id.js';

describe('FHIR_ID (FHIR R4 §2.24.0.1)', () => {
  it.each(['1', 'abc-DEF.123', 'a'.repeat(64)])('accepts %s', (id) => expect(FHIR_ID.test(id)).toBe(true));
  it.each(['', 'a'.repeat(65), 'a/b', 'a_b', 'a b', 'é'])('refuses "%s"', (id) => expect(FHIR_ID.test(id)).toBe(false));
});
