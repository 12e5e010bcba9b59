import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  consistencyPlan,
  EMPTY_ROOT,
  evaluatePlan,
  frontierRefs,
  hashChildren,
  hashLeaf,
  inclusionPlan,
  MerkleFrontier,
  nodeKey,
  planRefs,
  rootPlan,
  type HashPlan,
} from '../../src/audit/merkle.js';
import {
  consistencyProofLength,
  inclusionProofLength,
  rootFromInclusionProof,
  verifyConsistency,
  verifyConsistencyProof,
  verifyInclusion,
  verifyInclusionProof,
  type ProofVerdict,
} from '../../src/audit/proof-verify.js';
import { RootMismatchError, type ProofErrorCode } from '../../src/audit/errors.js';
import { leafHash as naiveLeafHash, mth, path, proof as referenceProof } from './reference-tree.js';
import { CONSISTENCY_VECTORS, INCLUSION_VECTORS, LEAVES_HEX, ROOTS_HEX, SOME_HASH } from './vectors.js';

const hex = (h: string): Buffer => Buffer.from(h, 'hex');
const LEAVES = LEAVES_HEX.map(hex);

/** The stored-node implementation, in memory: every node the frontier completes, by (level, index). */
function storedTree(leaves: readonly Uint8Array[]): { nodes: Map<string, Buffer>; frontier: MerkleFrontier } {
  const nodes = new Map<string, Buffer>();
  const frontier = MerkleFrontier.empty();
  for (const leaf of leaves) frontier.append(hashLeaf(leaf), (level, index, hash) => nodes.set(nodeKey(level, index), hash));
  return { nodes, frontier };
}

const evaluate = (plans: readonly HashPlan[], nodes: Map<string, Buffer>): Buffer[] => plans.map((p) => evaluatePlan(p, nodes));

function expectFailure(verdict: ProofVerdict, codes: readonly ProofErrorCode[], label: string): void {
  expect(verdict.ok, `${label} must not verify`).toBe(false);
  if (!verdict.ok) expect(codes, `${label}: ${verdict.error.message}`).toContain(verdict.error.code);
}

describe('RFC 9162 tree hashing', () => {
  it('gives the known roots for the transparency-dev/merkle test leaves, n = 0..8, incrementally and by the naive definition', () => {
    for (let n = 0; n <= 8; n++) {
      const { frontier, nodes } = storedTree(LEAVES.slice(0, n));
      expect(frontier.root().toString('hex'), `n=${n}`).toBe(ROOTS_HEX[n]);
      expect(mth(LEAVES.slice(0, n).map(naiveLeafHash)).toString('hex'), `naive n=${n}`).toBe(ROOTS_HEX[n]);
      const plan = rootPlan(n);
      expect((plan ? evaluatePlan(plan, nodes) : EMPTY_ROOT).toString('hex'), `stored nodes n=${n}`).toBe(ROOTS_HEX[n]);
    }
  });

  it('separates leaf and node hashing with the 0x00 and 0x01 prefixes', () => {
    expect(hashLeaf(Buffer.alloc(0)).toString('hex')).toBe(ROOTS_HEX[1]);
    const a = hashLeaf(LEAVES[0]!);
    const b = hashLeaf(LEAVES[1]!);
    expect(hashChildren(a, b).toString('hex')).toBe(ROOTS_HEX[2]);
    expect(hashLeaf(Buffer.concat([a, b])).equals(hashChildren(a, b))).toBe(false);
  });

  it('reproduces the RFC 9162 §2.1.5 worked example proofs for the 7-leaf tree', () => {
    const d = LEAVES.slice(0, 7);
    const { nodes } = storedTree(d);
    const [a, b, c, dd, e, f, j] = d.map((x) => hashLeaf(x));
    const g = hashChildren(a!, b!);
    const h = hashChildren(c!, dd!);
    const i = hashChildren(e!, f!);
    const k = hashChildren(g, h);
    const l = hashChildren(i, j!);
    const inclusion = (m: number): Buffer[] => evaluate(inclusionPlan(m, 7), nodes);
    expect(inclusion(0)).toEqual([b, h, l]);
    expect(inclusion(3)).toEqual([c, g, l]);
    expect(inclusion(4)).toEqual([f, j, k]);
    expect(inclusion(6)).toEqual([i, k]);
    const consistency = (m: number): Buffer[] => evaluate(consistencyPlan(m, 7), nodes);
    expect(consistency(3)).toEqual([c, dd, g, l]);
    expect(consistency(4)).toEqual([l]);
    expect(consistency(6)).toEqual([i, j, k]);
  });

  it('keeps only one hash per set bit of the size as the frontier', () => {
    expect(frontierRefs(13)).toEqual([{ level: 3, index: 0 }, { level: 2, index: 2 }, { level: 0, index: 12 }]);
    expect(frontierRefs(0)).toEqual([]);
    const { nodes, frontier } = storedTree(LEAVES.slice(0, 7));
    const rebuilt = MerkleFrontier.fromNodes(7, (ref) => nodes.get(nodeKey(ref.level, ref.index)));
    expect(rebuilt.root().equals(frontier.root())).toBe(true);
    rebuilt.append(hashLeaf(LEAVES[7]!));
    expect(rebuilt.root().toString('hex')).toBe(ROOTS_HEX[8]);
  });
});

