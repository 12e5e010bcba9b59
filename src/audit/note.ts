// C2SP signed-note (https://c2sp.org/signed-note) with Ed25519 keys (signature type 0x01),
// interoperable with Go's golang.org/x/mod/sumdb/note and transparency-dev tooling:
//
//   <text, ending in \n>
//   <blank line>
//   — <key name> <base64(4-byte key ID || 64-byte signature)>\n   (one line per signature)
//
// key ID = SHA-256(key name || 0x0A || 0x01 || 32-byte public key)[:4]; verifier key string =
// name+hex(key ID)+base64(0x01 || public key); signer key string (Go note.NewSigner format) =
// PRIVATE+KEY+name+hex(key ID)+base64(0x01 || 32-byte seed).
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { AuditError } from './errors.js';

const ALG_ED25519 = 0x01;
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const SIG_PREFIX = '\u2014 ';
/** C2SP signed-note: verifiers "MUST accept at least up to 16 signatures"; Go accepts 100. */
const MAX_SIGNATURES = 100;

/** Key names: non-empty, no Unicode spaces, no '+' (C2SP signed-note). */
export function isValidKeyName(name: string): boolean {
  return name.length > 0 && !/[\s+\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/u.test(name) && isValidNoteText(name);
}

// "MUST be valid UTF-8 and MUST NOT contain any ASCII control characters … other than newline".
function isValidNoteText(text: string): boolean {
  return !/[\u0000-\u0009\u000b-\u001f\u007f]/.test(text) && !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text);
}

/** An Ed25519 private key from a KeyObject or the 32-byte seed; anything else is refused. */
export function toEd25519PrivateKey(key: KeyObject | Uint8Array, what = 'signing key'): KeyObject {
  if (key instanceof Uint8Array) {
    if (key.length !== 32) throw new AuditError('ERR_NOTE_KEY', `${what}: an Ed25519 seed is 32 bytes, got ${key.length}`);
    return createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, key]), format: 'der', type: 'pkcs8' });
  }
  if (key.type !== 'private' || key.asymmetricKeyType !== 'ed25519') {
    throw new AuditError('ERR_NOTE_KEY', `${what}: must be an Ed25519 private key`);
  }
  return key;
}

/** An Ed25519 public key from a KeyObject (public or private) or the 32 raw bytes. */
export function toEd25519PublicKey(key: KeyObject | Uint8Array, what = 'public key'): KeyObject {
  if (key instanceof Uint8Array) {
    if (key.length !== 32) throw new AuditError('ERR_NOTE_KEY', `${what}: an Ed25519 public key is 32 bytes, got ${key.length}`);
    return createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, key]), format: 'der', type: 'spki' });
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new AuditError('ERR_NOTE_KEY', `${what}: must be an Ed25519 key`);
  return key.type === 'private' ? createPublicKey(key) : key;
}

/** The 32 raw bytes of an Ed25519 public key. */
export function rawPublicKey(key: KeyObject | Uint8Array): Buffer {
  const spki = toEd25519PublicKey(key).export({ format: 'der', type: 'spki' });
  return spki.subarray(ED25519_SPKI_PREFIX.length);
}

/** The 32-byte seed of an Ed25519 private key: what the caller stores to recreate the key. */
export function rawSeed(key: KeyObject): Buffer {
  const pkcs8 = toEd25519PrivateKey(key).export({ format: 'der', type: 'pkcs8' });
  return pkcs8.subarray(ED25519_PKCS8_PREFIX.length);
}

/** A fresh Ed25519 key pair for checkpoint signing (never reuse a token signing key). */
export function generateCheckpointKey(): { privateKey: KeyObject; publicKey: KeyObject; seed: Buffer } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKey, seed: rawSeed(privateKey) };
}

/** C2SP signed-note key ID: SHA-256(key name || 0x0A || 0x01 || 32-byte public key)[:4]. */
export function noteKeyId(name: string, publicKey: KeyObject | Uint8Array): Buffer {
  return createHash('sha256')
    .update(name, 'utf8')
    .update(Buffer.from([0x0a, ALG_ED25519]))
    .update(rawPublicKey(publicKey))
    .digest()
    .subarray(0, 4);
}

