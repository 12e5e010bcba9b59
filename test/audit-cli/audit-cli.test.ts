// `caduceus audit …` in-process (test/cli/harness.ts) on a dev-stack data folder: verification of
// the database and of an offline export, tamper detection naming the first bad seq, RFC 9162 proofs
// cross-checked with the library verifiers and with a naive independent implementation, search,
// the audit.read event every read leaves, the accounting of disclosures, and the verifier key.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCheckpointKey, openCheckpoint, searchEvents, verifierKey, verifyConsistencyProof, verifyInclusionProof, type AuditEvent, type ConsistencyProof, type InclusionProof } from '../../src/audit/index.js';
import { openStorage } from '../../src/storage/index.js';
import { runCli } from '../cli/harness.js';
import { CLINIC_ID, CLINIC_NAME, dataDirWithEvents, DAY, sqlString, T0, tamperSqlite, type LedgerDataDir } from './fixtures.js';
import { fromHex, leafHash, mth, path, proof as naiveProof, verifyConsistencyRfc, verifyInclusionRfc } from '../audit/reference-tree.js';

let data: LedgerDataDir;
let scratch: string;
beforeAll(async () => {
  data = await dataDirWithEvents();
  scratch = mkdtempSync(join(tmpdir(), 'caduceus-audit-cli-'));
});
afterAll(() => {
  data?.remove();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

const audit = (...args: string[]) => runCli(['audit', ...args, '--data', data.dir]);

async function storedEvents(filters: Parameters<typeof searchEvents>[1]): Promise<AuditEvent[]> {
  const storage = await openStorage(data.config.storage);
  try {
    return await searchEvents(storage.sql, filters);
  } finally {
    await storage.close();
  }
}

/** The exported log's lines (event JSON exactly as hashed). */
async function exportLines(): Promise<string[]> {
  const file = join(scratch, `log-${Math.random().toString(36).slice(2)}.ndjson`);
  const run = await audit('export', '--format', 'ndjson', '--out', file);
  expect(run.code, run.stderr).toBe(0);
  return readFileSync(file, 'utf8').split('\n').filter(Boolean);
}

const ndjson = (text: string): AuditEvent[] => text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditEvent);

describe('caduceus audit verify', () => {
  it('exits 0 on an untouched data folder, printing the verified size and root', async () => {
    const run = await audit('verify');
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^audit ledger verified: size \d+, root [0-9a-f]{64}\n/);
    const json = await audit('verify', '--json');
    expect(json.code).toBe(0);
    const verdict = JSON.parse(json.stdout) as { ok: boolean; size: number; root_hash: string; signatures_checked: boolean; checkpoints: number };
    expect(verdict).toMatchObject({ ok: true, signatures_checked: true });
    // The dev stack's 3 events, the clinic client, and the 11 fixture events at least.
    expect(verdict.size).toBeGreaterThanOrEqual(15);
    expect(verdict.checkpoints).toBeGreaterThan(0);
    expect(run.stdout).toContain(`size ${verdict.size}, root ${verdict.root_hash}`);
  });

  it('checks the witness file and --checkpoint files too, and refuses checkpoints signed by another key', async () => {
    const checkpoint = await audit('checkpoint');
    expect(checkpoint.code, checkpoint.stderr).toBe(0);
    const file = join(scratch, 'one-checkpoint.txt');
    writeFileSync(file, checkpoint.stdout);
    const run = await audit('verify', '--checkpoint', file, '--json');
    expect(run.code, run.stdout).toBe(0);
    const other = verifierKey('localhost:18443/audit', generateCheckpointKey().publicKey);
    const wrongKey = await audit('verify', '--pubkey', other, '--json');
    expect(wrongKey.code).toBe(1);
    expect(JSON.parse(wrongKey.stdout)).toMatchObject({ ok: false, code: 'checkpoint_invalid' });
    const malformed = await audit('verify', '--pubkey', 'name+1234+AQ==');
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toMatch(/--pubkey: verifier key/);
  });

  it('exits 2 naming the flag for an unknown option, and prints help with --help', async () => {
    const unknown = await audit('verify', '--frobnicate');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/frobnicate/);
    const help = await runCli(['audit', 'verify', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/caduceus audit verify --export FILE\.ndjson --checkpoint FILE… --pubkey KEY/);
    for (const sub of ['search', 'proof', 'consistency', 'key', 'checkpoint', 'export', 'disclosures']) {
      const h = await runCli(['audit', sub, '--help']);
      expect(h.code, sub).toBe(0);
      expect(h.stdout, sub).toContain(`caduceus audit ${sub}`);
    }
    expect((await runCli(['audit'])).code).toBe(2);
    expect((await runCli(['audit', '--help'])).code).toBe(0);
  });
});

