// RFC 9162 §2.1 Merkle tree with SHA-256 (§2.1.1), built incrementally and served from stored
// nodes.
//
// Node addressing: (level, index) is the perfect subtree of 2^level leaves starting at leaf
// index·2^level; level 0 nodes are the leaf hashes. The ledger stores every such node once it is
// complete, so any MTH(D[a:b]) that the RFC recursion asks for is a combination of O(log n) stored
// nodes, and roots and proofs never rehash the log.
//
// Sizes and indices are JS numbers (exact below 2^53); no bitwise operators, which are 32-bit.
import { createHash } from 'node:crypto';

const LEAF_PREFIX = Buffer.from([0x00]);
const NODE_PREFIX = Buffer.from([0x01]);

/** RFC 9162 §2.1.1: MTH({}) = SHA-256() — the root of the empty tree. */
export const EMPTY_ROOT: Buffer = createHash('sha256').digest();

/** RFC 9162 §2.1.1: MTH({d}) = SHA-256(0x00 || d). */
export function hashLeaf(data: Uint8Array | string): Buffer {
  return createHash('sha256').update(LEAF_PREFIX).update(data).digest();
}

/** RFC 9162 §2.1.1: SHA-256(0x01 || left || right). */
export function hashChildren(left: Uint8Array, right: Uint8Array): Buffer {
  return createHash('sha256').update(NODE_PREFIX).update(left).update(right).digest();
}

export interface NodeRef {
  level: number;
  index: number;
}

export function nodeKey(level: number, index: number): string {
  return `${level}:${index}`;
}

/** Largest power of two smaller than n, for n > 1 (RFC 9162 §2.1.1: k < n <= 2k). */
export function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** log2(n) when n is a power of two, else -1. */
function exactLog2(n: number): number {
  let level = 0;
  for (let span = 1; span <= n; span *= 2, level++) if (span === n) return level;
  return -1;
}

/**
 * The right edge of a tree of `size` leaves: one perfect subtree per set bit of size, biggest
 * first. Root = fold of these from the right. This is all a writer needs to keep to append.
 */
export function frontierRefs(size: number): NodeRef[] {
  const refs: NodeRef[] = [];
  let level = 0;
  for (let rest = size, span = 1; rest > 0; level++, span *= 2, rest = Math.floor(rest / 2)) {
    if (rest % 2 === 1) refs.push({ level, index: Math.floor(size / span) - 1 });
  }
  return refs.reverse();
}

/**
 * RFC 9162 §2.1.2 in compact form: the hashes of the frontier subtrees by level. append() adds one
 * leaf and reports every node that it completes, so the caller can store it.
 */
export class MerkleFrontier {
  #size: number;
  readonly #levels: (Buffer | undefined)[];

  private constructor(size: number, levels: (Buffer | undefined)[]) {
    this.#size = size;
    this.#levels = levels;
  }

  static empty(): MerkleFrontier {
    return new MerkleFrontier(0, []);
  }

  /** Rebuilds the frontier of a tree of `size` leaves from the hashes of frontierRefs(size). */
  static fromNodes(size: number, lookup: (ref: NodeRef) => Buffer | undefined): MerkleFrontier {
    const levels: (Buffer | undefined)[] = [];
    for (const ref of frontierRefs(size)) {
      const hash = lookup(ref);
      if (!hash) throw new Error(`merkle: frontier node ${nodeKey(ref.level, ref.index)} of size ${size} is missing`);
      levels[ref.level] = hash;
    }
    return new MerkleFrontier(size, levels);
  }

  get size(): number {
    return this.#size;
  }

