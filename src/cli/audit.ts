// `caduceus audit verify|search|proof|consistency|key|checkpoint|export|disclosures`: the
// tamper-evident audit ledger (src/audit/) from the command line. 45 CFR 164.312(b) audit controls,
// 164.312(c)(1) integrity, 164.528 accounting of disclosures.
//
// Reads that show event contents (search, export, disclosures) are themselves recorded as an
// audit.read event, with the operator as cli:USERNAME, before anything is printed: if the ledger
// cannot record it, nothing is shown (fail closed). verify, proof, consistency, key and checkpoint
// show hashes and signatures only and record nothing; verify never writes to the database, so a
// tampered log is examined as it is.
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import {
  consistencyProof,
  exportCheckpoints,
  exportLedger,
  inclusionProof,
  parseCheckpoint,
  parseVerifierKey,
  searchEvents,
  splitNotes,
  toFhirAuditEvent,
  verifyExport,
  verifyLedger,
  accountingOfDisclosures,
  NoteSigner,
  type AuditEvent,
  type AuditEventInput,
  type Ledger,
  type LedgerVerdict,
} from '../audit/index.js';
import { sixYearsBefore } from '../audit/disclosures.js';
import {
  disclosureEntry,
  disclosuresCsv,
  disclosuresHtml,
  disclosuresJson,
  FilterError,
  filterNames,
  isArgumentError,
  parseCount,
  parseFilters,
  parseInstant,
  type DisclosureReport,
} from '../audit/report.js';
import { checkpointSeed, ledgerOrigin, openAuditSink } from '../audit/sink.js';
import type { CaduceusConfig } from '../config/schema.js';
import { loadMasterKey } from '../crypto/master-key.js';
import { createLogger } from '../ops/logging.js';
import { openStorage } from '../storage/index.js';
import { OPERATOR_DRIVER_OPTIONS } from '../storage/sql.js';
import type { Storage } from '../storage/types.js';
import { parseFlags, requireFlag } from './args.js';
import { cliActor, formatTable, splitSubcommand } from './client.js';
import { resolveConfig } from './context.js';
import { EXIT_FAILURE, EXIT_OK, UsageError, type CliCommand, type CliIo } from './command.js';

const SUBCOMMANDS = ['verify', 'search', 'proof', 'consistency', 'key', 'checkpoint', 'export', 'disclosures'] as const;
type Subcommand = (typeof SUBCOMMANDS)[number];

const TARGET = `  --config FILE   the production configuration (caduceus.yaml)
  --data DIR      the folder of a dev stack (default ./data; usable while "caduceus dev" runs)`;