/** The verifier key string `name+keyid+base64(0x01 || public key)` that verifiers configure. */
export function verifierKey(name: string, publicKey: KeyObject | Uint8Array): string {
  if (!isValidKeyName(name)) throw new AuditError('ERR_NOTE_KEY', 'verifier key: the name must be non-empty, without spaces or "+"');
  const raw = rawPublicKey(publicKey);
  return `${name}+${noteKeyId(name, raw).toString('hex')}+${Buffer.concat([Buffer.from([ALG_ED25519]), raw]).toString('base64')}`;
}

/** The Go note.NewSigner key string, for storing the checkpoint key as one line (it is a secret). */
export function signerKey(name: string, key: KeyObject | Uint8Array): string {
  if (!isValidKeyName(name)) throw new AuditError('ERR_NOTE_KEY', 'signer key: the name must be non-empty, without spaces or "+"');
  const privateKey = toEd25519PrivateKey(key);
  const seed = rawSeed(privateKey);
  return `PRIVATE+KEY+${name}+${noteKeyId(name, privateKey).toString('hex')}+${Buffer.concat([Buffer.from([ALG_ED25519]), seed]).toString('base64')}`;
}

/** Splits at the first `count` plus signs; the last part (base64) may itself contain "+". */
function splitPlus(value: string, count: number): string[] {
  const parts: string[] = [];
  let rest = value;
  for (let i = 0; i < count; i++) {
    const at = rest.indexOf('+');
    if (at < 0) return [];
    parts.push(rest.slice(0, at));
    rest = rest.slice(at + 1);
  }
  parts.push(rest);
  return parts;
}

export interface NoteVerifier {
  name: string;
  keyId: Buffer;
  publicKey: KeyObject;
}

/** Parses `name+keyid+base64(0x01 || key)`; the key ID must match the name and key. */
export function parseVerifierKey(vkey: string): NoteVerifier {
  const parts = splitPlus(vkey, 2);
  const [name, hexId, encoded] = parts;
  if (parts.length !== 3 || !name || !isValidKeyName(name) || !/^[0-9a-f]{8}$/.test(hexId ?? '') || !encoded) {
    throw new AuditError('ERR_NOTE_KEY', 'verifier key: expected name+keyid+base64');
  }
  const raw = Buffer.from(encoded, 'base64');
  if (raw.toString('base64') !== encoded || raw.length !== 33 || raw[0] !== ALG_ED25519) {
    throw new AuditError('ERR_NOTE_KEY', 'verifier key: expected base64 of 0x01 and a 32-byte Ed25519 key');
  }
  const publicKey = toEd25519PublicKey(raw.subarray(1));
  const keyId = noteKeyId(name, publicKey);
  if (keyId.toString('hex') !== hexId) throw new AuditError('ERR_NOTE_KEY', 'verifier key: the key ID does not match the name and key');
  return { name, keyId, publicKey };
}

/** Parses the Go `PRIVATE+KEY+name+keyid+base64(0x01 || seed)` string. */
export function parseSignerKey(skey: string): { name: string; privateKey: KeyObject } {
  const parts = splitPlus(skey, 4);
  const [p0, p1, name, hexId, encoded] = parts;
  if (parts.length !== 5 || p0 !== 'PRIVATE' || p1 !== 'KEY' || !name || !isValidKeyName(name) || !/^[0-9a-f]{8}$/.test(hexId ?? '') || !encoded) {
    throw new AuditError('ERR_NOTE_KEY', 'signer key: expected PRIVATE+KEY+name+keyid+base64');
  }
  const raw = Buffer.from(encoded, 'base64');
  if (raw.toString('base64') !== encoded || raw.length !== 33 || raw[0] !== ALG_ED25519) {
    throw new AuditError('ERR_NOTE_KEY', 'signer key: expected base64 of 0x01 and a 32-byte Ed25519 seed');
  }
  const privateKey = toEd25519PrivateKey(raw.subarray(1));
  if (noteKeyId(name, privateKey).toString('hex') !== hexId) throw new AuditError('ERR_NOTE_KEY', 'signer key: the key ID does not match the name and key');
  return { name, privateKey };
}

/** Signs note text with one Ed25519 key. */
export class NoteSigner {
  readonly name: string;
  readonly keyId: Buffer;
  readonly publicKey: KeyObject;
  readonly #privateKey: KeyObject;