describe('caduceus audit verify on a tampered database', () => {
  let victim: LedgerDataDir;
  beforeAll(async () => { victim = await dataDirWithEvents(); });
  afterAll(() => victim?.remove());

  const verifyVictim = (...args: string[]) => runCli(['audit', 'verify', '--data', victim.dir, ...args]);
  const eventJson = async (seq: number): Promise<string> => {
    const storage = await openStorage(victim.config.storage);
    try {
      return (await storage.sql.get<{ event_json: string }>('SELECT event_json FROM audit_events WHERE seq = $1', [seq]))!.event_json;
    } finally {
      await storage.close();
    }
  };

  it('exits 1 naming the first bad seq when an event was changed with raw SQL around the triggers', async () => {
    expect((await verifyVictim()).code).toBe(0);
    const target = 8;
    const json = await eventJson(target);
    const edited = json.replace('"outcome":"success"', '"outcome":"denied"');
    expect(edited).not.toBe(json);
    // The attacker keeps the indexed column in step: only the leaf hash can tell.
    await tamperSqlite(victim.config.storage, [`UPDATE audit_events SET event_json = ${sqlString(edited)}, outcome = 'denied' WHERE seq = ${target}`]);
    const run = await verifyVictim();
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(`first bad seq ${target} (leaf_mismatch)`);
    const json2 = await verifyVictim('--json');
    expect(json2.code).toBe(1);
    expect(JSON.parse(json2.stdout)).toMatchObject({ ok: false, first_bad_seq: target, code: 'leaf_mismatch' });
  });

  it('exits 1 naming the lower seq when an earlier event is deleted', async () => {
    await tamperSqlite(victim.config.storage, ['DELETE FROM audit_events WHERE seq = 4']);
    const run = await verifyVictim('--json');
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout)).toMatchObject({ ok: false, first_bad_seq: 4, code: 'missing_event' });
  });
});

