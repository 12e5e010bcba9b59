// The audit ledger: an append-only RFC 9162 Merkle log of audit events in the SQL database, with
// signed C2SP checkpoints. 45 CFR 164.312(b) audit controls; 164.312(c)(1) integrity.
//
// - seq starts at 0 and is the RFC 9162 leaf index: event seq n is leaf n.
// - record() resolves only after the transaction holding the event has committed (durable), and
//   rejects with InternalError ERR_AUDIT_UNAVAILABLE when it could not commit: callers fail closed.
// - Group commit: while one transaction is in flight, new events queue; the next transaction
//   takes the whole queue (up to maxBatchSize). One commit (one fsync) serves many events, and a
//   failed commit rejects every record() of that batch.
// - One linear log across processes: each batch transaction first takes the ledger lock
//   (PostgreSQL pg_advisory_xact_lock; SQLite BEGIN IMMEDIATE), then reads the tree size and
//   frontier, so seqs are contiguous and never reused.
// - Checkpoints: signed at most checkpointIntervalMs after any commit, on demand (checkpoint()),
//   and on close(); each new one is also appended to the witness file, if configured.
import { AsyncResource } from 'node:async_hooks';
import type { KeyObject } from 'node:crypto';
import { InternalError } from '../errors/internal-error.js';
import type { SqlDriver, SqlExecutor } from '../storage/sql.js';
import { appendToWitnessFile, formatCheckpoint, isValidOrigin, type SignedCheckpoint } from './checkpoint.js';
import { AuditError } from './errors.js';
import type { AuditEvent, AuditEventInput, AuditSink } from './events.js';
import {
  insertCheckpoint,
  insertEvents,
  insertNodes,
  lockLedger,
  readLatestCheckpoint,
  readNodes,
  readTreeSize,
  type EventRow,
  type NodeRow,
} from './ledger-store.js';
import { frontierRefs, hashLeaf, MerkleFrontier, nodeKey } from './merkle.js';
import { NoteSigner } from './note.js';
import { eventJson, prepareEvent, type PreparedEvent } from './stored-event.js';

export interface LedgerOptions {
  /**
   * The checkpoint origin line, also the signing key's name (C2SP: the key name "SHOULD match
   * the origin line"), e.g. "auth.example.org/audit". Non-empty, no spaces, no "+".
   */
  origin: string;
  /**
   * The Ed25519 checkpoint signing key: a private KeyObject or its 32-byte seed. It must not be a
   * token signing key (RFC 9162 §4.1: a log "MUST NOT use the same keypair as any other log").
   * The caller stores it; see rawSeed() / signerKey() in note.ts to get it out.
   */
  signingKey: KeyObject | Uint8Array;
  /** Longest delay between a commit and a checkpoint covering it. Default 1000 ms. */
  checkpointIntervalMs?: number;
  /** Append every new checkpoint to this file (fsynced), outside the database. */
  witnessFile?: string;
  /** Most events in one transaction. Default 5000. */
  maxBatchSize?: number;
  /**
   * Most events waiting for a commit. Beyond it record() rejects at once (ERR_AUDIT_UNAVAILABLE,
   * so callers fail closed) instead of queueing without bound while the database is slow or
   * down. Default 100000.
   */
  maxPending?: number;
  /** Event time source, epoch milliseconds. Default Date.now. */
  clock?: () => number;
  /** Background failures (timed checkpoints, witness file writes). Default: kept in stats only. */
  onError?: (error: Error) => void;
}

export interface LedgerStats {
  /** Events committed by this instance. */
  events: number;
  /** Batch transactions committed by this instance. */
  transactions: number;
  /** Batch transactions that failed (each rejected all its events). */
  failedTransactions: number;
  /** Checkpoints this instance signed and stored. */
  checkpoints: number;
  /** The last background error, if any. */
  lastError?: Error;
}

interface Pending {
  prepared: PreparedEvent;
  resolve: (event: AuditEvent) => void;
  reject: (error: Error) => void;
}

const DEFAULT_INTERVAL_MS = 1000;
const DEFAULT_MAX_BATCH = 5000;
const DEFAULT_MAX_PENDING = 100_000;

export class Ledger implements AuditSink {
  readonly #driver: SqlDriver;
  readonly #signer: NoteSigner;
  readonly #origin: string;
  readonly #intervalMs: number;
  readonly #maxBatch: number;
  readonly #maxPending: number;
  readonly #witnessFile: string | undefined;
  readonly #clock: () => number;
  readonly #onError: ((error: Error) => void) | undefined;

