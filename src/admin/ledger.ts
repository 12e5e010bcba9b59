// The audit ledger as an administrator reads it, one implementation for the admin console
// (src/admin/console/audit.ts) and the admin API (src/admin/api/audit.ts): search with keyset
// paging, one event with its RFC 9162 inclusion proof checked against the signed checkpoint, the
// export of a search as NDJSON or FHIR AuditEvent, the accounting of disclosures of one patient
// (45 CFR 164.528), and the verification of the whole ledger.
//
// 45 CFR 164.312(b) audit controls: every read is itself an audit.read event with the
// administrator (or API client) as actor, recorded before anything is shown (ctx.audit fails
// closed, so a read the ledger cannot record shows nothing). Like src/audit-api/routes.ts, the
// event names the filters used, never their values (an actor or client id can identify a person),
// and carries the patient reference, an identifier, in its own `patient` member, so that "who
// looked at this patient's trail" is itself searchable.
//
// Every query is indexed and bounded: searchEvents by an indexed column with LIMIT and a seq
// cursor, a proof in O(log n) nodes, an export page by page, the verification page by page with
// the event loop free between pages (src/audit/verify.ts).
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { AppContext } from '../context/app-context.js';
import { openCheckpoint, splitNotes } from '../audit/checkpoint.js';
import { accountingOfDisclosures, sixYearsBefore } from '../audit/disclosures.js';
import type { AuditActor, AuditEvent, AuditOutcome } from '../audit/events.js';
import { toFhirAuditEvent } from '../audit/fhir.js';
import { readEventPage } from '../audit/ledger-store.js';
import { hashLeaf } from '../audit/merkle.js';
import { NoteSigner } from '../audit/note.js';
import { verifyInclusionProof, type InclusionProof } from '../audit/proof-verify.js';
import { inclusionProof, latestCheckpoint } from '../audit/proofs.js';
import {
  disclosureEntry, disclosuresCsv, disclosuresHtml, disclosuresJson, filterNames, FilterError, parseFilters, parseInstant, type DisclosureReport, type FilterText,
} from '../audit/report.js';
import { searchEvents, type EventFilters } from '../audit/search.js';
import { checkpointSeed, ledgerOrigin } from '../audit/sink.js';
import { verifyLedger, type LedgerVerdict } from '../audit/verify.js';
import { FHIR_ID, FHIR_ID_SOURCE } from '../util/fhir-id.js';

export { FilterError } from '../audit/report.js';

/** Who reads the ledger, as its audit.read events name them. */
export interface LedgerReader {
  /** The administrator's user id, or `client:<client_id>` for the admin API. */
  actor: string;
  via: 'console' | 'api';
  requestId: string;
  sourceAddress: string;
  /** The admin API token's jti. */
  jti?: string;
}

/**
 * The ledger actor of an admin service's `actor`: the administrator's user id, or for the admin
 * API `client:<id>` as userId (as the other admin services record it) with the client id too, so
 * that a search by client finds the API's reads.
 */
export function ledgerActor(actor: string): AuditActor {
  return actor.startsWith('client:') ? { userId: actor, clientId: actor.slice('client:'.length) } : { userId: actor };
}

/** Records one read of the ledger (audit.read); rejects when the ledger cannot record it. */
export function recordLedgerRead(
  ctx: Pick<AppContext, 'audit'>,
  reader: LedgerReader,
  read: { action: string; resource: string; patient?: string; outcome?: AuditOutcome; reason?: string; details?: Record<string, string | number | boolean>; type?: 'audit.read' | 'audit.verified' },
): Promise<void> {
  return ctx.audit.record({
    type: read.type ?? 'audit.read', actor: ledgerActor(reader.actor), outcome: read.outcome ?? 'success', action: read.action, resource: read.resource,
    ...(read.patient !== undefined ? { patient: read.patient } : {}),
    ...(read.reason !== undefined ? { reason: read.reason } : {}),
    ...(reader.jti !== undefined ? { jti: reader.jti } : {}),
    requestId: reader.requestId, sourceAddress: reader.sourceAddress,
    details: { [reader.via]: 'admin', ...read.details },
  });
}

// ---- reading filters -------------------------------------------------------------------------------

/**
 * Search filters as text, as a form or a query string gives them (src/audit/report.ts FilterText);
 * empty values mean "not set", and `actor` may be a username as well as a ledger actor id.
 */