const HELP: Record<Subcommand, string> = {
  verify: `Usage:
  caduceus audit verify [--config FILE | --data DIR] [--checkpoint FILE…] [--pubkey KEY] [--json]
  caduceus audit verify --export FILE.ndjson --checkpoint FILE… --pubkey KEY [--json]

Recomputes every leaf hash and the whole RFC 9162 Merkle tree from the stored events, checks every
stored tree node, and checks each signed checkpoint (stored, in the witness file audit.witness_file,
and from --checkpoint files): its signature, and that its root is the root of the events at its
size. Prints the verified size and root hash, or the first seq that was altered, removed or
reordered.

With --export the check runs offline, on an export ("caduceus audit export --format ndjson") and
signed checkpoints, with the public key only: no configuration, master key or database is needed.

Options:
  --checkpoint FILE  signed checkpoint notes (one note, or a witness file of several) to check too;
                     repeatable
  --pubkey KEY       the checkpoint verifier key (name+keyid+base64, as "caduceus audit key" prints
                     it), or a file holding it. Default: the key derived from the master key
  --export FILE      verify this NDJSON export offline (needs --checkpoint and --pubkey)
${TARGET}
  --json             print the verdict as JSON
  -h, --help         print this help

Exit status: 0 verified, 1 the ledger was altered (the first bad seq is named) or cannot be read,
2 usage error.
`,
  search: `Usage:
  caduceus audit search [--patient REF] [--actor USER_ID] [--client CLIENT_ID] [--type TYPE…]
                        [--outcome success|denied|error] [--since TIME] [--until TIME]
                        [--limit N] [--before-seq SEQ] [--json]

Prints the events matching every given filter, newest first: a table, or with --json one stored
event per line (NDJSON). TIME is an ISO 8601 date (2025-01-31: the whole UTC day) or date-time with
a zone (2025-01-31T08:00:00Z); --since is inclusive, --until exclusive.

Options:
  --patient REF      FHIR reference of the patient, e.g. Patient/123
  --actor USER_ID    the acting user's id
  --client ID        the acting client's client_id
  --type TYPE…       event type (repeatable, or comma-separated), e.g. phi.accessed
  --outcome OUTCOME  success, denied or error
  --since TIME       events at or after TIME
  --until TIME       events before TIME
  --limit N          at most N events (default 100, at most 10000)
  --before-seq SEQ   only events with a seq below SEQ (the next page)
${TARGET}
  --json             print NDJSON
  -h, --help         print this help

The search is recorded in the ledger (audit.read) with the operator as cli:USERNAME and the names
of the filters used (the patient reference, an identifier, is kept too).
Exit status: 0 done (even with no match), 1 failed, 2 usage error.
`,
  proof: `Usage:
  caduceus audit proof --seq N [--size M] [--json]

Prints the RFC 9162 §2.1.3 inclusion proof that event N is leaf N of the tree of the first M
events (default: every event), with hex hashes: leaf_index, tree_size, leaf_hash, hashes (audit
path, leaf to root) and root_hash. Give the size of a signed checkpoint as M and compare root_hash
with its root hash: then the proof needs no trust in this server.

Options:
  --seq N       the event
  --size M      the tree size (at least N + 1)
${TARGET}
  --json        print the proof as JSON
  -h, --help    print this help

Exit status: 0 done, 1 failed, 2 usage error (including a seq or size beyond the log).
`,
  consistency: `Usage:
  caduceus audit consistency --from A --to B [--json]

Prints the RFC 9162 §2.1.4 consistency proof that the tree of the first A events is a prefix of
the tree of the first B events, with hex hashes: first, second, first_hash, second_hash, hashes.
With A and B the sizes of two signed checkpoints, it shows that nothing before A was changed
between them.

Options:
  --from A      the smaller tree size
  --to B        the larger tree size (at most the number of events)
${TARGET}
  --json        print the proof as JSON
  -h, --help    print this help

Exit status: 0 done, 1 failed, 2 usage error.
`,
  key: `Usage:
  caduceus audit key [--json]

Prints the checkpoint verifier key in the C2SP signed-note format, name+keyid+base64(0x01 ||
Ed25519 public key). Give it to auditors: with it and an export they can verify the log offline
("caduceus audit verify --export"). The private key is derived from the master key and is never
printed.

Options:
${TARGET}
  --json        print {"origin", "key"}
  -h, --help    print this help
`,
  checkpoint: `Usage:
  caduceus audit checkpoint [--json]

Signs a checkpoint of the ledger as it is now (unless one of this size exists), appends it to the
witness file when audit.witness_file is set, and prints the signed note (C2SP tlog-checkpoint:
origin, size and base64 root hash, then the Ed25519 signature line).

Options:
${TARGET}
  --json        print {"origin", "size", "root_hash", "note"}
  -h, --help    print this help

Exit status: 0 done, 1 failed (e.g. the stored tree contradicts an earlier checkpoint: run
"caduceus audit verify"), 2 usage error.
`,
  export: `Usage:
  caduceus audit export --format ndjson|fhir [--out FILE] [--checkpoints FILE]

ndjson  the stored events exactly as hashed (RFC 8785 JSON), one per line in seq order: the input
        of "caduceus audit verify --export".
fhir    one FHIR R4 AuditEvent resource per line (IHE Basic Audit Log Patterns), for a SIEM.

A checkpoint is signed first, and the export stops at its size, so the export and the checkpoint
match even while a server keeps appending.

Options:
  --format FORMAT    ndjson or fhir
  --out FILE         write to FILE (mode 0600) instead of standard output
  --checkpoints FILE write every signed checkpoint the export covers to FILE (ndjson only), for
                     "caduceus audit verify --export … --checkpoint FILE"
${TARGET}
  -h, --help         print this help

The export is recorded in the ledger (audit.read) with the operator as cli:USERNAME.
`,
  disclosures: `Usage:
  caduceus audit disclosures --patient REF [--since TIME] [--until TIME]
                             [--format json|csv|html] [--out FILE]

The HIPAA accounting of disclosures (45 CFR 164.528) for one patient: every recorded release of
the patient's information (phi.accessed events), oldest first, with when, who received it (the
organisation registered for the client, the client and the user), what resource, the purpose of
use or the scope that authorised it, and the outcome. The period defaults to the six years before
--until (default now). The html format is a self-contained printable page for the patient.

Options:
  --patient REF      FHIR reference of the patient, e.g. Patient/123
  --since TIME       start of the period (ISO 8601 date or date-time with a zone)
  --until TIME       end of the period (exclusive; a date alone includes that day)
  --format FORMAT    json (default), csv or html
  --out FILE         write to FILE (mode 0600) instead of standard output
${TARGET}
  -h, --help         print this help

Deciding which entries must be accounted for (treatment, payment and operations are exempt,
164.528(a)(1)(i)) is left to the privacy officer: the purpose column is there for that.
The accounting is recorded in the ledger (audit.read) with the operator as cli:USERNAME.
`,
};

