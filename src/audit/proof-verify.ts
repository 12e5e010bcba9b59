// RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency) proof verification, plus the proof
// JSON the ledger serves. Pure functions: no storage, no clock.
//
// Each verifier first checks its preconditions (sizes in range, hashes 32 bytes, exactly the
// number of proof hashes RFC 9162 gives for these sizes) and then runs the RFC algorithm. Failures
// are returned, not thrown, as a ProofError whose code says which check failed; a wrong root is a
// RootMismatchError carrying both hashes.
import { ProofError, RootMismatchError } from './errors.js';
import { EMPTY_ROOT, hashChildren } from './merkle.js';

export type ProofVerdict = { ok: true } | { ok: false; error: ProofError };

/** Inclusion proof JSON (hex hashes), RFC 9162 §4.12 InclusionProofDataV2 plus the hashes it binds. */
export interface InclusionProof {
  leaf_index: number;
  tree_size: number;
  leaf_hash: string;
  /** The audit path, leaf to root. */
  hashes: string[];
  root_hash: string;
}

/** Consistency proof JSON (hex hashes), RFC 9162 §4.11 ConsistencyProofDataV2 plus both roots. */
export interface ConsistencyProof {
  first: number;
  second: number;
  first_hash: string;
  second_hash: string;
  hashes: string[];
}

const OK: ProofVerdict = { ok: true };
const fail = (error: ProofError): ProofVerdict => ({ ok: false, error });

function badSize(value: unknown, name: string): ProofError | undefined {
  return Number.isSafeInteger(value) && (value as number) >= 0 ? undefined : new ProofError('ERR_PROOF_MALFORMED', `${name} must be a non-negative integer`);
}

function badHash(hash: Uint8Array, name: string): ProofError | undefined {
  return hash.length === 32 ? undefined : new ProofError('ERR_PROOF_HASH_SIZE', `${name} is ${hash.length} bytes, not 32`);
}

function badHashes(proof: readonly Uint8Array[]): ProofError | undefined {
  for (let i = 0; i < proof.length; i++) {
    const error = badHash(proof[i] ?? new Uint8Array(), `proof[${i}]`);
    if (error) return error;
  }
  return undefined;
}

/** Number of right shifts until a and b are equal: bits.Len(a ^ b) without 32-bit operators. */
function differingBits(a: number, b: number): number {
  let n = 0;
  for (; a !== b; n++) {
    a = Math.floor(a / 2);
    b = Math.floor(b / 2);
  }
  return n;
}

function popcount(x: number): number {
  let n = 0;
  for (; x > 0; x = Math.floor(x / 2)) n += x % 2;
  return n;
}

function trailingZeros(x: number): number {
  let n = 0;
  for (; x > 0 && x % 2 === 0; x /= 2) n++;
  return n;
}

/** How many hashes the audit path of leafIndex in a tree of treeSize leaves has. */
export function inclusionProofLength(leafIndex: number, treeSize: number): number {
  const inner = differingBits(leafIndex, treeSize - 1);
  return inner + popcount(Math.floor(leafIndex / 2 ** inner));
}

/** How many hashes PROOF(first, D_second) has, for 0 < first < second. */
export function consistencyProofLength(first: number, second: number): number {
  const shift = trailingZeros(first);
  const inner = differingBits(first - 1, second - 1) - shift;
  const border = popcount(Math.floor((first - 1) / 2 ** differingBits(first - 1, second - 1)));
  return (first === 2 ** shift ? 0 : 1) + inner + border;
}

/**
 * The root that an inclusion proof leads to (RFC 9162 §2.1.3.2 steps 1–4, without the final
 * comparison). Preconditions, each a typed failure: leafIndex < treeSize; every hash 32 bytes;
 * exactly inclusionProofLength(leafIndex, treeSize) proof hashes.
 */
