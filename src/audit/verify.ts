// Full verification of the ledger: from the database (verifyLedger) or from an export
// (verifyExport). Recomputes every leaf from the stored event JSON, the whole tree (RFC 9162
// §2.1.2), and each checkpoint's root at its size; checks checkpoint signatures.
//
// Each checkpoint's root is compared with the root recomputed from the events at its size. All
// those roots are prefixes of one recomputed leaf sequence, so a checkpoint that matches is
// consistent (RFC 9162 §2.1.4) with every other one that matches: no consistency proof is needed
// when the verifier holds the events. Consistency proofs are for verifiers that do not.
//
// The first fault in seq order is reported, with the first seq it puts in doubt:
// - missing_event   a seq has no event (a deleted row, or the tail was cut);
// - event_mismatch  the event text is not canonical JSON or its seq member is not its position
//                   (an edited or swapped row);
// - column_mismatch an indexed column differs from the event JSON (search would lie);
// - leaf_mismatch   the stored leaf hash is not SHA-256(0x00 || event JSON) (an edited row);
// - missing_node / node_mismatch  a stored tree node is absent or wrong (proofs would fail);
// - checkpoint_invalid   a checkpoint is malformed, has the wrong origin, or its signature does
//                        not verify: firstBadSeq is the size of the last good checkpoint;
// - checkpoint_mismatch  a good checkpoint's root differs from the recomputed one: events
//                        before it were rewritten together with the tree; firstBadSeq is the size
//                        of the last good checkpoint (the rewrite is somewhere after it);
// - checkpoint_beyond_log a good checkpoint covers more events than exist: the tail was cut.
//
// What is not checked: events after the last checkpoint are only as trustworthy as the
// database (no signature covers them yet); without publicKey no signature is checked at all.
import type { SqlExecutor } from '../storage/sql.js';
import { parseCheckpoint, toVerifier, type CheckpointKey } from './checkpoint.js';
import { AuditError } from './errors.js';
import { readCheckpoints, readEventPage, readLargestCheckpointSize, readNodeRanges, readTreeSize, type EventRow, type StoredCheckpoint } from './ledger-store.js';
import { hashLeaf, MerkleFrontier, nodeKey } from './merkle.js';
import { openNote } from './note.js';
import { eventColumns, parseStoredEvent, type EventColumns } from './stored-event.js';

export type LedgerFaultCode =
  | 'missing_event'
  | 'event_mismatch'
  | 'column_mismatch'
  | 'leaf_mismatch'
  | 'missing_node'
  | 'node_mismatch'
  | 'checkpoint_invalid'
  | 'checkpoint_mismatch'
  | 'checkpoint_beyond_log';

export type LedgerVerdict =
  | {
      ok: true;
      /** Number of events (the tree size). */
      size: number;
      /** Hex root hash of the whole log. */
      rootHash: string;
      /** Checkpoints checked (stored and witness). */
      checkpoints: number;
      /** Whether checkpoint signatures were checked (a publicKey was given). */
      signaturesChecked: boolean;
      /** Size of the largest checkpoint; events from there on are not covered by a signature yet. */
      checkpointedSize: number;
    }
  | { ok: false; firstBadSeq: number; code: LedgerFaultCode; reason: string };

type Fault = Extract<LedgerVerdict, { ok: false }>;

export interface VerifyOptions {
  /** The checkpoint key: verifier key string, NoteVerifier, or bare Ed25519 public key. */
  publicKey?: CheckpointKey;
  /** When given, every checkpoint's origin line must equal it. */
  origin?: string;
  /**
   * Checkpoints kept outside the database (e.g. the witness file, split with splitNotes()).
   * They catch a cut tail even when the stored checkpoints were cut with it.
   */
  witness?: readonly string[];
  /**
   * verifyLedger only: called, and awaited, after each page of events with how many of the events
   * this run covers have been checked. Whatever it does, the verdict is the same.
   */
  onProgress?: (progress: { checked: number; total: number }) => void | Promise<void>;
}

interface CheckpointEntry {
  size: number;
  note: string;
  /** The database columns, when the checkpoint comes from audit_checkpoints. */
  stored?: StoredCheckpoint;
  source: 'database' | 'witness' | 'export';
}

const fault = (firstBadSeq: number, code: LedgerFaultCode, reason: string): Fault => ({ ok: false, firstBadSeq, code, reason });