describe('caduceus audit verify --export (offline)', () => {
  let exportFile: string;
  let checkpointsFile: string;
  let key: string;
  let lines: string[];

  beforeAll(async () => {
    exportFile = join(scratch, 'offline.ndjson');
    checkpointsFile = join(scratch, 'offline-checkpoints.txt');
    const run = await audit('export', '--format', 'ndjson', '--out', exportFile, '--checkpoints', checkpointsFile);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^Exported \d+ events \(ndjson\)/);
    key = (await audit('key')).stdout.trim();
    lines = readFileSync(exportFile, 'utf8').split('\n').filter(Boolean);
  });

  const offline = (file: string, checkpoints = checkpointsFile, ...extra: string[]) =>
    runCli(['audit', 'verify', '--export', file, '--checkpoint', checkpoints, '--pubkey', key, ...extra]);

  it('writes the export with mode 0600, one canonical event per line in seq order', () => {
    expect(statSync(exportFile).mode & 0o777).toBe(0o600);
    expect(lines.map((l) => (JSON.parse(l) as AuditEvent).seq)).toEqual(lines.map((_, i) => i));
  });

  it('exits 0 with no configuration at all: the export, its checkpoints and the public key suffice', async () => {
    const run = await offline(exportFile, checkpointsFile, '--json');
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const verdict = JSON.parse(run.stdout) as { ok: boolean; size: number; root_hash: string; checkpointed_size: number };
    expect(verdict).toMatchObject({ ok: true, size: lines.length, checkpointed_size: lines.length });
    expect(verdict.root_hash).toBe(mth(lines.map(leafHash)).toString('hex'));
  });

  it('also verifies against the note that "audit checkpoint" prints, and with the key read from a file', async () => {
    const note = join(scratch, 'checkpoint-now.txt');
    const keyFile = join(scratch, 'verifier.key');
    writeFileSync(keyFile, `${key}\n`);
    // The checkpoint may cover the export's own audit.read and later reads: export again to match.
    const fresh = join(scratch, 'fresh.ndjson');
    expect((await audit('export', '--format', 'ndjson', '--out', fresh)).code).toBe(0);
    writeFileSync(note, (await audit('checkpoint')).stdout);
    const run = await runCli(['audit', 'verify', '--export', fresh, '--checkpoint', note, '--pubkey', keyFile]);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toContain('every event is covered by a signed checkpoint');
  });

  it('exits 1 when one exported line is edited, naming the range that holds it', async () => {
    // A line in the middle of the export whose outcome can be flipped.
    const target = lines.findIndex((l, i) => i >= 5 && l.includes('"outcome":"success"'));
    expect(target).toBeGreaterThan(0);
    const edited = [...lines];
    edited[target] = edited[target]!.replace('"outcome":"success"', '"outcome":"error"');
    expect(edited[target]).not.toBe(lines[target]);
    const file = join(scratch, 'edited.ndjson');
    writeFileSync(file, `${edited.join('\n')}\n`);
    const run = await offline(file, checkpointsFile, '--json');
    expect(run.code).toBe(1);
    const verdict = JSON.parse(run.stdout) as { ok: false; first_bad_seq: number; code: string; reason: string };
    expect(verdict.code).toBe('checkpoint_mismatch');
    expect(verdict.first_bad_seq).toBeLessThanOrEqual(target);
    const text = await offline(file);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/verification FAILED: first bad seq \d+ \(checkpoint_mismatch\)/);
  });

  it('exits 1 naming the seq of a removed line, and of a line whose seq was changed', async () => {
    const removed = join(scratch, 'removed.ndjson');
    writeFileSync(removed, `${lines.filter((_, i) => i !== 6).join('\n')}\n`);
    const run = await offline(removed, checkpointsFile, '--json');
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout)).toMatchObject({ ok: false, first_bad_seq: 6, code: 'missing_event' });

    const moved = [...lines];
    moved[7] = moved[7]!.replace('"seq":7', '"seq":70');
    const movedFile = join(scratch, 'moved.ndjson');
    writeFileSync(movedFile, `${moved.join('\n')}\n`);
    const run2 = await offline(movedFile, checkpointsFile, '--json');
    expect(run2.code).toBe(1);
    expect(JSON.parse(run2.stdout)).toMatchObject({ ok: false, first_bad_seq: 7 });
  });

  it('exits 1 when the checkpoints were signed by another key, and 2 without --checkpoint or --pubkey', async () => {
    const forged = readFileSync(checkpointsFile, 'utf8').replace(/^(— \S+ )(\S{6})/m, (_m, head: string, sig: string) => `${head}${sig.slice(0, 5)}${sig[5] === 'A' ? 'B' : 'A'}`);
    const forgedFile = join(scratch, 'forged.txt');
    writeFileSync(forgedFile, forged);
    expect((await offline(exportFile, forgedFile)).code).toBe(1);
    const noCheckpoint = await runCli(['audit', 'verify', '--export', exportFile, '--pubkey', key]);
    expect(noCheckpoint.code).toBe(2);
    expect(noCheckpoint.stderr).toMatch(/--checkpoint FILE is required with --export/);
    const noKey = await runCli(['audit', 'verify', '--export', exportFile, '--checkpoint', checkpointsFile]);
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toMatch(/--pubkey is required/);
  });
});