  #queue: Pending[] = [];
  #flushing: Promise<void> | undefined;
  /** The tree as this instance last committed it; reused when the stored size still matches. */
  #frontier: MerkleFrontier | undefined;
  #timer: NodeJS.Timeout | undefined;
  #checkpointChain: Promise<unknown> = Promise.resolve();
  #closed = false;
  /**
   * The commit loop runs in the async context of the Ledger's creation, not of whichever caller
   * started it: a caller inside its own transaction callback must not make the loop look nested.
   */
  readonly #scope = new AsyncResource('caduceus.audit-ledger');
  readonly #stats: LedgerStats = { events: 0, transactions: 0, failedTransactions: 0, checkpoints: 0 };

  constructor(driver: SqlDriver, options: LedgerOptions) {
    if (typeof options !== 'object' || options === null) throw new AuditError('ERR_AUDIT_INVALID_ARGUMENT', 'Ledger: options are required');
    if (typeof options.origin !== 'string' || !isValidOrigin(options.origin)) {
      throw new AuditError('ERR_AUDIT_INVALID_ARGUMENT', 'Ledger: options.origin must be non-empty, without spaces or "+"');
    }
    const interval = options.checkpointIntervalMs ?? DEFAULT_INTERVAL_MS;
    if (!Number.isSafeInteger(interval) || interval < 1) {
      throw new AuditError('ERR_AUDIT_INVALID_ARGUMENT', 'Ledger: options.checkpointIntervalMs must be a positive integer');
    }
    const maxBatch = options.maxBatchSize ?? DEFAULT_MAX_BATCH;
    if (!Number.isSafeInteger(maxBatch) || maxBatch < 1) {
      throw new AuditError('ERR_AUDIT_INVALID_ARGUMENT', 'Ledger: options.maxBatchSize must be a positive integer');
    }
    const maxPending = options.maxPending ?? DEFAULT_MAX_PENDING;
    if (!Number.isSafeInteger(maxPending) || maxPending < 1) {
      throw new AuditError('ERR_AUDIT_INVALID_ARGUMENT', 'Ledger: options.maxPending must be a positive integer');
    }
    if (options.witnessFile !== undefined && (typeof options.witnessFile !== 'string' || options.witnessFile === '')) {
      throw new AuditError('ERR_AUDIT_INVALID_ARGUMENT', 'Ledger: options.witnessFile must be a file path');
    }
    let signer: NoteSigner;
    try {
      signer = new NoteSigner(options.origin, options.signingKey);
    } catch (err) {
      throw new AuditError('ERR_AUDIT_INVALID_ARGUMENT', `Ledger: options.signingKey: ${(err as Error).message}`, { cause: err });
    }
    this.#driver = driver;
    this.#signer = signer;
    this.#origin = options.origin;
    this.#intervalMs = interval;
    this.#maxBatch = maxBatch;
    this.#maxPending = maxPending;
    this.#witnessFile = options.witnessFile;
    this.#clock = options.clock ?? Date.now;
    this.#onError = options.onError;
  }

  /** The verifier key string (`origin+keyid+base64(0x01 || public key)`) to publish for verifiers. */
  get verifierKey(): string {
    return this.#signer.verifierKey;
  }

  get origin(): string {
    return this.#origin;
  }

