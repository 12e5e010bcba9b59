// Reads the claims of a JWT without verifying it: the probe only inspects what a token discloses.
// (Anything that decides access must verify the signature first; nothing here does.)

export function decodeJwtPayload(token: string): Record<string, unknown> | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 && parts.length !== 5) return undefined;
  if (parts.length === 5) return undefined; // JWE: encrypted, claims not visible (which is fine)
  try {
    const payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as unknown;
    return payload !== null && typeof payload === 'object' && !Array.isArray(payload) ? (payload as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Claim names that carry identifying or health data (OIDC standard claims and common custom ones). */
const PHI_CLAIM = /^(name|given_name|family_name|middle_name|nickname|preferred_username|birthdate|birth_date|dob|date_of_birth|address|street_address|postal_code|email|phone_number|phone|mrn|medical_record_number|ssn|social_security_number|gender|diagnosis|conditions?)$/i;

/** PHI-looking claim names of a payload, including one level of nesting (e.g. address.street_address). */
export function phiLookingClaims(payload: Record<string, unknown>): string[] {
  const found = new Set<string>();
  for (const [k, v] of Object.entries(payload)) {
    if (PHI_CLAIM.test(k) || /(^|_)mrn$/i.test(k)) found.add(k);
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      for (const inner of Object.keys(v)) if (PHI_CLAIM.test(inner)) found.add(`${k}.${inner}`);
    }
  }
  return [...found].sort();
}
