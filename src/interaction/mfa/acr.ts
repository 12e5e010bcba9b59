// Authentication methods (RFC 8176) and context classes (OIDC Core §2 `acr`) of a sign-in.
// amr lists what was used: "pwd" (password), "otp" (TOTP or a one-time recovery code), "hwk"
// (a WebAuthn key: proof of possession of a hardware-secured key). acr names the level reached.

export const ACR_PASSWORD = 'urn:caduceus:acr:pwd';
export const ACR_MFA = 'urn:caduceus:acr:mfa';

const SECOND_FACTORS: ReadonlySet<string> = new Set(['otp', 'hwk', 'sms', 'swk', 'mfa']);

/** Whether amr shows a factor besides the password. */
export function hasSecondFactor(amr: readonly string[]): boolean {
  return amr.some((m) => SECOND_FACTORS.has(m));
}

export function acrFor(amr: readonly string[]): string {
  return hasSecondFactor(amr) ? ACR_MFA : ACR_PASSWORD;
}