describe('caduceus audit proof and consistency', () => {
  let lines: string[];
  let leaves: Buffer[];
  beforeAll(async () => {
    lines = await exportLines();
    leaves = lines.map(leafHash);
  });

  it('prints inclusion proofs that the library verifier and a naive RFC 9162 implementation accept', async () => {
    const size = lines.length;
    for (const [seq, treeSize] of [[0, size], [5, size], [size - 1, size], [3, 4], [6, 7], [0, 1], [9, 13]] as const) {
      const run = await audit('proof', '--seq', String(seq), '--size', String(treeSize), '--json');
      expect(run.code, run.stderr).toBe(0);
      const p = JSON.parse(run.stdout) as InclusionProof;
      expect(Object.keys(p)).toEqual(['leaf_index', 'tree_size', 'leaf_hash', 'hashes', 'root_hash']);
      expect(p).toMatchObject({ leaf_index: seq, tree_size: treeSize });
      expect(verifyInclusionProof(p)).toEqual({ ok: true });
      const tree = leaves.slice(0, treeSize);
      expect(p.leaf_hash).toBe(leaves[seq]!.toString('hex'));
      expect(p.root_hash).toBe(mth(tree).toString('hex'));
      expect(p.hashes).toEqual(path(seq, tree).map((h) => h.toString('hex')));
      expect(verifyInclusionRfc(seq, treeSize, leaves[seq]!, fromHex(p.hashes), Buffer.from(p.root_hash, 'hex'))).toBe(true);
      // A flipped bit in the path fails both verifiers.
      if (p.hashes.length > 0) {
        const flipped = { ...p, hashes: [p.hashes[0]!.replace(/^./, (c) => (c === '0' ? '1' : '0')), ...p.hashes.slice(1)] };
        expect(verifyInclusionProof(flipped).ok).toBe(false);
        expect(verifyInclusionRfc(seq, treeSize, leaves[seq]!, fromHex(flipped.hashes), Buffer.from(p.root_hash, 'hex'))).toBe(false);
      }
    }
  });

  it('ties a proof to a signed checkpoint when --size is the checkpoint size', async () => {
    const checkpoint = JSON.parse((await audit('checkpoint', '--json')).stdout) as { size: number; root_hash: string; note: string };
    const key = (await audit('key')).stdout.trim();
    const opened = openCheckpoint(checkpoint.note, key);
    const p = JSON.parse((await audit('proof', '--seq', '2', '--size', String(checkpoint.size), '--json')).stdout) as InclusionProof;
    expect(verifyInclusionProof(p, opened.rootHash)).toEqual({ ok: true });
    const text = await audit('proof', '--seq', '2', '--size', String(checkpoint.size));
    expect(text.stdout).toContain(`signed checkpoint of size ${checkpoint.size}: root matches`);
  });

  it('prints consistency proofs that the library verifier and a naive RFC 9162 implementation accept', async () => {
    const size = lines.length;
    for (const [from, to] of [[1, size], [4, size], [7, 13], [8, 8], [3, 5], [size - 1, size]] as const) {
      const run = await audit('consistency', '--from', String(from), '--to', String(to), '--json');
      expect(run.code, run.stderr).toBe(0);
      const p = JSON.parse(run.stdout) as ConsistencyProof;
      expect(Object.keys(p)).toEqual(['first', 'second', 'first_hash', 'second_hash', 'hashes']);
      expect(p).toMatchObject({ first: from, second: to });
      expect(verifyConsistencyProof(p)).toEqual({ ok: true });
      expect(p.first_hash).toBe(mth(leaves.slice(0, from)).toString('hex'));
      expect(p.second_hash).toBe(mth(leaves.slice(0, to)).toString('hex'));
      expect(p.hashes).toEqual(naiveProof(from, leaves.slice(0, to)).map((h) => h.toString('hex')));
      expect(verifyConsistencyRfc(from, to, Buffer.from(p.first_hash, 'hex'), Buffer.from(p.second_hash, 'hex'), fromHex(p.hashes))).toBe(true);
      // A swapped root fails both.
      if (from !== to) {
        expect(verifyConsistencyProof({ ...p, first_hash: p.second_hash, second_hash: p.first_hash }).ok).toBe(false);
        expect(verifyConsistencyRfc(from, to, Buffer.from(p.second_hash, 'hex'), Buffer.from(p.first_hash, 'hex'), fromHex(p.hashes))).toBe(false);
      }
    }
  });

  it('exits 2 naming the flag for a seq or size beyond the log', async () => {
    const beyond = await audit('proof', '--seq', '100000');
    expect(beyond.code).toBe(2);
    expect(beyond.stderr).toMatch(/--seq must be an integer from 0 to \d+/);
    const size = await audit('proof', '--seq', '1', '--size', '1');
    expect(size.code).toBe(2);
    expect(size.stderr).toMatch(/--seq must be an integer from 0 to 0/);
    const to = await audit('consistency', '--from', '1', '--to', '100000');
    expect(to.code).toBe(2);
    expect(to.stderr).toMatch(/--to must be an integer from 0 to \d+/);
    expect((await audit('proof')).stderr).toMatch(/--seq is required/);
    expect((await audit('proof', '--seq', '-1')).code).toBe(2);
  });
});

