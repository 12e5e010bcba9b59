// The practitioner's stated reason and the reviewer's note are free text that may well describe the
// patient's condition: PHI at rest. Both are sealed under the master key (AES-256-GCM envelope,
// 45 CFR 164.312(a)(2)(iv); src/crypto/envelope.ts), bound to the access id and the field, so a
// database dump does not show them and a sealed value cannot be moved to another access or field.
// Rows written before sealing hold plain text; they are shown as they are.
import { open, seal } from '../crypto/envelope.js';
import type { MasterKey } from '../crypto/master-key.js';

export type AccessTextField = 'reason' | 'review_note';

const SEALED = /^v1\.[0-9a-f]{8}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+$/;
const aad = (accessId: string, field: AccessTextField) => `break_glass_accesses:${accessId}:${field}`;

export function sealAccessText(masterKey: MasterKey, accessId: string, field: AccessTextField, text: string): string {
  return seal(masterKey, text, aad(accessId, field));
}

/** The text of a stored reason or note; fails (ERR_CRYPTO) on a sealed value that does not open for this access and field. */
export function openAccessText(masterKey: MasterKey, accessId: string, field: AccessTextField, stored: string): string {
  return SEALED.test(stored) ? open(masterKey, stored, aad(accessId, field)).toString('utf8') : stored;
}
