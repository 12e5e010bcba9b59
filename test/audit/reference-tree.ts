// The one naive RFC 9162 reference of the tests, deliberately sharing no code with src/audit: MTH,
// PATH and PROOF by the recursive definitions of §2.1.1, §2.1.3.1 and §2.1.4.1 over leaf hashes
// (rehashing everything on every call, no stored nodes), and the verification algorithms of
// §2.1.3.2 and §2.1.4.2 transcribed from the RFC text. The stored-node implementation
// (test/audit/merkle.test.ts, ledger.test.ts) and what the CLI and the HTTP API print
// (test/audit-cli/) are cross-checked against it. Nothing here imports src/.
import { createHash } from 'node:crypto';

const sha256 = (...parts: Uint8Array[]): Buffer => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};

/** §2.1.1: MTH({d(0)}) = SHA-256(0x00 || d(0)). */
export const leafHash = (data: string | Uint8Array): Buffer => sha256(Uint8Array.of(0x00), typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
const nodeHash = (left: Uint8Array, right: Uint8Array): Buffer => sha256(Uint8Array.of(0x01), left, right);

/** The largest power of two smaller than n (n > 1). */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** §2.1.1 MTH(D[n]) over leaf hashes. */
export function mth(leaves: readonly Buffer[]): Buffer {
  if (leaves.length === 0) return sha256();
  if (leaves.length === 1) return leaves[0]!;
  const k = split(leaves.length);
  return nodeHash(mth(leaves.slice(0, k)), mth(leaves.slice(k)));
}

/** §2.1.3.1 PATH(m, D[n]). */
export function path(m: number, leaves: readonly Buffer[]): Buffer[] {
  if (leaves.length <= 1) return [];
  const k = split(leaves.length);
  return m < k ? [...path(m, leaves.slice(0, k)), mth(leaves.slice(k))] : [...path(m - k, leaves.slice(k)), mth(leaves.slice(0, k))];
}

/** §2.1.4.1 PROOF(m, D[n]) = SUBPROOF(m, D[n], true). */
export function proof(m: number, leaves: readonly Buffer[]): Buffer[] {
  const sub = (m: number, d: readonly Buffer[], b: boolean): Buffer[] => {
    if (m === d.length) return b ? [] : [mth(d)];
    const k = split(d.length);
    return m <= k ? [...sub(m, d.slice(0, k), b), mth(d.slice(k))] : [...sub(m - k, d.slice(k), false), mth(d.slice(0, k))];
  };
  return m === 0 ? [] : sub(m, leaves, true);
}

/** §2.1.3.2, step by step. */
export function verifyInclusionRfc(leafIndex: number, treeSize: number, leaf: Buffer, inclusionPath: readonly Buffer[], root: Buffer): boolean {
  if (leafIndex >= treeSize) return false;
  let fn = leafIndex;
  let sn = treeSize - 1;
  let r = leaf;
  for (const p of inclusionPath) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && r.equals(root);
}

/** §2.1.4.2, step by step (first > 0, first < second). */
export function verifyConsistencyRfc(first: number, second: number, firstHash: Buffer, secondHash: Buffer, consistencyPath: readonly Buffer[]): boolean {
  if (first === second) return consistencyPath.length === 0 && firstHash.equals(secondHash);
  if (first === 0 || first > second || consistencyPath.length === 0) return false;
  const isPowerOfTwo = (first & (first - 1)) === 0;
  const p = isPowerOfTwo ? [firstHash, ...consistencyPath] : [...consistencyPath];
  let fn = first - 1;
  let sn = second - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr = p[0]!;
  let sr = p[0]!;
  for (const c of p.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && fr.equals(firstHash) && sr.equals(secondHash);
}

export const fromHex = (hashes: readonly string[]): Buffer[] => hashes.map((h) => Buffer.from(h, 'hex'));