  clone(): MerkleFrontier {
    return new MerkleFrontier(this.#size, [...this.#levels]);
  }

  /** Appends one leaf hash; calls onNode for the leaf node and each internal node it completes. */
  append(leafHash: Buffer, onNode?: (level: number, index: number, hash: Buffer) => void): void {
    let hash = leafHash;
    let level = 0;
    let index = this.#size;
    onNode?.(0, index, hash);
    while (index % 2 === 1) {
      const left = this.#levels[level];
      if (!left) throw new Error(`merkle: frontier is missing level ${level}`);
      this.#levels[level] = undefined;
      hash = hashChildren(left, hash);
      level += 1;
      index = (index - 1) / 2;
      onNode?.(level, index, hash);
    }
    this.#levels[level] = hash;
    this.#size += 1;
  }

  /** MTH of the whole tree (RFC 9162 §2.1.2 final merge). */
  root(): Buffer {
    let root: Buffer | undefined;
    for (const hash of this.#levels) {
      if (hash) root = root ? hashChildren(hash, root) : hash;
    }
    return root ?? EMPTY_ROOT;
  }
}

/** How to compute one hash from stored nodes: a node, or the node hash of two sub-plans. */
export type HashPlan = NodeRef | { left: HashPlan; right: HashPlan };

/**
 * MTH(D[start:end]) for a range the RFC recursion produces (start is a multiple of the largest
 * power of two below end - start). Precondition: 0 <= start < end.
 */
export function subtreePlan(start: number, end: number): HashPlan {
  const n = end - start;
  const level = exactLog2(n);
  if (level >= 0 && start % n === 0) return { level, index: start / n };
  const k = splitPoint(n);
  return { left: subtreePlan(start, start + k), right: subtreePlan(start + k, end) };
}

/** MTH(D_size), or undefined for the empty tree (whose root is EMPTY_ROOT). */
export function rootPlan(size: number): HashPlan | undefined {
  return size === 0 ? undefined : subtreePlan(0, size);
}

/** RFC 9162 §2.1.3.1 PATH(m, D_n), leaf to root. Precondition: 0 <= index < size. */
export function inclusionPlan(index: number, size: number): HashPlan[] {
  const path: HashPlan[] = [];
  const walk = (start: number, end: number): void => {
    if (end - start === 1) return;
    const k = splitPoint(end - start);
    if (index - start < k) {
      walk(start, start + k);
      path.push(subtreePlan(start + k, end));
    } else {
      walk(start + k, end);
      path.push(subtreePlan(start, start + k));
    }
  };
  walk(0, size);
  return path;
}

/**
 * RFC 9162 §2.1.4.1 PROOF(m, D_n). Precondition: 0 <= first <= second. For first = 0 or
 * first = second the proof is empty (every tree is consistent with the empty tree and itself).
 */
export function consistencyPlan(first: number, second: number): HashPlan[] {
  if (first === 0 || first === second) return [];
  const proof: HashPlan[] = [];
  const sub = (start: number, end: number, whole: boolean): void => {
    if (first === end) {
      if (!whole) proof.push(subtreePlan(start, end));
      return;
    }
    const k = splitPoint(end - start);
    if (first - start <= k) {
      sub(start, start + k, whole);
      proof.push(subtreePlan(start + k, end));
    } else {
      sub(start + k, end, false);
      proof.push(subtreePlan(start, start + k));
    }
  };
  sub(0, second, true);
  return proof;
}

/** The distinct stored nodes the plans read. */
export function planRefs(plans: readonly HashPlan[]): NodeRef[] {
  const seen = new Map<string, NodeRef>();
  const visit = (plan: HashPlan): void => {
    if ('left' in plan) {
      visit(plan.left);
      visit(plan.right);
    } else {
      seen.set(nodeKey(plan.level, plan.index), plan);
    }
  };
  plans.forEach(visit);
  return [...seen.values()];
}

export function evaluatePlan(plan: HashPlan, nodes: ReadonlyMap<string, Buffer>): Buffer {
  if ('left' in plan) return hashChildren(evaluatePlan(plan.left, nodes), evaluatePlan(plan.right, nodes));
  const hash = nodes.get(nodeKey(plan.level, plan.index));
  if (!hash) throw new Error(`merkle: stored node ${nodeKey(plan.level, plan.index)} is missing`);
  return hash;
}