/** Recomputes the tree leaf by leaf and checks checkpoints as their sizes are reached. */
class Recomputation {
  readonly frontier = MerkleFrontier.empty();
  readonly #verifier;
  readonly #origin: string | undefined;
  readonly #checkpoints: AsyncIterator<CheckpointEntry>;
  #pending: CheckpointEntry | undefined;
  #done = false;
  /** Size of the last checkpoint that verified and matched. */
  lastGood = 0;
  checked = 0;
  readonly roots = new Map<number, Buffer>();

  constructor(checkpoints: AsyncIterable<CheckpointEntry>, options: VerifyOptions) {
    this.#verifier = options.publicKey === undefined ? undefined : toVerifier(options.publicKey);
    this.#origin = options.origin;
    this.#checkpoints = checkpoints[Symbol.asyncIterator]();
  }

  get signaturesChecked(): boolean {
    return this.#verifier !== undefined;
  }

  async #peek(): Promise<CheckpointEntry | undefined> {
    if (!this.#pending && !this.#done) {
      const next = await this.#checkpoints.next();
      if (next.done) this.#done = true;
      else this.#pending = next.value;
    }
    return this.#pending;
  }

  /** Checks one checkpoint note: format, stored copies, origin, signature. */
  #open(entry: CheckpointEntry): { size: number; rootHash: Buffer } | Fault {
    const bad = (why: string): Fault =>
      fault(this.lastGood, 'checkpoint_invalid', `${entry.source} checkpoint of size ${entry.size}: ${why}`);
    let text: string;
    try {
      text = this.#verifier ? openNote(entry.note, [this.#verifier]).text : entry.note.slice(0, entry.note.lastIndexOf('\n\n') + 1);
    } catch (err) {
      return bad(err instanceof AuditError ? err.message : 'unreadable note');
    }
    let parsed;
    try {
      parsed = parseCheckpoint(text);
    } catch (err) {
      return bad(err instanceof AuditError ? err.message : 'unreadable checkpoint');
    }
    if (parsed.size !== entry.size) return bad('the note size differs from the stored size');
    if (entry.stored && !entry.stored.rootHash.equals(parsed.rootHash)) return bad('the stored root hash differs from the note');
    if (this.#origin !== undefined && parsed.origin !== this.#origin) return bad('the origin line is not the expected origin');
    return { size: parsed.size, rootHash: parsed.rootHash };
  }

  /** Checks every checkpoint of exactly the current size; call before each leaf and at the end. */
  async checkpointsHere(): Promise<Fault | undefined> {
    const size = this.frontier.size;
    for (let entry = await this.#peek(); entry && entry.size <= size; entry = await this.#peek()) {
      this.#pending = undefined;
      const opened = this.#open(entry);
      if ('ok' in opened) return opened;
      const root = this.frontier.root();
      if (entry.size < size || !root.equals(opened.rootHash)) {
        return fault(
          this.lastGood,
          'checkpoint_mismatch',
          `${entry.source} checkpoint of size ${entry.size} has another root than the events: an event from seq ${this.lastGood} to ${entry.size - 1} was changed`,
        );
      }
      this.roots.set(size, root);
      this.lastGood = size;
      this.checked += 1;
    }
    return undefined;
  }

  /** After the last event: any checkpoint left claims events that are not there. */
  async checkpointsBeyond(): Promise<Fault | undefined> {
    const size = this.frontier.size;
    const entry = await this.#peek();
    if (!entry) return undefined;
    this.#pending = undefined;
    const opened = this.#open(entry);
    if ('ok' in opened) return opened;
    return fault(size, 'checkpoint_beyond_log', `${entry.source} checkpoint of size ${entry.size} covers events from seq ${size} that are missing: the tail was cut`);
  }
}

/** Checks one event's text at position `seq`; resolves its leaf hash or a fault. */
function checkEvent(seq: number, json: string, columns: EventColumns | undefined): Buffer | Fault {
  let event;
  try {
    event = parseStoredEvent(json);
  } catch (err) {
    return fault(seq, 'event_mismatch', `event ${seq}: ${(err as Error).message}`);
  }
  if (event.seq !== seq) {
    return fault(seq, 'event_mismatch', `event ${seq}: its seq member says ${event.seq} (a moved or swapped event)`);
  }
  if (columns) {
    const fromJson = eventColumns(event);
    const differing = (Object.keys(fromJson) as (keyof EventColumns)[]).filter((k) => fromJson[k] !== columns[k]);
    if (differing.length > 0) return fault(seq, 'column_mismatch', `event ${seq}: column(s) ${differing.join(', ')} differ from the event JSON`);
  }
  return hashLeaf(json);
}