describe('caduceus audit search', () => {
  it('filters by patient, type and outcome, newest first, as NDJSON of stored events', async () => {
    const run = await audit('search', '--patient', 'Patient/p-1', '--type', 'phi.accessed', '--json');
    expect(run.code, run.stderr).toBe(0);
    const events = ndjson(run.stdout);
    expect(events).toHaveLength(5);
    expect(events.every((e) => e.patient === 'Patient/p-1' && e.type === 'phi.accessed')).toBe(true);
    expect(events.map((e) => e.seq)).toEqual([...events.map((e) => e.seq)].sort((a, b) => b - a));
    const denied = ndjson((await audit('search', '--patient', 'Patient/p-1', '--outcome', 'denied', '--json')).stdout);
    expect(denied.map((e) => e.type)).toEqual(['phi.denied', 'phi.denied']);
    const both = ndjson((await audit('search', '--type', 'phi.denied', '--type', 'login.failed', '--json')).stdout);
    expect(new Set(both.map((e) => e.type))).toEqual(new Set(['phi.denied', 'login.failed']));
    expect(both).toHaveLength(3);
    const byClient = ndjson((await audit('search', '--client', CLINIC_ID, '--type', 'phi.accessed', '--json')).stdout);
    expect(byClient).toHaveLength(2);
    const byActor = ndjson((await audit('search', '--actor', 'u-2', '--json')).stdout);
    expect(byActor.map((e) => e.type)).toEqual(['login.failed']);
  });

  it('accepts ISO dates and date-times for --since and --until', async () => {
    const feb = ndjson((await audit('search', '--since', '2025-02-01', '--until', '2025-02-28', '--type', 'phi.accessed', '--json')).stdout);
    expect(feb.map((e) => e.patient)).toEqual(['Patient/p-2', 'Patient/p-2', 'Patient/p-2']);
    // A date alone as --until includes that whole day.
    const day = ndjson((await audit('search', '--since', '2025-01-15', '--until', '2025-01-15', '--type', 'phi.accessed', '--json')).stdout);
    expect(day).toHaveLength(5);
    const window = ndjson((await audit('search', '--since', '2025-01-15T12:01:00Z', '--until', '2025-01-15T13:03:00+01:00', '--type', 'phi.accessed', '--json')).stdout);
    expect(window.map((e) => e.time)).toEqual([T0 + 2 * 60_000, T0 + 60_000]);
    expect(window.every((e) => e.time < T0 + 31 * DAY)).toBe(true);
    for (const bad of ['yesterday', '2025-02-30', '2025-01-15T12:00:00', '1969-12-31']) {
      const run = await audit('search', '--since', bad);
      expect(run.code, bad).toBe(2);
      expect(run.stderr, bad).toMatch(/--since/);
    }
    expect((await audit('search', '--type', 'phi.read')).stderr).toMatch(/--type: not an audit event type/);
    expect((await audit('search', '--limit', '0')).code).toBe(2);
  });

  it('prints a table by default, and honours --limit', async () => {
    const run = await audit('search', '--patient', 'Patient/p-1', '--outcome', 'denied', '--limit', '1');
    expect(run.code).toBe(0);
    const rows = run.stdout.trimEnd().split('\n');
    expect(rows[0]).toMatch(/^SEQ\s+TIME\s+TYPE\s+OUTCOME\s+USER\s+CLIENT\s+PATIENT\s+RESOURCE$/);
    expect(rows).toHaveLength(2);
    expect(rows[1]).toMatch(/phi\.denied\s+denied\s+u-1/);
    expect((await audit('search', '--patient', 'Patient/nobody')).stdout).toBe('No events match.\n');
  });

  it('records each search as an audit.read event by cli:USER with the filter names, not their values', async () => {
    const run = await audit('search', '--patient', 'Patient/p-1', '--actor', 'u-secret-actor', '--type', 'phi.accessed', '--since', '2025-01-01', '--json');
    expect(run.code).toBe(0);
    const [read] = await storedEvents({ type: 'audit.read', limit: 1 });
    expect(read).toMatchObject({
      type: 'audit.read', outcome: 'success', action: 'search', patient: 'Patient/p-1',
      details: { filters: 'patient,actor,type,since', results: 0, via: 'cli' },
    });
    expect(read!.actor.userId).toMatch(/^cli:\S+$/);
    expect(JSON.stringify(read)).not.toContain('u-secret-actor');
    // The read is in the log that the next verify checks.
    expect((await audit('verify')).code).toBe(0);
  });
});