const OVERVIEW = `Usage: caduceus audit <subcommand> [options]

The tamper-evident audit ledger (RFC 9162 Merkle log with signed C2SP checkpoints).

Subcommands:
  verify       recompute the log and check every checkpoint (or verify an export offline)
  search       find events by patient, actor, client, type, outcome and time
  proof        RFC 9162 inclusion proof of one event
  consistency  RFC 9162 consistency proof between two tree sizes
  key          print the checkpoint verifier key
  checkpoint   sign a checkpoint now and print it
  export       export the log as NDJSON or FHIR R4 AuditEvent resources
  disclosures  HIPAA accounting of disclosures for one patient (json, csv, html)

Run "caduceus audit <subcommand> --help" for its options.
Exit status: 0 done, 1 failure or verification failed, 2 usage error.
`;

export const auditCommand: CliCommand = {
  name: 'audit',
  summary: 'verify, search, prove and export the tamper-evident audit ledger',
  help: OVERVIEW,
  async run(argv, io) {
    const { sub, rest } = splitSubcommand(argv, SUBCOMMANDS, 'audit');
    if (sub === undefined) {
      io.stdout(OVERVIEW);
      return EXIT_OK;
    }
    try {
      return await RUN[sub as Subcommand](rest, io);
    } catch (err) {
      if (err instanceof FilterError) throw new UsageError(`${err.message}; see caduceus audit ${sub} --help`);
      throw err;
    }
  },
};

const RUN: Record<Subcommand, (argv: string[], io: CliIo) => Promise<number>> = {
  verify: runVerify,
  search: runSearch,
  proof: runProof,
  consistency: runConsistency,
  key: runKey,
  checkpoint: runCheckpoint,
  export: runExport,
  disclosures: runDisclosures,
};

// ---- the ledger a command works on ------------------------------------------------------------------

interface LedgerTarget {
  config: CaduceusConfig;
  storage: Storage;
  origin: string;
  /** The verifier key of the checkpoint key derived from the master key (src/audit/sink.ts). */
  verifierKey: string;
  /** The server's ledger on this database, opened on first use (for commands that write). */
  ledger(): Promise<Ledger>;
  /** Closes the ledger (signing a checkpoint if it recorded anything) and the storage. */
  close(): Promise<void>;
}

async function derivedKey(config: CaduceusConfig, io: CliIo): Promise<{ origin: string; verifierKey: string; seed: Buffer }> {
  const masterKey = loadMasterKey({ env: io.env, file: config.master_key_file });
  const origin = ledgerOrigin(config);
  const seed = checkpointSeed(masterKey);
  return { origin, seed, verifierKey: new NoteSigner(origin, seed).verifierKey };
}

async function openTarget(flags: { config?: string; data?: string }, io: CliIo): Promise<LedgerTarget> {
  const config = await resolveConfig(flags, io);
  const masterKey = loadMasterKey({ env: io.env, file: config.master_key_file });
  const origin = ledgerOrigin(config);
  const verifierKey = new NoteSigner(origin, checkpointSeed(masterKey)).verifierKey;
  const storage = await openStorage(config.storage, { driver: OPERATOR_DRIVER_OPTIONS });
  let ledger: Ledger | undefined;
  return {
    config,
    storage,
    origin,
    verifierKey,
    async ledger() {
      // Background failures of the ledger (timed checkpoints) as structured lines on stderr.
      ledger ??= await openAuditSink(storage.sql, config, masterKey, Date.now, createLogger());
      return ledger;
    },
    async close() {
      try {
        await ledger?.close();
      } finally {
        await storage.close();
      }
    },
  };
}

