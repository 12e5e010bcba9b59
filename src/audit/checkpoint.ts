// C2SP tlog-checkpoint ("Note text"): the note text is
//
//   <origin>\n<tree size, ASCII decimal, no leading zeroes>\n<base64 root hash>\n[extension lines]
//
// signed as a C2SP signed note (note.ts). The ledger writes no extension lines ("NOT
// RECOMMENDED, as they are not auditable by log monitors"), and no timestamp: two signers of the
// same tree state produce the same note, so witnesses can merge checkpoints.
import { open } from 'node:fs/promises';
import type { KeyObject } from 'node:crypto';
import { AuditError } from './errors.js';
import { isValidKeyName, openNote, parseVerifierKey, toEd25519PublicKey, type NoteSignature, type NoteVerifier } from './note.js';

export interface Checkpoint {
  origin: string;
  size: number;
  rootHash: Buffer;
}

export interface SignedCheckpoint extends Checkpoint {
  /** The whole signed note. */
  note: string;
}

/** An origin is non-empty and, as the ledger also uses it as the key name, has no spaces or "+". */
export function isValidOrigin(origin: string): boolean {
  return isValidKeyName(origin);
}

/** The checkpoint note text (C2SP tlog-checkpoint, "Note text"). */
export function formatCheckpoint(checkpoint: Checkpoint): string {
  if (!isValidOrigin(checkpoint.origin)) throw new AuditError('ERR_NOTE_MALFORMED', 'checkpoint: the origin must be non-empty, without spaces or "+"');
  if (!Number.isSafeInteger(checkpoint.size) || checkpoint.size < 0) throw new AuditError('ERR_NOTE_MALFORMED', 'checkpoint: the size must be a non-negative integer');
  if (checkpoint.rootHash.length !== 32) throw new AuditError('ERR_NOTE_MALFORMED', 'checkpoint: the root hash must be 32 bytes');
  return `${checkpoint.origin}\n${checkpoint.size}\n${checkpoint.rootHash.toString('base64')}\n`;
}

/** Parses checkpoint note text (not the signatures). Extension lines are returned, not interpreted. */
export function parseCheckpoint(text: string): Checkpoint & { extensions: string[] } {
  if (!text.endsWith('\n')) throw new AuditError('ERR_NOTE_MALFORMED', 'checkpoint: the text must end in a newline');
  const lines = text.slice(0, -1).split('\n');
  const [origin, size, root, ...extensions] = lines;
  if (lines.length < 3 || !origin || !size || !root) throw new AuditError('ERR_NOTE_MALFORMED', 'checkpoint: expected origin, size and root hash lines');
  if (!/^(0|[1-9][0-9]*)$/.test(size) || !Number.isSafeInteger(Number(size))) {
    throw new AuditError('ERR_NOTE_MALFORMED', 'checkpoint: the size must be ASCII decimal without leading zeroes');
  }
  const rootHash = Buffer.from(root, 'base64');
  if (rootHash.length !== 32 || rootHash.toString('base64') !== root) throw new AuditError('ERR_NOTE_MALFORMED', 'checkpoint: the root hash must be the base64 of 32 bytes');
  if (extensions.some((line) => line.length === 0)) throw new AuditError('ERR_NOTE_MALFORMED', 'checkpoint: extension lines must be non-empty');
  return { origin, size: Number(size), rootHash, extensions };
}

/**
 * Who may have signed a checkpoint: a verifier key string (`name+keyid+base64`, as
 * verifierKey() gives it), a NoteVerifier, or a bare Ed25519 public key (KeyObject or 32 bytes)
 * that is accepted under whatever key name the signature line gives.
 */
export type CheckpointKey = string | NoteVerifier | KeyObject | Uint8Array;

type Verifier = NoteVerifier | { name?: undefined; publicKey: KeyObject };

export function toVerifier(key: CheckpointKey): Verifier {
  if (typeof key === 'string') return parseVerifierKey(key);
  if (key instanceof Uint8Array) return { publicKey: toEd25519PublicKey(key) };
  if ('keyId' in key) return key;
  return { publicKey: toEd25519PublicKey(key) };
}

export interface OpenedCheckpoint extends SignedCheckpoint {
  extensions: string[];
  verified: NoteSignature[];
}

/**
 * Verifies a signed checkpoint against the given key(s) and parses it. Throws AuditError
 * ERR_NOTE_UNVERIFIED when no known-key signature verifies (or one of them fails), and
 * ERR_NOTE_MALFORMED for a malformed note. With `origin`, the origin line must equal it.
 */
export function openCheckpoint(note: string, keys: CheckpointKey | readonly CheckpointKey[], options: { origin?: string } = {}): OpenedCheckpoint {
  const list = (Array.isArray(keys) ? keys : [keys]) as readonly CheckpointKey[];
  const opened = openNote(note, list.map(toVerifier));
  const checkpoint = parseCheckpoint(opened.text);
  if (options.origin !== undefined && checkpoint.origin !== options.origin) {
    throw new AuditError('ERR_NOTE_UNVERIFIED', 'checkpoint: the origin line is not the expected origin');
  }
  return { ...checkpoint, note, verified: opened.verified };
}

/**
 * Splits a witness file (checkpoint notes, each followed by a blank line) into notes. A note ends
 * at the blank line that follows its signature lines.
 */
export function splitNotes(text: string): string[] {
  const notes: string[] = [];
  let current = '';
  let inSignatures = false;
  for (const line of text.split('\n')) {
    if (line === '') {
      if (inSignatures) {
        notes.push(current);
        current = '';
        inSignatures = false;
      } else if (current !== '') {
        current += '\n';
        inSignatures = true;
      }
      continue;
    }
    if (inSignatures && !line.startsWith('\u2014 ')) {
      notes.push(current);
      current = '';
      inSignatures = false;
    }
    current += `${line}\n`;
  }
  if (current !== '') notes.push(current);
  return notes;
}

/**
 * Appends a checkpoint note and a blank line to the witness file, then fsyncs it, so the copy
 * outside the database survives the database being rewritten.
 */
export async function appendToWitnessFile(path: string, note: string): Promise<void> {
  const handle = await open(path, 'a', 0o600);
  try {
    await handle.appendFile(`${note}\n`, 'utf8');
    await handle.datasync();
  } finally {
    await handle.close();
  }
}