function* sortedEntries(notes: readonly string[], source: CheckpointEntry['source']): Generator<CheckpointEntry> {
  const entries = notes.map((note) => {
    let size = -1;
    try {
      size = parseCheckpoint(note.slice(0, note.lastIndexOf('\n\n') + 1)).size;
    } catch {
      // Checked (and reported) as checkpoint_invalid at size 0.
      size = 0;
    }
    return { size, note, source };
  });
  yield* entries.sort((a, b) => a.size - b.size);
}

async function* merge(a: AsyncIterable<CheckpointEntry>, b: Iterable<CheckpointEntry>): AsyncGenerator<CheckpointEntry> {
  const bi = b[Symbol.iterator]();
  let bn = bi.next();
  for await (const x of a) {
    while (!bn.done && bn.value.size <= x.size) {
      yield bn.value;
      bn = bi.next();
    }
    yield x;
  }
  while (!bn.done) {
    yield bn.value;
    bn = bi.next();
  }
}

/** Stored checkpoints in size order, those of at most `upTo` events only. */
async function* storedCheckpoints(ex: SqlExecutor, upTo = Number.MAX_SAFE_INTEGER): AsyncGenerator<CheckpointEntry> {
  let after = -1;
  for (;;) {
    const page = await readCheckpoints(ex, after, 1000);
    for (const stored of page) {
      if (stored.size > upTo) return;
      yield { size: stored.size, note: stored.note, stored, source: 'database' };
    }
    if (page.length < 1000) return;
    after = page[page.length - 1]!.size;
  }
}

const PAGE = 2000;

/**
 * Verifies the ledger in the database as it stood when verification began, while a server may go
 * on appending. Reads it in pages (memory O(page + log n)) outside a transaction, so it bounds
 * itself instead of relying on a snapshot: it reads the largest stored checkpoint's size first
 * and the tree size second. Both only grow, and a checkpoint is stored after its events, so
 * every checkpoint of at most that first size is covered by events below the second, unless
 * events were removed. Later checkpoints and events are left to the next verification.
 * Between pages it reports progress (options.onProgress) and yields to the event loop.
 */