export function rootFromInclusionProof(
  leafIndex: number,
  treeSize: number,
  leafHash: Uint8Array,
  proof: readonly Uint8Array[],
): { ok: true; root: Buffer } | { ok: false; error: ProofError } {
  const pre = badSize(leafIndex, 'leaf_index') ?? badSize(treeSize, 'tree_size') ?? badHash(leafHash, 'leaf_hash') ?? badHashes(proof);
  if (pre) return { ok: false, error: pre };
  // §2.1.3.2 step 1: "If leaf_index is greater than or equal to tree_size, then fail."
  if (leafIndex >= treeSize) {
    return { ok: false, error: new ProofError('ERR_PROOF_OUT_OF_RANGE', `leaf_index ${leafIndex} is not below tree_size ${treeSize}`) };
  }
  const want = inclusionProofLength(leafIndex, treeSize);
  if (proof.length !== want) {
    return { ok: false, error: new ProofError('ERR_PROOF_LENGTH', `inclusion proof has ${proof.length} hashes, RFC 9162 gives ${want} for index ${leafIndex} in size ${treeSize}`) };
  }
  let fn = leafIndex;
  let sn = treeSize - 1;
  let r: Buffer = Buffer.from(leafHash);
  for (const p of proof) {
    if (sn === 0) return { ok: false, error: new ProofError('ERR_PROOF_LENGTH', 'inclusion proof is longer than the path') };
    if (fn % 2 === 1 || fn === sn) {
      r = hashChildren(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = hashChildren(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) return { ok: false, error: new ProofError('ERR_PROOF_LENGTH', 'inclusion proof is shorter than the path') };
  return { ok: true, root: r };
}

/**
 * RFC 9162 §2.1.3.2: does `proof` show that the leaf with hash leafHash is at leafIndex in the
 * tree of treeSize leaves whose root is rootHash? Does not check where rootHash came from: the
 * caller compares it with a verified checkpoint.
 */
export function verifyInclusion(input: {
  leafIndex: number;
  treeSize: number;
  leafHash: Uint8Array;
  proof: readonly Uint8Array[];
  rootHash: Uint8Array;
}): ProofVerdict {
  const rootError = badHash(input.rootHash, 'root_hash');
  if (rootError) return fail(rootError);
  const result = rootFromInclusionProof(input.leafIndex, input.treeSize, input.leafHash, input.proof);
  if (!result.ok) return result;
  if (!result.root.equals(input.rootHash)) return fail(new RootMismatchError('root', Buffer.from(input.rootHash), result.root));
  return OK;
}

/**
 * RFC 9162 §2.1.4.2: does `proof` show that the tree of `first` leaves with root firstHash is a
 * prefix of the tree of `second` leaves with root secondHash? Preconditions, each a typed
 * failure: first <= second; every hash 32 bytes; exactly the RFC number of proof hashes. Edge
 * cases as transparency-dev/merkle: first = second needs an empty proof and equal roots; first = 0
 * needs an empty proof and firstHash = SHA-256() (stricter: the empty tree has one root).
 */
export function verifyConsistency(input: {
  first: number;
  second: number;
  firstHash: Uint8Array;
  secondHash: Uint8Array;
  proof: readonly Uint8Array[];
}): ProofVerdict {
  const { first, second, proof } = input;
  const pre = badSize(first, 'first') ?? badSize(second, 'second') ?? badHash(input.firstHash, 'first_hash') ?? badHash(input.secondHash, 'second_hash') ?? badHashes(proof);
  if (pre) return fail(pre);
  const firstHash = Buffer.from(input.firstHash);
  const secondHash = Buffer.from(input.secondHash);
  if (second < first) return fail(new ProofError('ERR_PROOF_OUT_OF_RANGE', `first ${first} is greater than second ${second}`));
  if (first === second || first === 0) {
    if (proof.length > 0) return fail(new ProofError('ERR_PROOF_LENGTH', `proof between sizes ${first} and ${second} must be empty`));
    if (first === 0) return firstHash.equals(EMPTY_ROOT) ? OK : fail(new RootMismatchError('first', EMPTY_ROOT, firstHash));
    return firstHash.equals(secondHash) ? OK : fail(new RootMismatchError('second', secondHash, firstHash));
  }
  // §2.1.4.2 step 1: "If consistency_path is an empty array, stop and fail the proof verification."
  const want = consistencyProofLength(first, second);
  if (proof.length !== want) {
    return fail(new ProofError('ERR_PROOF_LENGTH', `consistency proof has ${proof.length} hashes, RFC 9162 gives ${want} for sizes ${first} and ${second}`));
  }
  // Step 2: "If first is an exact power of 2, then prepend first_hash to the consistency_path array."
  const path = first === 2 ** trailingZeros(first) ? [firstHash, ...proof] : [...proof];
  // Step 3.
  let fn = first - 1;
  let sn = second - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  // Step 4.
  let fr: Buffer = Buffer.from(path[0] as Uint8Array);
  let sr: Buffer = fr;
  // Step 5.
  for (const c of path.slice(1)) {
    if (sn === 0) return fail(new ProofError('ERR_PROOF_LENGTH', 'consistency proof is longer than the path'));
    if (fn % 2 === 1 || fn === sn) {
      fr = hashChildren(c, fr);
      sr = hashChildren(c, sr);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      sr = hashChildren(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  // Step 6.
  if (sn !== 0) return fail(new ProofError('ERR_PROOF_LENGTH', 'consistency proof is shorter than the path'));
  if (!fr.equals(firstHash)) return fail(new RootMismatchError('first', firstHash, fr));
  if (!sr.equals(secondHash)) return fail(new RootMismatchError('second', secondHash, sr));
  return OK;
}

const HEX_HASH = /^[0-9a-f]{64}$/;

function decodeHex(value: unknown, name: string): Buffer | ProofError {
  if (typeof value !== 'string') return new ProofError('ERR_PROOF_MALFORMED', `${name} must be a hex string`);
  if (!HEX_HASH.test(value)) return new ProofError('ERR_PROOF_HASH_SIZE', `${name} must be 64 lowercase hex digits`);
  return Buffer.from(value, 'hex');
}

function decodeList(value: unknown): Buffer[] | ProofError {
  if (!Array.isArray(value)) return new ProofError('ERR_PROOF_MALFORMED', 'hashes must be an array');
  const out: Buffer[] = [];
  for (let i = 0; i < value.length; i++) {
    const hash = decodeHex(value[i], `hashes[${i}]`);
    if (hash instanceof ProofError) return hash;
    out.push(hash);
  }
  return out;
}

/**
 * Verifies inclusion proof JSON. With trustedRoot (from a verified checkpoint of the same
 * tree_size), root_hash must equal it; without, the proof is only checked against its own
 * root_hash, which proves nothing until that root is compared with a checkpoint.
 */
export function verifyInclusionProof(proof: InclusionProof, trustedRoot?: string | Uint8Array): ProofVerdict {
  const leafHash = decodeHex(proof.leaf_hash, 'leaf_hash');
  const rootHash = decodeHex(proof.root_hash, 'root_hash');
  const hashes = decodeList(proof.hashes);
  for (const x of [leafHash, rootHash, hashes]) if (x instanceof ProofError) return fail(x);
  if (trustedRoot !== undefined) {
    const trusted = typeof trustedRoot === 'string' ? decodeHex(trustedRoot, 'trusted root') : Buffer.from(trustedRoot);
    if (trusted instanceof ProofError) return fail(trusted);
    if (!trusted.equals(rootHash as Buffer)) return fail(new RootMismatchError('root', trusted, rootHash as Buffer));
  }
  return verifyInclusion({
    leafIndex: proof.leaf_index,
    treeSize: proof.tree_size,
    leafHash: leafHash as Buffer,
    proof: hashes as Buffer[],
    rootHash: rootHash as Buffer,
  });
}

/** Verifies consistency proof JSON; the same caveat about where the two roots come from applies. */
export function verifyConsistencyProof(proof: ConsistencyProof): ProofVerdict {
  const firstHash = decodeHex(proof.first_hash, 'first_hash');
  const secondHash = decodeHex(proof.second_hash, 'second_hash');
  const hashes = decodeList(proof.hashes);
  for (const x of [firstHash, secondHash, hashes]) if (x instanceof ProofError) return fail(x);
  return verifyConsistency({
    first: proof.first,
    second: proof.second,
    firstHash: firstHash as Buffer,
    secondHash: secondHash as Buffer,
    proof: hashes as Buffer[],
  });
}