async function withTarget(flags: { config?: string; data?: string }, io: CliIo, fn: (target: LedgerTarget) => Promise<number>): Promise<number> {
  const target = await openTarget(flags, io);
  try {
    return await fn(target);
  } finally {
    await target.close();
  }
}

/** Records the operator's read of the audit log; rejects (and nothing is shown) when it cannot. */
async function recordRead(target: LedgerTarget, event: Pick<AuditEventInput, 'action' | 'patient' | 'details'>): Promise<void> {
  const ledger = await target.ledger();
  await ledger.record({ type: 'audit.read', actor: { userId: cliActor() }, outcome: 'success', resource: 'audit_events', ...event, details: { via: 'cli', ...event.details } });
}

/** Output to --out FILE (created with mode 0600: audit data is sensitive) or standard output. */
async function openOutput(file: string | undefined, io: CliIo): Promise<{ write(text: string): Promise<void>; close(): Promise<void> }> {
  if (file === undefined) return { write: async (text) => io.stdout(text), close: async () => undefined };
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file, 'w', 0o600);
  } catch (err) {
    throw new UsageError(`--out ${file}: cannot write the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return {
    write: async (text) => void (await handle.write(text)),
    close: () => handle.close(),
  };
}

function readTextFile(file: string, flag: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`--${flag} ${file}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/** A verifier key given inline, or a file whose first non-empty line is one. */
function readPubkey(value: string): string {
  const candidate = value.includes('+') ? value : (readTextFile(value, 'pubkey').split('\n').map((l) => l.trim()).find((l) => l !== '') ?? '');
  try {
    parseVerifierKey(candidate);
  } catch (err) {
    throw new UsageError(`--pubkey: ${(err as Error).message} (print it with "caduceus audit key")`);
  }
  return candidate;
}

const hex = (b: Buffer): string => b.toString('hex');

// ---- verify ------------------------------------------------------------------------------------------

async function runVerify(argv: string[], io: CliIo): Promise<number> {
  const { values } = parseFlags(argv, {
    checkpoint: { type: 'string', multiple: true },
    pubkey: { type: 'string' },
    export: { type: 'string' },
  });
  if (values.help) {
    io.stdout(HELP.verify);
    return EXIT_OK;
  }
  const extraNotes = (values.checkpoint ?? []).flatMap((file) => splitNotes(readTextFile(file, 'checkpoint')));
  const pubkey = values.pubkey === undefined ? undefined : readPubkey(values.pubkey);

  if (values.export !== undefined) {
    if (values.config !== undefined || values.data !== undefined) {
      throw new UsageError('--export verifies offline from the export, checkpoints and public key: drop --config/--data');
    }
    const key = requireFlag(pubkey, 'pubkey', 'the verifier key printed by "caduceus audit key" (name+keyid+base64)');
    if (extraNotes.length === 0) {
      throw new UsageError('--checkpoint FILE is required with --export: a signed checkpoint (from "caduceus audit checkpoint" or "caduceus audit export --checkpoints FILE"); without one nothing is proven');
    }
    try {
      if (!statSync(values.export).isFile()) throw new Error('not a file');
    } catch {
      throw new UsageError(`--export ${values.export}: not a readable file`);
    }
    const lines = createInterface({ input: createReadStream(values.export, 'utf8'), crlfDelay: Infinity });
    const verdict = await verifyExport(lines, extraNotes, key);
    return reportVerdict(verdict, io, values.json === true, key);
  }

  const config = await resolveConfig(values, io);
  const derived = pubkey === undefined ? await derivedKey(config, io) : undefined;
  const witness = [...readWitness(config), ...extraNotes];
  // No migration: verify examines the database as it is and writes nothing.
  const storage = await openStorage(config.storage, { migrate: false, driver: OPERATOR_DRIVER_OPTIONS });
  try {
    const options = {
      publicKey: pubkey ?? derived!.verifierKey,
      // With the derived key the origin is known too; a --pubkey may name another origin.
      ...(derived ? { origin: derived.origin } : {}),
      witness,
    };
    const verdict = await verifyLedger(storage.sql, options);
    return reportVerdict(verdict, io, values.json === true, pubkey ?? derived!.verifierKey);
  } finally {
    await storage.close();
  }
}

/** The witness file's checkpoints; none yet when the file does not exist. */
function readWitness(config: CaduceusConfig): string[] {
  const file = config.audit.witness_file;
  if (!file) return [];
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new UsageError(`audit.witness_file ${file}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return splitNotes(text);
}

function reportVerdict(verdict: LedgerVerdict, io: CliIo, json: boolean, key: string): number {
  if (json) {
    io.stdout(`${JSON.stringify(verdict.ok
      ? { ok: true, size: verdict.size, root_hash: verdict.rootHash, checkpoints: verdict.checkpoints, checkpointed_size: verdict.checkpointedSize, signatures_checked: verdict.signaturesChecked, key }
      : { ok: false, first_bad_seq: verdict.firstBadSeq, code: verdict.code, reason: verdict.reason })}\n`);
    return verdict.ok ? EXIT_OK : EXIT_FAILURE;
  }
  if (!verdict.ok) {
    io.stdout(`audit ledger verification FAILED: first bad seq ${verdict.firstBadSeq} (${verdict.code})\n  ${verdict.reason}\n`);
    return EXIT_FAILURE;
  }
  const uncovered = verdict.size - verdict.checkpointedSize;
  io.stdout(`audit ledger verified: size ${verdict.size}, root ${verdict.rootHash}
  checkpoints: ${verdict.checkpoints} verified with ${key}
${uncovered > 0
    ? `  events from seq ${verdict.checkpointedSize} to ${verdict.size - 1} are not covered by a signed checkpoint yet (only as trustworthy as the database)\n`
    : `  every event is covered by a signed checkpoint\n`}`);
  return EXIT_OK;
}

// ---- search ------------------------------------------------------------------------------------------

async function runSearch(argv: string[], io: CliIo): Promise<number> {
  const { values } = parseFlags(argv, {
    patient: { type: 'string' },
    actor: { type: 'string' },
    client: { type: 'string' },
    type: { type: 'string', multiple: true },
    outcome: { type: 'string' },
    since: { type: 'string' },
    until: { type: 'string' },
    limit: { type: 'string' },
    'before-seq': { type: 'string' },
  });
  if (values.help) {
    io.stdout(HELP.search);
    return EXIT_OK;
  }
  const filters = parseFilters({ ...values, before_seq: values['before-seq'] }, '--');
  return withTarget(values, io, async (target) => {
    const events = await searchEvents(target.storage.sql, filters);
    await recordRead(target, {
      action: 'search',
      ...(filters.patient !== undefined ? { patient: filters.patient } : {}),
      details: { filters: filterNames(filters), results: events.length },
    });
    if (values.json) {
      io.stdout(events.map((e) => `${JSON.stringify(e)}\n`).join(''));
    } else if (events.length === 0) {
      io.stdout('No events match.\n');
    } else {
      const rows = events.map((e) => [
        String(e.seq), new Date(e.time).toISOString(), e.type, e.outcome, e.actor.userId ?? '-', e.actor.clientId ?? '-', e.patient ?? '-', e.resource ?? '-',
      ]);
      io.stdout(formatTable(['SEQ', 'TIME', 'TYPE', 'OUTCOME', 'USER', 'CLIENT', 'PATIENT', 'RESOURCE'], rows));
    }
    return EXIT_OK;
  });
}

// ---- proofs ------------------------------------------------------------------------------------------

/** A seq or size beyond the log is the caller's mistake: a usage error naming the flag. */
function flagArgumentError(err: unknown, flags: Record<string, string>): never {
  if (isArgumentError(err)) {
    const [name] = /^\w+/.exec(err.message) ?? [''];
    throw new UsageError(`--${flags[name] ?? name}${err.message.slice(name.length)}`);
  }
  throw err;
}

async function runProof(argv: string[], io: CliIo): Promise<number> {
  const { values } = parseFlags(argv, { seq: { type: 'string' }, size: { type: 'string' } });
  if (values.help) {
    io.stdout(HELP.proof);
    return EXIT_OK;
  }
  const seq = parseCount(requireFlag(values.seq, 'seq', 'the event to prove, e.g. --seq 42'), '--seq', 0);
  const size = values.size === undefined ? undefined : parseCount(values.size, '--size', 1);
  return withTarget(values, io, async (target) => {
    const proof = await inclusionProof(target.storage.sql, seq, size).catch((err: unknown) => flagArgumentError(err, { seq: 'seq', size: 'size' }));
    if (values.json) {
      io.stdout(`${JSON.stringify(proof)}\n`);
      return EXIT_OK;
    }
    const checkpoint = await checkpointOfSize(target, proof.tree_size);
    io.stdout(`Inclusion proof (RFC 9162 §2.1.3) of event ${proof.leaf_index} in the tree of ${proof.tree_size} events
  leaf_hash: ${proof.leaf_hash}
  root_hash: ${proof.root_hash}
  hashes:${proof.hashes.length ? proof.hashes.map((h) => `\n    ${h}`).join('') : ' (none)'}
  ${checkpoint ? `signed checkpoint of size ${proof.tree_size}: root ${checkpoint === proof.root_hash ? 'matches' : 'DIFFERS'}` : `no signed checkpoint of size ${proof.tree_size}: use --size with a checkpoint's size to tie the proof to a signature`}
`);
    return EXIT_OK;
  });
}

/** The hex root of the stored checkpoint of exactly this size, if any. */
async function checkpointOfSize(target: LedgerTarget, size: number): Promise<string | undefined> {
  const row = await target.storage.sql.get<{ root_hash: Buffer }>('SELECT root_hash FROM audit_checkpoints WHERE tree_size = $1', [size]);
  return row ? hex(Buffer.from(row.root_hash)) : undefined;
}

async function runConsistency(argv: string[], io: CliIo): Promise<number> {
  const { values } = parseFlags(argv, { from: { type: 'string' }, to: { type: 'string' } });
  if (values.help) {
    io.stdout(HELP.consistency);
    return EXIT_OK;
  }
  const from = parseCount(requireFlag(values.from, 'from', 'the smaller tree size, e.g. --from 100'), '--from', 0);
  const to = parseCount(requireFlag(values.to, 'to', 'the larger tree size, e.g. --to 200'), '--to', 0);
  if (from > to) throw new UsageError('--from must not be greater than --to');
  return withTarget(values, io, async (target) => {
    const proof = await consistencyProof(target.storage.sql, from, to).catch((err: unknown) => flagArgumentError(err, { first: 'from', second: 'to' }));
    if (values.json) {
      io.stdout(`${JSON.stringify(proof)}\n`);
      return EXIT_OK;
    }
    io.stdout(`Consistency proof (RFC 9162 §2.1.4) from tree size ${proof.first} to ${proof.second}
  first_hash:  ${proof.first_hash}
  second_hash: ${proof.second_hash}
  hashes:${proof.hashes.length ? proof.hashes.map((h) => `\n    ${h}`).join('') : ' (none)'}
`);
    return EXIT_OK;
  });
}

// ---- key and checkpoint ------------------------------------------------------------------------------

async function runKey(argv: string[], io: CliIo): Promise<number> {
  const { values } = parseFlags(argv, {});
  if (values.help) {
    io.stdout(HELP.key);
    return EXIT_OK;
  }
  const { origin, verifierKey } = await derivedKey(await resolveConfig(values, io), io);
  io.stdout(values.json ? `${JSON.stringify({ origin, key: verifierKey })}\n` : `${verifierKey}\n`);
  return EXIT_OK;
}

async function runCheckpoint(argv: string[], io: CliIo): Promise<number> {
  const { values } = parseFlags(argv, {});
  if (values.help) {
    io.stdout(HELP.checkpoint);
    return EXIT_OK;
  }
  return withTarget(values, io, async (target) => {
    const checkpoint = await (await target.ledger()).checkpoint();
    io.stdout(values.json
      ? `${JSON.stringify({ origin: checkpoint.origin, size: checkpoint.size, root_hash: hex(checkpoint.rootHash), note: checkpoint.note })}\n`
      : checkpoint.note);
    return EXIT_OK;
  });
}

// ---- export ------------------------------------------------------------------------------------------

const FORMATS = ['ndjson', 'fhir'] as const;

async function runExport(argv: string[], io: CliIo): Promise<number> {
  const { values } = parseFlags(argv, { format: { type: 'string' }, out: { type: 'string' }, checkpoints: { type: 'string' } });
  if (values.help) {
    io.stdout(HELP.export);
    return EXIT_OK;
  }
  const format = requireFlag(values.format, 'format', 'ndjson (the log, for "audit verify --export") or fhir (FHIR R4 AuditEvent resources)');
  if (!(FORMATS as readonly string[]).includes(format)) throw new UsageError(`--format ${format}: use ndjson or fhir`);
  if (values.checkpoints !== undefined && format !== 'ndjson') throw new UsageError('--checkpoints only applies to --format ndjson');
  return withTarget(values, io, async (target) => {
    await recordRead(target, { action: 'export', details: { format } });
    // Sign first, export up to that size: the export and its checkpoint match.
    const checkpoint = await (await target.ledger()).checkpoint();
    const size = checkpoint.size;
    const fhirOptions = { issuer: target.config.issuer, serverAddress: new URL(target.config.issuer).hostname, source: { site: target.origin } };
    const out = await openOutput(values.out, io);
    let count = 0;
    try {
      let chunk = '';
      for await (const line of exportLedger(target.storage.sql)) {
        if (count >= size) break;
        chunk += format === 'ndjson' ? `${line}\n` : `${JSON.stringify(toFhirAuditEvent(JSON.parse(line) as AuditEvent, fhirOptions))}\n`;
        count += 1;
        if (chunk.length >= 1 << 20) {
          await out.write(chunk);
          chunk = '';
        }
      }
      if (chunk) await out.write(chunk);
    } finally {
      await out.close();
    }
    if (values.checkpoints !== undefined) {
      const notes = (await exportCheckpoints(target.storage.sql)).filter((note) => noteSize(note) <= size);
      const file = await openOutput(values.checkpoints, io);
      try {
        await file.write(notes.map((n) => `${n}\n`).join(''));
      } finally {
        await file.close();
      }
    }
    if (values.out !== undefined) {
      io.stdout(`Exported ${count} events (${format}) to ${values.out}, up to the checkpoint of size ${size}:\n${checkpoint.note}`);
    }
    return EXIT_OK;
  });
}

function noteSize(note: string): number {
  return parseCheckpoint(note.slice(0, note.lastIndexOf('\n\n') + 1)).size;
}

// ---- disclosures -------------------------------------------------------------------------------------

const REPORT_FORMATS = ['json', 'csv', 'html'] as const;

async function runDisclosures(argv: string[], io: CliIo): Promise<number> {
  const { values } = parseFlags(argv, {
    patient: { type: 'string' },
    since: { type: 'string' },
    until: { type: 'string' },
    format: { type: 'string' },
    out: { type: 'string' },
  });
  if (values.help) {
    io.stdout(HELP.disclosures);
    return EXIT_OK;
  }
  const patient = requireFlag(values.patient, 'patient', 'the FHIR reference of the patient, e.g. --patient Patient/123');
  const format = values.format ?? 'json';
  if (!(REPORT_FORMATS as readonly string[]).includes(format)) throw new UsageError(`--format ${format}: use json, csv or html`);
  const until = values.until === undefined ? Date.now() : parseInstant(values.until, 'until', '--until');
  const since = values.since === undefined ? sixYearsBefore(until) : parseInstant(values.since, 'since', '--since');
  if (until <= since) throw new UsageError('--until must be after --since');
  return withTarget(values, io, async (target) => {
    const rows = await accountingOfDisclosures(target.storage.sql, patient, since, until);
    const names = new Map<string, string | null>();
    const entries = [];
    for (const row of rows) {
      if (row.clientId !== null && !names.has(row.clientId)) names.set(row.clientId, (await target.storage.clients.get(row.clientId))?.name ?? null);
      entries.push(disclosureEntry(row, row.clientId === null ? null : names.get(row.clientId) ?? null));
    }
    const used = ['patient', ...(values.since !== undefined ? ['since'] : []), ...(values.until !== undefined ? ['until'] : [])];
    await recordRead(target, { action: 'disclosures', patient, details: { filters: used.join(','), results: entries.length, format } });
    const report: DisclosureReport = {
      patient,
      since: new Date(since).toISOString(),
      until: new Date(until).toISOString(),
      generated: new Date().toISOString(),
      covered_entity: new URL(target.config.issuer).host,
      disclosures: entries,
    };
    const text = format === 'csv' ? disclosuresCsv(report) : format === 'html' ? disclosuresHtml(report) : disclosuresJson(report);
    const out = await openOutput(values.out, io);
    try {
      await out.write(text);
    } finally {
      await out.close();
    }
    if (values.out !== undefined) io.stdout(`Wrote the accounting of ${entries.length} disclosure(s) for ${patient} to ${values.out}\n`);
    return EXIT_OK;
  });
}