describe('inclusion proofs (RFC 9162 §2.1.3)', () => {
  for (const vector of INCLUSION_VECTORS) {
    const label = `leaf ${vector.index} of ${vector.size}`;
    const leafHash = hashLeaf(LEAVES[vector.index]!);
    const root = hex(ROOTS_HEX[vector.size]!);
    const proof = vector.proof.map(hex);

    it(`serves and verifies the known proof for ${label}`, () => {
      const { nodes } = storedTree(LEAVES.slice(0, vector.size));
      expect(evaluate(inclusionPlan(vector.index, vector.size), nodes).map((h) => h.toString('hex'))).toEqual(vector.proof);
      expect(inclusionProofLength(vector.index, vector.size)).toBe(proof.length);
      expect(verifyInclusion({ leafIndex: vector.index, treeSize: vector.size, leafHash, proof, rootHash: root })).toEqual({ ok: true });
      const computed = rootFromInclusionProof(vector.index, vector.size, leafHash, proof);
      expect(computed.ok && computed.root.equals(root)).toBe(true);
    });

    it(`rejects every named corruption of the proof for ${label}`, () => {
      const check = (name: string, codes: ProofErrorCode[], over: Partial<Parameters<typeof verifyInclusion>[0]>): void =>
        expectFailure(verifyInclusion({ leafIndex: vector.index, treeSize: vector.size, leafHash, proof, rootHash: root, ...over }), codes, name);
      const sizeOrShape: ProofErrorCode[] = ['ERR_PROOF_LENGTH', 'ERR_PROOF_ROOT_MISMATCH', 'ERR_PROOF_OUT_OF_RANGE', 'ERR_PROOF_MALFORMED'];
      check('leaf index - 1', sizeOrShape, { leafIndex: vector.index - 1 });
      check('leaf index + 1', sizeOrShape, { leafIndex: vector.index + 1 });
      check('leaf index ^ 2', sizeOrShape, { leafIndex: vector.index ^ 2 });
      check('wrong size: tree size * 2', sizeOrShape, { treeSize: vector.size * 2 });
      check('wrong size: tree size / 2', sizeOrShape, { treeSize: Math.floor(vector.size / 2) });
      check('wrong leaf', ['ERR_PROOF_ROOT_MISMATCH'], { leafHash: hashLeaf(Buffer.from('WrongLeaf')) });
      check('empty-tree root', ['ERR_PROOF_ROOT_MISMATCH'], { rootHash: EMPTY_ROOT });
      check('random root', ['ERR_PROOF_ROOT_MISMATCH'], { rootHash: hex(SOME_HASH) });
      check('trailing garbage', ['ERR_PROOF_HASH_SIZE'], { proof: [...proof, Buffer.alloc(0)] });
      check('trailing root', ['ERR_PROOF_LENGTH'], { proof: [...proof, root] });
      check('preceding garbage', ['ERR_PROOF_HASH_SIZE'], { proof: [Buffer.alloc(0), ...proof] });
      check('preceding root', ['ERR_PROOF_LENGTH'], { proof: [root, ...proof] });
      proof.forEach((_, i) => {
        const flipped = proof.map((h) => Buffer.from(h));
        flipped[i]![0]! ^= 8;
        check(`flipped bit 3 of proof[${i}]`, ['ERR_PROOF_ROOT_MISMATCH'], { proof: flipped });
      });
      if (proof.length > 0) check('truncated proof', ['ERR_PROOF_LENGTH'], { proof: proof.slice(0, -1) });
      if (proof.length > 1) check('inserted component', ['ERR_PROOF_LENGTH'], { proof: [proof[0]!, hex(SOME_HASH), ...proof.slice(1)] });
    });
  }

  it('states its preconditions: index below size, 32-byte hashes', () => {
    const leaf = hashLeaf(Buffer.from('data'));
    expectFailure(verifyInclusion({ leafIndex: 0, treeSize: 0, leafHash: leaf, proof: [], rootHash: EMPTY_ROOT }), ['ERR_PROOF_OUT_OF_RANGE'], '0 of 0');
    expectFailure(verifyInclusion({ leafIndex: 2, treeSize: 1, leafHash: leaf, proof: [], rootHash: leaf }), ['ERR_PROOF_OUT_OF_RANGE'], '2 of 1');
    expectFailure(verifyInclusion({ leafIndex: 0, treeSize: 1, leafHash: leaf, proof: [], rootHash: Buffer.alloc(0) }), ['ERR_PROOF_HASH_SIZE'], 'empty root');
    expectFailure(verifyInclusion({ leafIndex: 0, treeSize: 1, leafHash: Buffer.alloc(0), proof: [], rootHash: leaf }), ['ERR_PROOF_HASH_SIZE'], 'empty leaf');
    expect(verifyInclusion({ leafIndex: 0, treeSize: 1, leafHash: leaf, proof: [], rootHash: leaf })).toEqual({ ok: true });
  });

  it('returns a RootMismatchError that carries both roots', () => {
    const v = INCLUSION_VECTORS[1]!;
    const verdict = verifyInclusion({ leafIndex: v.index, treeSize: v.size, leafHash: hashLeaf(Buffer.from('x')), proof: v.proof.map(hex), rootHash: hex(ROOTS_HEX[v.size]!) });
    expect(verdict.ok).toBe(false);
    if (!verdict.ok) {
      expect(verdict.error).toBeInstanceOf(RootMismatchError);
      expect((verdict.error as RootMismatchError).expected.toString('hex')).toBe(ROOTS_HEX[v.size]);
    }
  });
});