  constructor(name: string, key: KeyObject | Uint8Array) {
    if (!isValidKeyName(name)) throw new AuditError('ERR_NOTE_KEY', 'signer: the key name must be non-empty, without spaces or "+"');
    this.name = name;
    this.#privateKey = toEd25519PrivateKey(key);
    this.publicKey = createPublicKey(this.#privateKey);
    this.keyId = noteKeyId(name, this.publicKey);
  }

  /** The verifier key string for this signer. */
  get verifierKey(): string {
    return verifierKey(this.name, this.publicKey);
  }

  get verifier(): NoteVerifier {
    return { name: this.name, keyId: this.keyId, publicKey: this.publicKey };
  }

  /** The signed note: text, a blank line, one signature line. */
  sign(text: string): string {
    assertNoteText(text);
    const signature = sign(null, Buffer.from(text, 'utf8'), this.#privateKey);
    return `${text}\n${SIG_PREFIX}${this.name} ${Buffer.concat([this.keyId, signature]).toString('base64')}\n`;
  }
}

function assertNoteText(text: string): void {
  if (!text.endsWith('\n') || !isValidNoteText(text) || text.includes('\n\n') || text.startsWith('\n')) {
    throw new AuditError('ERR_NOTE_MALFORMED', 'note text must be non-empty lines, each ending in a newline, without control characters');
  }
}

export interface NoteSignature {
  name: string;
  keyId: Buffer;
  signature: Buffer;
}

export interface OpenedNote {
  /** The signed text, including its final newline. */
  text: string;
  /** Signatures from known keys, all verified. */
  verified: NoteSignature[];
  /** Signatures from keys the caller did not name (ignored, as the spec requires). */
  unknown: NoteSignature[];
}

/** Splits a signed note into text and signature lines without verifying anything. */
export function parseNote(note: string): { text: string; signatures: NoteSignature[] } {
  if (!isValidNoteText(note)) throw new AuditError('ERR_NOTE_MALFORMED', 'note: control characters or invalid UTF-16');
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw new AuditError('ERR_NOTE_MALFORMED', 'note: no blank line before the signatures');
  const text = note.slice(0, split + 1);
  const block = note.slice(split + 2);
  if (!block.endsWith('\n')) throw new AuditError('ERR_NOTE_MALFORMED', 'note: the signature block must end in a newline');
  const signatures: NoteSignature[] = [];
  for (const line of block.slice(0, -1).split('\n')) {
    if (!line.startsWith(SIG_PREFIX)) throw new AuditError('ERR_NOTE_MALFORMED', 'note: signature lines start with an em dash and a space');
    const rest = line.slice(SIG_PREFIX.length);
    const space = rest.indexOf(' ');
    const name = rest.slice(0, space);
    const encoded = rest.slice(space + 1);
    const raw = Buffer.from(encoded, 'base64');
    if (space <= 0 || !isValidKeyName(name) || raw.toString('base64') !== encoded || raw.length < 5) {
      throw new AuditError('ERR_NOTE_MALFORMED', 'note: a signature line is malformed');
    }
    signatures.push({ name, keyId: raw.subarray(0, 4), signature: raw.subarray(4) });
  }
  if (signatures.length > MAX_SIGNATURES) throw new AuditError('ERR_NOTE_MALFORMED', `note: more than ${MAX_SIGNATURES} signatures`);
  return { text, signatures };
}

/**
 * Opens a signed note (C2SP signed-note "Verifying"): signatures from unknown keys are ignored; a
 * signature from a known key (same name and key ID) must verify, else the note is rejected; and
 * at least one known-key signature must be present. A verifier without a name (a bare public
 * key) matches any signature line whose key ID is that of its own name and this key.
 */
export function openNote(note: string, verifiers: readonly (NoteVerifier | { name?: undefined; publicKey: KeyObject })[]): OpenedNote {
  const { text, signatures } = parseNote(note);
  const message = Buffer.from(text, 'utf8');
  const verified: NoteSignature[] = [];
  const unknown: NoteSignature[] = [];
  for (const sig of signatures) {
    const match = verifiers.find((v) =>
      v.name === undefined ? noteKeyId(sig.name, v.publicKey).equals(sig.keyId) : v.name === sig.name && v.keyId.equals(sig.keyId),
    );
    if (!match) {
      unknown.push(sig);
      continue;
    }
    if (sig.signature.length !== 64 || !verify(null, message, match.publicKey, sig.signature)) {
      throw new AuditError('ERR_NOTE_UNVERIFIED', `note: the signature of known key "${sig.name}" does not verify`);
    }
    verified.push(sig);
  }
  if (verified.length === 0) throw new AuditError('ERR_NOTE_UNVERIFIED', 'note: no signature from a known key');
  return { text, verified, unknown };
}
