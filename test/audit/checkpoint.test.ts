import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { formatCheckpoint, openCheckpoint, parseCheckpoint, splitNotes } from '../../src/audit/checkpoint.js';
import { AuditError } from '../../src/audit/errors.js';
import {
  generateCheckpointKey,
  noteKeyId,
  NoteSigner,
  openNote,
  parseSignerKey,
  parseVerifierKey,
  rawPublicKey,
  rawSeed,
  signerKey,
  verifierKey,
} from '../../src/audit/note.js';
import { ROOTS_HEX } from './vectors.js';

// The golang.org/x/mod/sumdb/note reference key and signed note (C2SP signed-note key ID).
const GO_SKEY = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz';
const GO_VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const GO_NOTE = `${GO_TEXT}\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`;

function expectAuditError(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AuditError);
    expect((err as AuditError).code).toBe(code);
    return;
  }
  throw new Error(`expected AuditError ${code}`);
}

describe('signed notes (C2SP signed-note, Ed25519)', () => {
  it('derives the Go reference verifier key and key ID from the Go reference signer key', () => {
    const { name, privateKey } = parseSignerKey(GO_SKEY);
    expect(name).toBe('PeterNeumann');
    expect(verifierKey(name, privateKey)).toBe(GO_VKEY);
    expect(noteKeyId(name, privateKey).toString('hex')).toBe('c74f20a3');
    expect(signerKey(name, rawSeed(privateKey))).toBe(GO_SKEY);
  });

  it('signs the Go reference note byte for byte and opens it with the verifier key', () => {
    const { name, privateKey } = parseSignerKey(GO_SKEY);
    expect(new NoteSigner(name, privateKey).sign(GO_TEXT)).toBe(GO_NOTE);
    const opened = openNote(GO_NOTE, [parseVerifierKey(GO_VKEY)]);
    expect(opened.text).toBe(GO_TEXT);
    expect(opened.verified.map((s) => s.name)).toEqual(['PeterNeumann']);
  });

  it('rejects an altered text, a note with no known key, and a bad signature from a known key', () => {
    const verifier = parseVerifierKey(GO_VKEY);
    expectAuditError(() => openNote(GO_NOTE.replace('cryptography', 'cryptographY'), [verifier]), 'ERR_NOTE_UNVERIFIED');
    const other = new NoteSigner('Other', Buffer.alloc(32, 1));
    expectAuditError(() => openNote(GO_NOTE, [other.verifier]), 'ERR_NOTE_UNVERIFIED');
    // Same name, another key: the key ID differs, so the signature is from an unknown key.
    const impostor = new NoteSigner('PeterNeumann', Buffer.alloc(32, 2));
    expectAuditError(() => openNote(GO_NOTE, [impostor.verifier]), 'ERR_NOTE_UNVERIFIED');
  });

  it('ignores signatures from unknown keys when a known one verifies', () => {
    const { name, privateKey } = parseSignerKey(GO_SKEY);
    const other = new NoteSigner('Witness', Buffer.alloc(32, 3));
    const cosigned = new NoteSigner(name, privateKey).sign(GO_TEXT) + other.sign(GO_TEXT).split('\n\n')[1];
    const opened = openNote(cosigned, [parseVerifierKey(GO_VKEY)]);
    expect(opened.verified).toHaveLength(1);
    expect(opened.unknown.map((s) => s.name)).toEqual(['Witness']);
  });

  it('refuses malformed keys with ERR_NOTE_KEY', () => {
    expectAuditError(() => parseVerifierKey('PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'), 'ERR_NOTE_KEY');
    expectAuditError(() => parseVerifierKey('Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'), 'ERR_NOTE_KEY');
    expectAuditError(() => new NoteSigner('name', Buffer.alloc(31)), 'ERR_NOTE_KEY');
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    expectAuditError(() => new NoteSigner('name', ec), 'ERR_NOTE_KEY');
  });
});

describe('checkpoints (C2SP tlog-checkpoint)', () => {
  const origin = 'example.com/behind-the-sofa';

  it('formats and parses the note text: origin, decimal size, base64 root', () => {
    const rootHash = Buffer.from(ROOTS_HEX[8]!, 'hex');
    const text = formatCheckpoint({ origin, size: 8, rootHash });
    expect(text).toBe(`example.com/behind-the-sofa\n8\n${rootHash.toString('base64')}\n`);
    expect(parseCheckpoint(text)).toEqual({ origin, size: 8, rootHash, extensions: [] });
    expect(parseCheckpoint(`${text}ext\n`).extensions).toEqual(['ext']);
  });

  it('refuses leading zeroes, a short root, a missing newline and empty lines', () => {
    const root = Buffer.from(ROOTS_HEX[1]!, 'hex').toString('base64');
    for (const bad of [`${origin}\n08\n${root}\n`, `${origin}\n8\nAAAA\n`, `${origin}\n8\n${root}`, `${origin}\n\n${root}\n`, `${origin}\n8\n${root}\n\n`]) {
      expectAuditError(() => parseCheckpoint(bad), 'ERR_NOTE_MALFORMED');
    }
  });

  it('round-trips a signed checkpoint and verifies it with the verifier key, the raw key or a KeyObject', () => {
    const key = generateCheckpointKey();
    const signer = new NoteSigner(origin, key.seed);
    const rootHash = Buffer.from(ROOTS_HEX[7]!, 'hex');
    const note = signer.sign(formatCheckpoint({ origin, size: 7, rootHash }));
    for (const k of [signer.verifierKey, rawPublicKey(key.publicKey), key.publicKey]) {
      const opened = openCheckpoint(note, k, { origin });
      expect(opened.size).toBe(7);
      expect(opened.rootHash.equals(rootHash)).toBe(true);
      expect(opened.origin).toBe(origin);
    }
  });

  it('rejects a checkpoint under a wrong key, a changed size, or another origin', () => {
    const signer = new NoteSigner(origin, Buffer.alloc(32, 5));
    const note = signer.sign(formatCheckpoint({ origin, size: 7, rootHash: Buffer.from(ROOTS_HEX[7]!, 'hex') }));
    const wrong = new NoteSigner(origin, Buffer.alloc(32, 6));
    expectAuditError(() => openCheckpoint(note, wrong.verifierKey), 'ERR_NOTE_UNVERIFIED');
    expectAuditError(() => openCheckpoint(note, rawPublicKey(wrong.publicKey)), 'ERR_NOTE_UNVERIFIED');
    expectAuditError(() => openCheckpoint(note.replace('\n7\n', '\n8\n'), signer.verifierKey), 'ERR_NOTE_UNVERIFIED');
    expectAuditError(() => openCheckpoint(note, signer.verifierKey, { origin: 'example.com/other' }), 'ERR_NOTE_UNVERIFIED');
  });

  it('splits a witness file back into its notes', () => {
    const signer = new NoteSigner(origin, Buffer.alloc(32, 5));
    const notes = [1, 2, 3].map((n) => signer.sign(formatCheckpoint({ origin, size: n, rootHash: Buffer.from(ROOTS_HEX[n]!, 'hex') })));
    expect(splitNotes(notes.map((n) => `${n}\n`).join(''))).toEqual(notes);
    expect(splitNotes('')).toEqual([]);
  });
});