describe('consistency proofs (RFC 9162 §2.1.4)', () => {
  for (const vector of CONSISTENCY_VECTORS) {
    const label = `${vector.first} → ${vector.second}`;
    const firstHash = hex(ROOTS_HEX[vector.first]!);
    const secondHash = hex(ROOTS_HEX[vector.second]!);
    const proof = vector.proof.map(hex);

    it(`serves and verifies the known proof ${label}`, () => {
      const { nodes } = storedTree(LEAVES.slice(0, vector.second));
      expect(evaluate(consistencyPlan(vector.first, vector.second), nodes).map((h) => h.toString('hex'))).toEqual(vector.proof);
      expect(verifyConsistency({ first: vector.first, second: vector.second, firstHash, secondHash, proof })).toEqual({ ok: true });
    });

    if (proof.length === 0) continue;
    it(`rejects every named corruption of the proof ${label}`, () => {
      expect(consistencyProofLength(vector.first, vector.second)).toBe(proof.length);
      const check = (name: string, codes: ProofErrorCode[], over: Partial<Parameters<typeof verifyConsistency>[0]>): void =>
        expectFailure(verifyConsistency({ first: vector.first, second: vector.second, firstHash, secondHash, proof, ...over }), codes, name);
      const sizeOrShape: ProofErrorCode[] = ['ERR_PROOF_LENGTH', 'ERR_PROOF_ROOT_MISMATCH', 'ERR_PROOF_OUT_OF_RANGE'];
      check('wrong size: first - 1', sizeOrShape, { first: vector.first - 1 });
      check('wrong size: first + 1', sizeOrShape, { first: vector.first + 1 });
      check('wrong size: first ^ 2', sizeOrShape, { first: vector.first ^ 2 });
      check('wrong size: second * 2', sizeOrShape, { second: vector.second * 2 });
      check('wrong size: second / 2', sizeOrShape, { second: Math.floor(vector.second / 2) });
      check('wrong first root', ['ERR_PROOF_ROOT_MISMATCH'], { firstHash: hex(SOME_HASH) });
      check('wrong second root', ['ERR_PROOF_ROOT_MISMATCH'], { secondHash: hex(SOME_HASH) });
      check('swapped roots', ['ERR_PROOF_ROOT_MISMATCH'], { firstHash: secondHash, secondHash: firstHash });
      check('empty proof', ['ERR_PROOF_LENGTH'], { proof: [] });
      check('trailing garbage', ['ERR_PROOF_HASH_SIZE'], { proof: [...proof, Buffer.alloc(0)] });
      check('trailing first root', ['ERR_PROOF_LENGTH'], { proof: [...proof, firstHash] });
      check('trailing second root', ['ERR_PROOF_LENGTH'], { proof: [...proof, secondHash] });
      check('preceding garbage', ['ERR_PROOF_HASH_SIZE'], { proof: [Buffer.alloc(0), ...proof] });
      check('preceding first root', ['ERR_PROOF_LENGTH'], { proof: [firstHash, ...proof] });
      check('preceding proof[0]', ['ERR_PROOF_LENGTH'], { proof: [proof[0]!, ...proof] });
      check('truncated proof', ['ERR_PROOF_LENGTH'], { proof: proof.slice(0, -1) });
      proof.forEach((_, i) => {
        const flipped = proof.map((h) => Buffer.from(h));
        flipped[i]![0]! ^= 16;
        check(`flipped bit 4 of proof[${i}]`, ['ERR_PROOF_ROOT_MISMATCH'], { proof: flipped });
      });
    });
  }

  it('treats equal sizes and the empty first tree as their own cases', () => {
    const r1 = hex(ROOTS_HEX[1]!);
    const r2 = hex(ROOTS_HEX[2]!);
    expect(verifyConsistency({ first: 0, second: 0, firstHash: EMPTY_ROOT, secondHash: EMPTY_ROOT, proof: [] })).toEqual({ ok: true });
    expect(verifyConsistency({ first: 0, second: 5, firstHash: EMPTY_ROOT, secondHash: r2, proof: [] })).toEqual({ ok: true });
    expect(verifyConsistency({ first: 1, second: 1, firstHash: r1, secondHash: r1, proof: [] })).toEqual({ ok: true });
    expectFailure(verifyConsistency({ first: 1, second: 1, firstHash: r1, secondHash: r2, proof: [] }), ['ERR_PROOF_ROOT_MISMATCH'], 'same size, other root');
    expectFailure(verifyConsistency({ first: 0, second: 1, firstHash: r1, secondHash: r1, proof: [] }), ['ERR_PROOF_ROOT_MISMATCH'], 'empty tree with a non-empty root');
    expectFailure(verifyConsistency({ first: 1, second: 1, firstHash: r1, secondHash: r1, proof: [EMPTY_ROOT] }), ['ERR_PROOF_LENGTH'], 'same size, non-empty proof');
    expectFailure(verifyConsistency({ first: 2, second: 1, firstHash: r2, secondHash: r1, proof: [] }), ['ERR_PROOF_OUT_OF_RANGE'], 'time travel');
    expectFailure(verifyConsistency({ first: 1, second: 2, firstHash: r1, secondHash: r2, proof: [] }), ['ERR_PROOF_LENGTH'], 'empty proof');
  });
});