  get stats(): Readonly<LedgerStats> {
    return { ...this.#stats };
  }

  /** AuditSink: resolves once the event is committed; rejects (fail closed) otherwise. */
  async record(event: AuditEventInput): Promise<void> {
    await this.append(event);
  }

  /** As record(), resolving the stored event with its seq and time. */
  append(input: AuditEventInput): Promise<AuditEvent> {
    if (this.#closed) return Promise.reject(new InternalError('ERR_AUDIT_UNAVAILABLE', 'audit ledger is closed'));
    if (this.#queue.length >= this.#maxPending) {
      return Promise.reject(new InternalError('ERR_AUDIT_UNAVAILABLE', 'audit ledger: too many events waiting for a commit'));
    }
    let prepared: PreparedEvent;
    try {
      prepared = prepareEvent(input, this.#clock());
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<AuditEvent>((resolve, reject) => {
      this.#queue.push({ prepared, resolve, reject });
      this.#flushing ??= this.#scope.runInAsyncScope(() => this.#flush());
    });
  }

  async #flush(): Promise<void> {
    try {
      // Let every event produced in this turn of the event loop join the first batch: one
      // transaction (and one fsync) for all concurrent requests rather than one for the first.
      await new Promise<void>((resolve) => setImmediate(resolve));
      while (this.#queue.length > 0) {
        await this.#commitBatch();
        // Yield to I/O between batches. better-sqlite3 commits synchronously, so without this a
        // steady stream of producers could keep the loop in microtasks forever, starving timers
        // and sockets; and events arriving from I/O meanwhile join the next batch.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } finally {
      this.#flushing = undefined;
    }
  }

  async #commitBatch(): Promise<void> {
    let batch: Pending[] = [];
    try {
      // Durable (TransactionOptions): the batch, and every write before it, survives power loss.
      const { frontier, rows } = await this.#driver.transaction(async (tx) => {
        // Taken inside the transaction, after the lock: everything that queued meanwhile joins.
        batch = this.#queue.splice(0, this.#maxBatch);
        await lockLedger(tx);
        const next = (await this.#loadFrontier(tx)).clone();
        const events: EventRow[] = [];
        const nodes: NodeRow[] = [];
        const onNode = (level: number, index: number, hash: Buffer): void => void nodes.push({ level, index, hash });
        for (const item of batch) {
          const seq = next.size;
          const json = eventJson(item.prepared, seq);
          next.append(hashLeaf(json), onNode);
          events.push({ seq, json, ...item.prepared.columns });
        }
        await insertEvents(tx, events);
        await insertNodes(tx, nodes);
        return { frontier: next, rows: events };
      }, { durable: true });
      this.#frontier = frontier;
      this.#stats.transactions += 1;
      this.#stats.events += batch.length;
      batch.forEach((item, i) => item.resolve({ ...item.prepared.event, seq: rows[i]!.seq } as AuditEvent));
      this.#armCheckpointTimer();
    } catch (err) {
      this.#frontier = undefined;
      this.#stats.failedTransactions += 1;
      // The transaction may have failed before its callback took the batch.
      if (batch.length === 0) batch = this.#queue.splice(0, this.#maxBatch);
      const error = new InternalError('ERR_AUDIT_UNAVAILABLE', 'audit ledger: the events could not be committed', { cause: err });
      for (const item of batch) item.reject(error);
    }
  }

  /** The stored tree's frontier, read inside the locked transaction (cached while unchanged). */
  async #loadFrontier(tx: SqlExecutor): Promise<MerkleFrontier> {
    const size = await readTreeSize(tx);
    if (this.#frontier?.size === size) return this.#frontier;
    const nodes = await readNodes(tx, frontierRefs(size));
    return MerkleFrontier.fromNodes(size, (ref) => nodes.get(nodeKey(ref.level, ref.index)));
  }

  #armCheckpointTimer(): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.checkpoint().catch((err: unknown) => this.#report(err));
    }, this.#intervalMs);
    this.#timer.unref();
  }

  #report(err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    this.#stats.lastError = error;
    this.#onError?.(error);
  }

  /**
   * Signs and stores a checkpoint of the current tree, unless one of that size exists, and
   * resolves the checkpoint of the current size. A new checkpoint is then appended to the
   * witness file; if that write fails, checkpoint() rejects (the database copy is stored).
   */
  checkpoint(): Promise<SignedCheckpoint> {
    const run = async (): Promise<SignedCheckpoint> => {
      const { checkpoint, created, frontier } = await this.#driver.transaction(async (tx) => {
        await lockLedger(tx);
        const frontier = await this.#loadFrontier(tx);
        const latest = await readLatestCheckpoint(tx);
        const base = { origin: this.#origin, size: frontier.size, rootHash: frontier.root() };
        // C2SP tlog-checkpoint: "A log MUST not sign any checkpoint which is inconsistent with any
        // checkpoint it previously signed." A stored tree behind or beside the latest checkpoint
        // has been tampered with: refuse, and let verifyLedger find where.
        if (latest && (latest.size > frontier.size || (latest.size === frontier.size && !latest.rootHash.equals(base.rootHash)))) {
          throw new AuditError('ERR_AUDIT_INTEGRITY', `audit ledger: the stored tree (size ${frontier.size}) disagrees with the checkpoint of size ${latest.size}; run verifyLedger`);
        }
        if (latest && latest.size === frontier.size) {
          return { checkpoint: { ...base, note: latest.note }, created: false, frontier };
        }
        const note = this.#signer.sign(formatCheckpoint(base));
        const created = await insertCheckpoint(tx, { size: base.size, rootHash: base.rootHash, createdAt: this.#clock(), note });
        return { checkpoint: { ...base, note }, created, frontier };
      }, { durable: true });
      this.#frontier = frontier;
      if (created) {
        this.#stats.checkpoints += 1;
        if (this.#witnessFile) await appendToWitnessFile(this.#witnessFile, checkpoint.note);
      }
      return checkpoint;
    };
    // One at a time, so the witness file gets checkpoints in order.
    const next = this.#checkpointChain.then(run, run);
    this.#checkpointChain = next.catch(() => undefined);
    return next;
  }

  /**
   * Stops accepting events, commits those queued, and (unless checkpoint is false) signs a final
   * checkpoint (RFC 9162 §4.1: a final STH on shutdown). Does not close the driver.
   */
  async close(options: { checkpoint?: boolean } = {}): Promise<void> {
    this.#closed = true;
    while (this.#flushing) await this.#flushing;
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (options.checkpoint !== false) await this.checkpoint();
    else await this.#checkpointChain;
  }
}