describe('caduceus audit export', () => {
  it('exports NDJSON that is the ledger, and FHIR R4 AuditEvent resources one per line', async () => {
    const lines = await exportLines();
    const fhirFile = join(scratch, 'fhir.ndjson');
    const run = await audit('export', '--format', 'fhir', '--out', fhirFile);
    expect(run.code, run.stderr).toBe(0);
    const resources = readFileSync(fhirFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>);
    // The FHIR export also records an audit.read first, so it covers one more event.
    expect(resources.length).toBe(lines.length + 1);
    expect(resources.every((r) => r.resourceType === 'AuditEvent')).toBe(true);
    expect(resources.map((r) => r.id)).toEqual(resources.map((_, i) => String(i)));
    const access = resources.find((r) => r.subtype.some((c: { code: string }) => c.code === 'phi.accessed'))!;
    expect(access.type.code).toBe('rest');
    expect(access.entity.some((e: { what?: { reference?: string } }) => e.what?.reference === 'Patient/p-1')).toBe(true);
    const last = resources[resources.length - 1]!;
    expect(last.type).toMatchObject({ code: '110101', display: 'Audit Log Used' });
    const stdout = await audit('export', '--format', 'ndjson');
    expect(stdout.stdout.split('\n').filter(Boolean).length).toBe(lines.length + 2);
    expect((await audit('export', '--format', 'xml')).code).toBe(2);
    expect((await audit('export')).stderr).toMatch(/--format is required/);
  });
});