export type SearchText = FilterText;

const PATIENT_REFERENCE = new RegExp(`^Patient/${FHIR_ID_SOURCE}$`);

/** "123" or "Patient/123" as the reference the gateway records ("Patient/123"); FilterError otherwise. */
export function patientReference(text: string, parameter = 'patient'): string {
  const value = text.trim();
  if (FHIR_ID.test(value)) return `Patient/${value}`;
  if (PATIENT_REFERENCE.test(value)) return value;
  throw new FilterError(parameter, `${parameter}: enter a patient id or reference, such as 123 or Patient/123`);
}

const blankToUndefined = (value: string | undefined): string | undefined => (value === undefined || value.trim() === '' ? undefined : value.trim());

/**
 * Reads search filters (src/audit/report.ts parseFilters: each FilterError names its field). The
 * actor is a username when one matches, otherwise taken as the ledger's actor id.
 */
export async function readSearch(ctx: Pick<AppContext, 'storage'>, text: SearchText): Promise<EventFilters> {
  const patient = blankToUndefined(text.patient);
  const actor = blankToUndefined(text.actor);
  const types = (text.type ?? []).map((t) => t.trim()).filter((t) => t !== '');
  const filters = parseFilters({
    ...(patient !== undefined ? { patient: patientReference(patient) } : {}),
    ...(actor !== undefined ? { actor } : {}),
    ...optional('client', text.client), ...optional('outcome', text.outcome), ...optional('since', text.since), ...optional('until', text.until),
    ...optional('before_seq', text.before_seq), ...optional('limit', text.limit),
    ...(types.length > 0 ? { type: types } : {}),
  });
  if (filters.actor !== undefined) {
    const user = await ctx.storage.users.getByUsername(filters.actor);
    if (user) filters.actor = user.id;
  }
  return filters;
}

function optional<K extends string>(name: K, value: string | undefined): Partial<Record<K, string>> {
  const v = blankToUndefined(value);
  return v === undefined ? {} : ({ [name]: v } as Record<K, string>);
}

// ---- search ----------------------------------------------------------------------------------------

export interface SearchPage {
  events: AuditEvent[];
  /** The cursor of the next (older) page, when this one was full. */
  nextBeforeSeq?: number;
}

/** One page of events matching the filters, newest first; the read is recorded first. */
export async function searchLedger(ctx: Pick<AppContext, 'storage' | 'audit'>, reader: LedgerReader, filters: EventFilters & { limit: number }, resource: string): Promise<SearchPage> {
  const events = await searchEvents(ctx.storage.sql, filters);
  await recordLedgerRead(ctx, reader, {
    action: 'search', resource, ...(filters.patient !== undefined ? { patient: filters.patient } : {}),
    details: { filters: filterNames(filters), results: events.length },
  });
  return { events, ...(events.length === filters.limit && events.length > 0 ? { nextBeforeSeq: events[events.length - 1]!.seq } : {}) };
}

// ---- one event and its inclusion proof ---------------------------------------------------------------

export interface CheckpointSummary {
  size: number;
  /** When it was signed (epoch ms). */
  createdAt: number;
  /** Hex root hash, from the signed note. */
  rootHash: string;
}

/** RFC 9162 §2.1.3.2 check of one event against the latest signed checkpoint. */
export type InclusionCheck =
  | { state: 'verified'; checkpoint: CheckpointSummary; proof: InclusionProof }
  | { state: 'failed'; problem: string; checkpoint?: CheckpointSummary; proof?: InclusionProof }
  /** The event is newer than the latest signed checkpoint (one is signed within audit.checkpoint_interval_ms). */
  | { state: 'not_covered'; checkpointSize: number | null };

export interface EventWithProof {
  event: AuditEvent;
  inclusion: InclusionCheck;
}

/**
 * The event `seq` and its inclusion proof in the tree of the latest signed checkpoint, checked
 * here: the checkpoint's signature with the ledger's key and origin, the leaf as the hash of the
 * event's stored text (so the event shown is the event proven), and the audit path up to the
 * signed root. Resolves undefined when there is no such event (nothing shown, nothing recorded).
 */
