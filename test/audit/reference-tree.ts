// A naive RFC 9162 §2.1 reference: the recursive definitions of MTH, PATH and PROOF over the leaf
// data, rehashing everything on every call, written straight from the RFC text and sharing no code
// with src/audit. The stored-node implementation is cross-checked against it.
import { createHash } from 'node:crypto';

const sha256 = (...parts: Uint8Array[]): Buffer => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};

/** Largest power of two smaller than n (n > 1). */
const k = (n: number): number => 2 ** Math.ceil(Math.log2(n) - 1);

/** MTH(D_n). */
export function mth(d: readonly Uint8Array[]): Buffer {
  if (d.length === 0) return sha256();
  if (d.length === 1) return sha256(Buffer.from([0]), d[0]!);
  const split = k(d.length);
  return sha256(Buffer.from([1]), mth(d.slice(0, split)), mth(d.slice(split)));
}

/** PATH(m, D_n). */
export function path(m: number, d: readonly Uint8Array[]): Buffer[] {
  if (d.length <= 1) return [];
  const split = k(d.length);
  return m < split
    ? [...path(m, d.slice(0, split)), mth(d.slice(split))]
    : [...path(m - split, d.slice(split)), mth(d.slice(0, split))];
}

function subproof(m: number, d: readonly Uint8Array[], b: boolean): Buffer[] {
  if (m === d.length) return b ? [] : [mth(d)];
  const split = k(d.length);
  return m <= split
    ? [...subproof(m, d.slice(0, split), b), mth(d.slice(split))]
    : [...subproof(m - split, d.slice(split), false), mth(d.slice(0, split))];
}

/** PROOF(m, D_n) for 0 < m < n. */
export function proof(m: number, d: readonly Uint8Array[]): Buffer[] {
  return subproof(m, d, true);
}
