// RFC 9162 §2.1.3.1 inclusion and §2.1.4.1 consistency proofs, and tree roots, served from the
// stored tree nodes: each reads O(log n) nodes in one query, whatever the log size.
import type { SqlExecutor } from '../storage/sql.js';
import { AuditError } from './errors.js';
import { readLatestCheckpoint, readNodes, readTreeSize, type StoredCheckpoint } from './ledger-store.js';
import { consistencyPlan, EMPTY_ROOT, evaluatePlan, inclusionPlan, planRefs, rootPlan, type HashPlan } from './merkle.js';
import type { ConsistencyProof, InclusionProof } from './proof-verify.js';

async function evaluate(ex: SqlExecutor, plans: readonly HashPlan[]): Promise<Buffer[]> {
  const nodes = await readNodes(ex, planRefs(plans));
  return plans.map((plan) => evaluatePlan(plan, nodes));
}

function checkSize(value: number, name: string, max: number, min = 0): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new AuditError('ERR_AUDIT_INVALID_ARGUMENT', `${name} must be an integer from ${min} to ${max}`);
  }
}

/** The number of events in the log. */
export function ledgerSize(ex: SqlExecutor): Promise<number> {
  return readTreeSize(ex);
}

/** The root hash of the first `size` leaves (default: the whole log). */
export async function rootHash(ex: SqlExecutor, size?: number): Promise<{ size: number; rootHash: Buffer }> {
  const current = await readTreeSize(ex);
  const at = size ?? current;
  checkSize(at, 'size', current);
  const plan = rootPlan(at);
  return { size: at, rootHash: plan ? (await evaluate(ex, [plan]))[0]! : EMPTY_ROOT };
}

/**
 * The inclusion proof of event `seq` in the tree of `size` leaves (default: the current size).
 * To check it against a signed checkpoint, pass that checkpoint's size and compare root_hash
 * with its root (verifyInclusionProof(proof, checkpoint.rootHash)).
 */
export async function inclusionProof(ex: SqlExecutor, seq: number, size?: number): Promise<InclusionProof> {
  const current = await readTreeSize(ex);
  const treeSize = size ?? current;
  checkSize(treeSize, 'size', current, 1);
  checkSize(seq, 'seq', treeSize - 1);
  const path = inclusionPlan(seq, treeSize);
  const root = rootPlan(treeSize)!;
  const [leaf, top, ...hashes] = await evaluate(ex, [{ level: 0, index: seq }, root, ...path]);
  return {
    leaf_index: seq,
    tree_size: treeSize,
    leaf_hash: leaf!.toString('hex'),
    hashes: hashes.map((h) => h.toString('hex')),
    root_hash: top!.toString('hex'),
  };
}

/** The consistency proof between the trees of `first` and `second` leaves (first <= second <= size). */
export async function consistencyProof(ex: SqlExecutor, first: number, second: number): Promise<ConsistencyProof> {
  const current = await readTreeSize(ex);
  checkSize(second, 'second', current);
  checkSize(first, 'first', second);
  const plans = consistencyPlan(first, second);
  const firstPlan = rootPlan(first);
  const secondPlan = rootPlan(second);
  const roots: HashPlan[] = [firstPlan, secondPlan].filter((p): p is HashPlan => p !== undefined);
  const values = await evaluate(ex, [...roots, ...plans]);
  const firstHash = firstPlan ? values.shift()! : EMPTY_ROOT;
  const secondHash = secondPlan ? values.shift()! : EMPTY_ROOT;
  return {
    first,
    second,
    first_hash: firstHash.toString('hex'),
    second_hash: secondHash.toString('hex'),
    hashes: values.map((h) => h.toString('hex')),
  };
}

/** The stored checkpoint of the largest size, if any (to hand to clients with proofs). */
export function latestCheckpoint(ex: SqlExecutor): Promise<StoredCheckpoint | undefined> {
  return readLatestCheckpoint(ex);
}