export async function readLedgerEvent(ctx: Pick<AppContext, 'storage' | 'audit' | 'config' | 'masterKey'>, reader: LedgerReader, seq: number, resource: string): Promise<EventWithProof | undefined> {
  const sql = ctx.storage.sql;
  const row = (await readEventPage(sql, seq, 1))[0];
  if (!row || row.seq !== seq) return undefined;
  const event = JSON.parse(row.json) as AuditEvent;
  await recordLedgerRead(ctx, reader, { action: 'event', resource, ...(event.patient !== undefined ? { patient: event.patient } : {}), details: { seq } });
  return { event, inclusion: await checkInclusion(ctx, seq, row.json) };
}

async function checkInclusion(ctx: Pick<AppContext, 'storage' | 'config' | 'masterKey'>, seq: number, json: string): Promise<InclusionCheck> {
  const sql = ctx.storage.sql;
  const stored = await latestCheckpoint(sql);
  if (!stored || seq >= stored.size) return { state: 'not_covered', checkpointSize: stored?.size ?? null };
  const origin = ledgerOrigin(ctx.config);
  let opened;
  try {
    opened = openCheckpoint(stored.note, new NoteSigner(origin, checkpointSeed(ctx.masterKey)).verifier, { origin });
  } catch (err) {
    return { state: 'failed', problem: `the latest checkpoint does not verify with this ledger's key: ${(err as Error).message}` };
  }
  const checkpoint: CheckpointSummary = { size: opened.size, createdAt: stored.createdAt, rootHash: opened.rootHash.toString('hex') };
  const proof = await inclusionProof(sql, seq, opened.size);
  const leaf = hashLeaf(json).toString('hex');
  if (leaf !== proof.leaf_hash) {
    return { state: 'failed', checkpoint, proof, problem: 'the event\'s stored text does not hash to the leaf stored for it: the event was changed after it was recorded' };
  }
  const verdict = verifyInclusionProof(proof, opened.rootHash);
  return verdict.ok ? { state: 'verified', checkpoint, proof } : { state: 'failed', checkpoint, proof, problem: verdict.error.message };
}

// ---- export ------------------------------------------------------------------------------------------

export type ExportFormat = 'ndjson' | 'fhir';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['ndjson', 'fhir'];

/** Content type and file name of an export. */
export function exportFile(format: ExportFormat, now: number): { contentType: string; filename: string } {
  const day = new Date(now).toISOString().slice(0, 10);
  return format === 'fhir'
    ? { contentType: 'application/fhir+ndjson', filename: `caduceus-audit-${day}.fhir.ndjson` }
    : { contentType: 'application/x-ndjson', filename: `caduceus-audit-${day}.ndjson` };
}

const EXPORT_PAGE = 1000;

/**
 * Every event matching the filters (limit and before_seq are ignored), newest first, as NDJSON
 * lines: the stored event, or one FHIR R4 AuditEvent resource (IHE BALP, src/audit/fhir.ts) per
 * line. The export is recorded before the first line; it is then streamed page by page (each page
 * an indexed, bounded query), giving the event loop a turn between pages, so memory stays flat and
 * the server keeps answering whatever the size.
 */