export async function verifyLedger(ex: SqlExecutor, options: VerifyOptions = {}): Promise<LedgerVerdict> {
  const checkpointBound = (await readLargestCheckpointSize(ex)) ?? -1;
  const treeBound = await readTreeSize(ex);
  const run = new Recomputation(merge(storedCheckpoints(ex, checkpointBound), sortedEntries(options.witness ?? [], 'witness')), options);
  const here = await run.checkpointsHere();
  if (here) return here;
  for (let from = 0; from < treeBound; ) {
    const rows: EventRow[] = (await readEventPage(ex, from, Math.min(PAGE, treeBound - from))).filter((row) => row.seq < treeBound);
    if (rows.length === 0) break;
    const end = rows[rows.length - 1]!.seq + 1;
    const stored = await storedNodesFor(ex, from, end);
    for (const row of rows) {
      const seq = run.frontier.size;
      if (row.seq !== seq) return fault(seq, 'missing_event', `event ${seq} is missing`);
      const leaf = checkEvent(seq, row.json, row);
      if (!Buffer.isBuffer(leaf)) return leaf;
      let nodeFault: Fault | undefined;
      run.frontier.append(leaf, (level, index, hash) => {
        if (nodeFault) return;
        const first = index * 2 ** level;
        const have = stored.get(nodeKey(level, index));
        if (!have) nodeFault = fault(first, 'missing_node', `tree node (${level}, ${index}) is missing`);
        else if (!have.equals(hash)) {
          nodeFault = level === 0
            ? fault(seq, 'leaf_mismatch', `event ${seq}: its stored leaf hash differs from the hash of its JSON`)
            : fault(first, 'node_mismatch', `tree node (${level}, ${index}) differs from the recomputed hash`);
        }
      });
      if (nodeFault) return nodeFault;
      const atCheckpoint = await run.checkpointsHere();
      if (atCheckpoint) return atCheckpoint;
    }
    from = end;
    await options.onProgress?.({ checked: end, total: treeBound });
    // A server verifying its own ledger keeps answering requests: give the event loop a turn
    // between pages (a synchronous driver such as SQLite's never would otherwise).
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  const size = run.frontier.size;
  if (treeBound > size) return fault(size, 'missing_event', `events from seq ${size} to ${treeBound - 1} are missing: the tail was cut`);
  const beyond = await run.checkpointsBeyond();
  if (beyond) return beyond;
  return {
    ok: true,
    size,
    rootHash: run.frontier.root().toString('hex'),
    checkpoints: run.checked,
    signaturesChecked: run.signaturesChecked,
    checkpointedSize: run.lastGood,
  };
}

/** Stored nodes completed by the leaves [from, end), by nodeKey. */
async function storedNodesFor(ex: SqlExecutor, from: number, end: number): Promise<Map<string, Buffer>> {
  const ranges: { level: number; from: number; to: number }[] = [];
  for (let level = 0, span = 1; span <= end; level++, span *= 2) {
    // Node (level, i) is completed by leaf (i + 1)·2^level − 1.
    const lo = Math.ceil((from + 1) / span) - 1;
    const hi = Math.floor(end / span) - 1;
    if (lo <= hi) ranges.push({ level, from: lo, to: hi });
  }
  const map = new Map<string, Buffer>();
  for (const node of await readNodeRanges(ex, ranges)) map.set(nodeKey(node.level, node.index), node.hash);
  return map;
}

/**
 * Verifies an exported log offline: `lines` are the event JSON texts in seq order (NDJSON, as
 * exportLedger writes them; empty lines are skipped), `checkpoints` the signed checkpoint notes.
 * publicKey is required: an export without a signature check proves nothing.
 */
export async function verifyExport(
  lines: Iterable<string> | AsyncIterable<string>,
  checkpoints: readonly string[],
  publicKey: CheckpointKey,
  options: { origin?: string } = {},
): Promise<LedgerVerdict> {
  async function* none(): AsyncGenerator<CheckpointEntry> {}
  const run = new Recomputation(merge(none(), sortedEntries(checkpoints, 'export')), { publicKey, ...options });
  const here = await run.checkpointsHere();
  if (here) return here;
  for await (const raw of lines as AsyncIterable<string>) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '') continue;
    const seq = run.frontier.size;
    const leaf = checkEvent(seq, line, undefined);
    if (!Buffer.isBuffer(leaf)) {
      // A line whose seq member is ahead of its position means events were removed before it.
      const claimed = seqOf(line);
      if (claimed !== undefined && claimed > seq) return fault(seq, 'missing_event', `event ${seq} is missing`);
      return leaf;
    }
    run.frontier.append(leaf);
    const atCheckpoint = await run.checkpointsHere();
    if (atCheckpoint) return atCheckpoint;
  }
  const beyond = await run.checkpointsBeyond();
  if (beyond) return beyond;
  return {
    ok: true,
    size: run.frontier.size,
    rootHash: run.frontier.root().toString('hex'),
    checkpoints: run.checked,
    signaturesChecked: true,
    checkpointedSize: run.lastGood,
  };
}

function seqOf(line: string): number | undefined {
  try {
    const seq = (JSON.parse(line) as { seq?: unknown }).seq;
    return Number.isSafeInteger(seq) ? (seq as number) : undefined;
  } catch {
    return undefined;
  }
}

/** The log as NDJSON lines (event JSON exactly as hashed), in seq order, for verifyExport. */
export async function* exportLedger(ex: SqlExecutor): AsyncGenerator<string> {
  for (let from = 0; ; ) {
    const rows = await readEventPage(ex, from, PAGE);
    if (rows.length === 0) return;
    for (const row of rows) yield row.json;
    from = rows[rows.length - 1]!.seq + 1;
  }
}

/** Every stored checkpoint note, smallest size first, for verifyExport. */
export async function exportCheckpoints(ex: SqlExecutor): Promise<string[]> {
  const notes: string[] = [];
  for await (const entry of storedCheckpoints(ex)) notes.push(entry.note);
  return notes;
}
