// Keyed digests for the MFA secrets that are stored by digest only: recovery codes, the
// pending-login cookie, and the session cookie as the key of its one-time messages (flash.ts). MasterKey.digestKey() has a closed list of purposes (src/crypto), so these
// keys are derived from its 'session' key with HKDF-SHA-256 (RFC 5869) under their own info
// labels: independent of the session-cookie key and of each other.
import { hkdfSync } from 'node:crypto';
import { keyedDigest } from '../../crypto/digest.js';
import type { MasterKey } from '../../crypto/master-key.js';

export type MfaDigestPurpose = 'recovery-code' | 'pending-login' | 'flash';

const derived = new WeakMap<MasterKey, Map<MfaDigestPurpose, Buffer>>();

function keyFor(masterKey: MasterKey, purpose: MfaDigestPurpose): Buffer {
  let keys = derived.get(masterKey);
  if (!keys) derived.set(masterKey, (keys = new Map()));
  let key = keys.get(purpose);
  if (!key) {
    const parent = masterKey.digestKey('session');
    key = Buffer.from(hkdfSync('sha256', parent, Buffer.from('caduceus/mfa/v1'), `caduceus/v1/digest/${purpose}`, 32));
    parent.fill(0);
    keys.set(purpose, key);
  }
  return key;
}

/** HMAC-SHA-256 of `value` under the key of `purpose`, hex. */
export function mfaDigest(masterKey: MasterKey, purpose: MfaDigestPurpose, value: string): string {
  return keyedDigest(keyFor(masterKey, purpose), value);
}