export async function exportLedgerSearch(
  ctx: Pick<AppContext, 'storage' | 'audit' | 'config'>, reader: LedgerReader, filters: EventFilters, format: ExportFormat, resource: string,
): Promise<AsyncGenerator<string>> {
  const { beforeSeq: _cursor, limit: _limit, ...matching } = filters;
  await recordLedgerRead(ctx, reader, {
    action: 'export', resource, ...(matching.patient !== undefined ? { patient: matching.patient } : {}),
    details: { format, filters: filterNames(matching) },
  });
  const fhirOptions = { issuer: ctx.config.issuer, serverAddress: new URL(ctx.config.issuer).hostname, source: { site: ledgerOrigin(ctx.config) } };
  const sql = ctx.storage.sql;
  return (async function* lines() {
    for (let beforeSeq: number | undefined; ;) {
      const page = await searchEvents(sql, { ...matching, limit: EXPORT_PAGE, ...(beforeSeq !== undefined ? { beforeSeq } : {}) });
      if (page.length > 0) yield page.map((e) => `${JSON.stringify(format === 'fhir' ? toFhirAuditEvent(e, fhirOptions) : e)}\n`).join('');
      if (page.length < EXPORT_PAGE) return;
      beforeSeq = page[page.length - 1]!.seq;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  })();
}

// ---- accounting of disclosures (45 CFR 164.528) ----------------------------------------------------

export type DisclosureFormat = 'html' | 'csv' | 'json';

export interface DisclosureRequest {
  patient: string;
  since: number;
  until: number;
  /** Which of since and until were given (for the read's filter names). */
  given: string[];
}

/** Reads patient, since and until (default: the six years before now, 164.528(a)(1)); FilterError names the field. */
export function readDisclosureRequest(text: { patient?: string; since?: string; until?: string }, now: number): DisclosureRequest {
  const patientText = blankToUndefined(text.patient);
  if (patientText === undefined) throw new FilterError('patient', 'patient: enter the patient whose disclosures to account for, such as Patient/123');
  const patient = patientReference(patientText);
  const sinceText = blankToUndefined(text.since);
  const untilText = blankToUndefined(text.until);
  const until = untilText === undefined ? now : parseInstant(untilText, 'until');
  const since = sinceText === undefined ? sixYearsBefore(until) : parseInstant(sinceText, 'since');
  if (until <= since) throw new FilterError('until', 'until must be after since');
  return { patient, since, until, given: [...(sinceText !== undefined ? ['since'] : []), ...(untilText !== undefined ? ['until'] : [])] };
}

/**
 * The accounting of disclosures of one patient over the period, with each recipient's
 * organisation (the registered client's name). The read is recorded first, naming the patient.
 */
export async function disclosureReport(
  ctx: Pick<AppContext, 'storage' | 'audit' | 'config' | 'now'>, reader: LedgerReader, request: DisclosureRequest, format: DisclosureFormat, resource: string,
): Promise<DisclosureReport> {
  const rows = await accountingOfDisclosures(ctx.storage.sql, request.patient, request.since, request.until);
  const names = new Map<string, string | null>();
  for (const row of rows) {
    if (row.clientId !== null && !names.has(row.clientId)) names.set(row.clientId, (await ctx.storage.clients.get(row.clientId))?.name ?? null);
  }
  await recordLedgerRead(ctx, reader, {
    action: 'disclosures', resource, patient: request.patient,
    details: { filters: ['patient', ...request.given].join(','), results: rows.length, format },
  });
  return {
    patient: request.patient,
    since: new Date(request.since).toISOString(),
    until: new Date(request.until).toISOString(),
    generated: new Date(ctx.now()).toISOString(),
    covered_entity: new URL(ctx.config.issuer).host,
    disclosures: rows.map((row) => disclosureEntry(row, row.clientId === null ? null : names.get(row.clientId) ?? null)),
  };
}

/** The accounting as a file: CSV (RFC 4180), the patient's printable HTML page, or JSON. */
export function disclosureFile(report: DisclosureReport, format: DisclosureFormat): { body: string; contentType: string; filename: string } {
  const name = `disclosures-${report.patient.replace(/^Patient\//, '')}-${report.generated.slice(0, 10)}`;
  if (format === 'csv') return { body: disclosuresCsv(report), contentType: 'text/csv; charset=utf-8', filename: `${name}.csv` };
  if (format === 'json') return { body: disclosuresJson(report), contentType: 'application/json; charset=utf-8', filename: `${name}.json` };
  return { body: disclosuresHtml(report), contentType: 'text/html; charset=utf-8', filename: `${name}.html` };
}

export const DISCLOSURE_FORMATS: readonly DisclosureFormat[] = ['html', 'csv', 'json'];

// ---- verification -------------------------------------------------------------------------------------

/**
 * verifyLedger over the whole ledger with what `caduceus check` uses: the ledger's own verifier key
 * (derived from the master key, src/audit/sink.ts), its origin, and the witness file's checkpoints
 * (a missing file counts as none). Progress goes to onProgress after each page.
 */
export async function verifyWholeLedger(
  ctx: Pick<AppContext, 'storage' | 'config' | 'masterKey'>, onProgress?: (progress: { checked: number; total: number }) => void,
): Promise<LedgerVerdict> {
  const origin = ledgerOrigin(ctx.config);
  const witnessFile = ctx.config.audit.witness_file;
  const witness = witnessFile && existsSync(witnessFile) ? splitNotes(await readFile(witnessFile, 'utf8')) : [];
  const publicKey = new NoteSigner(origin, checkpointSeed(ctx.masterKey)).verifierKey;
  return verifyLedger(ctx.storage.sql, { publicKey, origin, witness, ...(onProgress ? { onProgress } : {}) });
}