describe('caduceus audit disclosures', () => {
  const disclosures = (...args: string[]) => audit('disclosures', '--patient', 'Patient/p-1', ...args);

  it('json lists each release of the patient\'s data with who, when, what, why and the outcome', async () => {
    const run = await disclosures('--since', '2025-01-01', '--until', '2025-12-31');
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as { patient: string; since: string; until: string; disclosures: Record<string, unknown>[] };
    expect(report).toMatchObject({ patient: 'Patient/p-1', since: '2025-01-01T00:00:00.000Z', until: '2026-01-01T00:00:00.000Z' });
    // phi.denied is not a disclosure: nothing was released.
    expect(report.disclosures).toHaveLength(5);
    expect(report.disclosures[0]).toEqual({
      seq: expect.any(Number), date: new Date(T0).toISOString(), organisation: 'Demo Patient App', client_id: data.demo.client_id,
      user_id: 'u-1', resource: 'Observation/o-0', action: 'read', scope: 'patient/Observation.rs', purpose_of_use: 'TREAT',
      outcome: 'success', request_id: 'req-0',
    });
    expect(report.disclosures.slice(3).map((d) => [d.organisation, d.client_id, d.purpose_of_use])).toEqual([
      [CLINIC_NAME, CLINIC_ID, 'HPAYMT'], [CLINIC_NAME, CLINIC_ID, 'HPAYMT'],
    ]);
    const none = JSON.parse((await disclosures('--since', '2025-02-01')).stdout) as { disclosures: unknown[] };
    expect(none.disclosures).toEqual([]);
  });

  it('csv has a header and one row per disclosure, quoted and defused for spreadsheets', async () => {
    const run = await disclosures('--format', 'csv');
    expect(run.code).toBe(0);
    const rows = run.stdout.split('\r\n').filter(Boolean);
    expect(rows[0]).toBe('seq,date,organisation,client_id,user_id,resource,action,scope,purpose_of_use,outcome,request_id');
    expect(rows).toHaveLength(6);
    expect(rows[1]).toMatch(new RegExp(`^\\d+,2025-01-15T12:00:00.000Z,Demo Patient App,${data.demo.client_id},u-1,Observation/o-0,read,patient/Observation.rs,TREAT,success,req-0$`));
    expect(rows[4]).toContain(`"Smith & Jones <Clinic> ""North"", =1+1",${CLINIC_ID},u-7`);
  });

  it('html is a printable page for the patient, without script, with every value escaped', async () => {
    const file = join(scratch, 'disclosures.html');
    const run = await disclosures('--format', 'html', '--out', file);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`Wrote the accounting of 5 disclosure(s) for Patient/p-1 to ${file}`);
    const html = readFileSync(file, 'utf8');
    expect(html).toMatch(/^<!DOCTYPE html>/);
    expect(html).not.toMatch(/<script|javascript:|\son\w+\s*=/i);
    expect(html).toContain("default-src 'none'");
    expect(html).toContain('45 CFR 164.528');
    expect(html).toContain('Smith &amp; Jones &lt;Clinic&gt; &quot;North&quot;, =1+1');
    expect(html).not.toContain('<Clinic>');
    expect(html.match(/<tr>/g)).toHaveLength(6);
    expect(html).toContain('Observation o-0 (viewed)');
    expect(html).toContain('Treatment');
    expect(html).toContain('Payment');
    expect(html).toContain('@media print');
  });

  it('records each accounting as an audit.read event for that patient, and needs --patient', async () => {
    await disclosures('--format', 'csv', '--since', '2025-01-01');
    const [read] = await storedEvents({ type: 'audit.read', limit: 1 });
    expect(read).toMatchObject({ action: 'disclosures', patient: 'Patient/p-1', details: { filters: 'patient,since', results: 5, format: 'csv', via: 'cli' } });
    const missing = await audit('disclosures');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--patient is required/);
    expect((await disclosures('--format', 'pdf')).code).toBe(2);
  });
});

describe('caduceus audit key', () => {
  it('prints the verifier key as name+keyid+base64(0x01 || Ed25519 public key), the key ID per C2SP', async () => {
    const run = await audit('key');
    expect(run.code).toBe(0);
    const key = run.stdout.trim();
    expect(run.stdout).toBe(`${key}\n`);
    expect(key).toMatch(/^localhost:18443\/audit\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}$/);
    const [name, keyId, encoded] = key.split('+', 2).concat(key.split('+').slice(2).join('+'));
    const raw = Buffer.from(encoded!, 'base64');
    expect(raw).toHaveLength(33);
    expect(raw[0]).toBe(0x01);
    const expectedId = createHash('sha256').update(Buffer.concat([Buffer.from(`${name}\n`), raw])).digest().subarray(0, 4).toString('hex');
    expect(keyId).toBe(expectedId);
    const json = JSON.parse((await audit('key', '--json')).stdout) as { origin: string; key: string };
    expect(json).toEqual({ origin: 'localhost:18443/audit', key });
  });

  it('signs checkpoints that verify with that key', async () => {
    const key = (await audit('key')).stdout.trim();
    const run = await audit('checkpoint');
    expect(run.code).toBe(0);
    const opened = openCheckpoint(run.stdout, key, { origin: 'localhost:18443/audit' });
    expect(opened.size).toBeGreaterThan(0);
    expect(run.stdout).toMatch(/^localhost:18443\/audit\n\d+\n[A-Za-z0-9+/]{43}=\n\n— localhost:18443\/audit \S+\n$/);
  });
});