describe('the stored-node implementation against the naive reference', () => {
  it('agrees on roots, inclusion and consistency proofs for random sizes 1..300', () => {
    const data = Array.from({ length: 300 }, (_, i) => randomBytes(i % 17));
    const naiveLeaves = data.map(naiveLeafHash);
    const { nodes } = storedTree(data);
    const random = (n: number): number => Math.floor(Math.random() * n);
    const within = (size: number) => (ref: { level: number; index: number }): boolean => (ref.index + 1) * 2 ** ref.level <= size;
    for (let size = 1; size <= 300; size++) {
      const prefix = naiveLeaves.slice(0, size);
      const root = mth(prefix);
      expect(evaluatePlan(rootPlan(size)!, nodes).equals(root), `root of ${size}`).toBe(true);
      for (const index of new Set([0, size - 1, random(size), random(size)])) {
        const plan = inclusionPlan(index, size);
        expect(planRefs(plan).every(within(size)), `inclusion ${index}/${size} reads only nodes of that tree`).toBe(true);
        const served = evaluate(plan, nodes);
        expect(served, `inclusion ${index}/${size}`).toEqual(path(index, prefix));
        expect(verifyInclusion({ leafIndex: index, treeSize: size, leafHash: hashLeaf(data[index]!), proof: served, rootHash: root }).ok).toBe(true);
      }
      for (const first of new Set([1, size, random(size) + 1, random(size) + 1])) {
        const plan = consistencyPlan(first, size);
        expect(planRefs(plan).every(within(first === size ? 0 : size))).toBe(true);
        const served = evaluate(plan, nodes);
        expect(served, `consistency ${first}→${size}`).toEqual(first === size ? [] : referenceProof(first, prefix));
        expect(verifyConsistency({ first, second: size, firstHash: mth(naiveLeaves.slice(0, first)), secondHash: root, proof: served }).ok, `verify ${first}→${size}`).toBe(true);
      }
    }
  });

  it('checks proof JSON, including against a trusted root', () => {
    const { nodes } = storedTree(LEAVES);
    const hashes = evaluate(inclusionPlan(3, 8), nodes).map((h) => h.toString('hex'));
    const json = { leaf_index: 3, tree_size: 8, leaf_hash: hashLeaf(LEAVES[3]!).toString('hex'), hashes, root_hash: ROOTS_HEX[8]! };
    expect(verifyInclusionProof(json, ROOTS_HEX[8])).toEqual({ ok: true });
    expectFailure(verifyInclusionProof(json, ROOTS_HEX[7]), ['ERR_PROOF_ROOT_MISMATCH'], 'another trusted root');
    expectFailure(verifyInclusionProof({ ...json, hashes: [...hashes.slice(0, -1), 'zz'] }), ['ERR_PROOF_HASH_SIZE'], 'bad hex');
    const consistency = { first: 3, second: 8, first_hash: ROOTS_HEX[3]!, second_hash: ROOTS_HEX[8]!, hashes: evaluate(consistencyPlan(3, 8), nodes).map((h) => h.toString('hex')) };
    expect(verifyConsistencyProof(consistency)).toEqual({ ok: true });
    expectFailure(verifyConsistencyProof({ ...consistency, first_hash: ROOTS_HEX[8]!, second_hash: ROOTS_HEX[3]! }), ['ERR_PROOF_ROOT_MISMATCH'], 'swapped roots');
  });
});
