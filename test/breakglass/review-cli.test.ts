// `caduceus breakglass review`, in-process against a dev-stack data folder: the open list (itself
// audited), one review per access (audited), and the refusals. Accesses are created directly in
// storage; the request flow that creates them is tested with the consent page.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { searchEvents } from '../../src/audit/search.js';
import { listOpenAccesses, reviewAccess } from '../../src/breakglass/review.js';
import { openAccessText, sealAccessText } from '../../src/breakglass/sealed-text.js';
import { loadMasterKey } from '../../src/crypto/master-key.js';
import { openStorage } from '../../src/storage/index.js';
import type { BreakGlassAccessRecord, Storage } from '../../src/storage/types.js';
import { createDataDir, runCli, type DataDir } from '../cli/harness.js';

let data: DataDir;
let practitionerId: string;
let officerId: string;
beforeAll(async () => {
  data = await createDataDir();
  expect((await runCli(['user', 'add', '--username', 'dr.er', '--role', 'practitioner', '--data', data.dir], 'a long enough password')).code).toBe(0);
  expect((await runCli(['user', 'add', '--username', 'privacy.officer', '--role', 'administrator', '--data', data.dir], 'a long enough password')).code).toBe(0);
  practitionerId = (await withStorage((s) => s.users.getByUsername('dr.er')))!.id;
  officerId = (await withStorage((s) => s.users.getByUsername('privacy.officer')))!.id;
});
const REVIEWER = ['--reviewer', 'privacy.officer'];
afterAll(() => data?.remove());

const masterKey = () => loadMasterKey({ env: {}, file: data.config.master_key_file });

async function withStorage<T>(fn: (s: Storage) => Promise<T>): Promise<T> {
  const storage = await openStorage(data.config.storage);
  try {
    return await fn(storage);
  } finally {
    await storage.close();
  }
}

const T0 = Date.UTC(2026, 2, 1, 8, 0, 0);

function accessRecord(id: string, patient: string, reason: string, createdAt: number): BreakGlassAccessRecord {
  return {
    id, userId: practitionerId, clientId: 'ehr-app', grantId: `g_${id}`, patient, reason, createdAt, expiresAt: createdAt + 900_000,
    reviewedAt: null, reviewedBy: null, reviewOutcome: null, reviewNote: null,
  };
}

interface Listed { id: string; created_at: string; user_id: string; username: string; client_id: string; patient: string; expires_at: string; reason: string }

async function listOpen(): Promise<Listed[]> {
  const run = await runCli(['breakglass', 'review', '--data', data.dir, '--json']);
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as Listed[];
}

describe('caduceus breakglass review', () => {
  it('lists the open accesses oldest first with user name, client, patient, times (UTC) and the reason; the read is audited', async () => {
    await withStorage(async (s) => {
      // Sealed at rest as the consent step stores it; bg_list_1 is a row from before sealing (plain text).
      const sealed = sealAccessText(masterKey(), 'bg_list_2', 'reason', 'Cardiac arrest on ward 4, covering physician');
      await s.breakGlass.create(accessRecord('bg_list_2', 'p-20', sealed, T0 + 60_000));
      await s.breakGlass.create(accessRecord('bg_list_1', 'p-10', 'Trauma bay, patient unresponsive\n\u001b[31mred', T0));
    });
    const listed = (await listOpen()).filter((a) => a.id.startsWith('bg_list_'));
    expect(listed.map((a) => a.id)).toEqual(['bg_list_1', 'bg_list_2']);
    expect(listed[1]!.reason).toBe('Cardiac arrest on ward 4, covering physician');
    expect(listed[0]).toEqual({
      id: 'bg_list_1', created_at: '2026-03-01T08:00:00.000Z', user_id: practitionerId, username: 'dr.er', client_id: 'ehr-app',
      patient: 'Patient/p-10', expires_at: '2026-03-01T08:15:00.000Z', reason: 'Trauma bay, patient unresponsive\n\u001b[31mred',
    });

    const text = await runCli(['breakglass', 'review', '--data', data.dir]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^ID\s+CREATED \(UTC\)\s+USER\s+CLIENT\s+PATIENT\s+EXPIRES \(UTC\)\s+REASON/);
    expect(text.stdout).toMatch(/bg_list_1\s+2026-03-01T08:00:00.000Z\s+dr\.er\s+ehr-app\s+Patient\/p-10\s+2026-03-01T08:15:00.000Z\s+Trauma bay, patient unresponsive {2}\[31mred\n/);
    // The practitioner's free text cannot move the cursor or colour the operator's terminal.
    expect(text.stdout).not.toContain('\u001b');

    const reads = await withStorage((s) => searchEvents(s.sql, { type: 'audit.read', limit: 100 }));
    const listReads = reads.filter((e) => e.action === 'breakglass_review_list');
    expect(listReads.length).toBeGreaterThanOrEqual(2);
    expect(listReads[0]!.actor.userId).toMatch(/^cli:/);
    expect(listReads[0]).toMatchObject({ outcome: 'success', resource: 'break_glass_accesses', details: { via: 'cli' } });
    expect(String(listReads[0]!.details!.breakglass_ids).split(',')).toEqual(expect.arrayContaining(['bg_list_1', 'bg_list_2']));
    // The reason is shown to the reviewer, never written to the ledger.
    expect(JSON.stringify(reads)).not.toContain('Trauma bay');
  });

  it('review ID --outcome --reviewer records the review once, by that administrator, and a breakglass.reviewed event; a second review is refused', async () => {
    await withStorage((s) => s.breakGlass.create(accessRecord('bg_rev_1', 'p-30', 'Anaphylaxis in the waiting room', T0 + 120_000)));
    const run = await runCli(['breakglass', 'review', 'bg_rev_1', '--outcome', 'justified', ...REVIEWER, '--note', 'Confirmed with the ED lead', '--data', data.dir]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('bg_rev_1 reviewed: justified');

    const stored = await withStorage((s) => s.breakGlass.get('bg_rev_1'));
    expect(stored).toMatchObject({ reviewOutcome: 'justified' });
    // The note is sealed at rest, bound to this access: a dump does not show it.
    expect(stored!.reviewNote).not.toContain('Confirmed');
    expect(openAccessText(masterKey(), 'bg_rev_1', 'review_note', stored!.reviewNote!)).toBe('Confirmed with the ED lead');
    expect(() => openAccessText(masterKey(), 'bg_other', 'review_note', stored!.reviewNote!)).toThrow();
    expect(stored!.reviewedBy).toBe(officerId);
    expect(stored!.reviewedAt).toEqual(expect.any(Number));
    expect((await listOpen()).map((a) => a.id)).not.toContain('bg_rev_1');

    const reviewed = await withStorage((s) => searchEvents(s.sql, { type: 'breakglass.reviewed', limit: 100 }));
    const mine = reviewed.filter((e) => e.details?.breakglass_id === 'bg_rev_1');
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({
      outcome: 'success', patient: 'Patient/p-30', grantId: 'g_bg_rev_1', actor: { userId: stored!.reviewedBy },
      details: { breakglass_id: 'bg_rev_1', outcome: 'justified', has_note: true, via: expect.stringMatching(/^cli:/) },
    });
    expect(JSON.stringify(mine[0])).not.toContain('Confirmed with the ED lead');
    expect(JSON.stringify(mine[0])).not.toContain('Anaphylaxis');

    const again = await runCli(['breakglass', 'review', 'bg_rev_1', '--outcome', 'unjustified', ...REVIEWER, '--data', data.dir]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('no open emergency access "bg_rev_1" (unknown or already reviewed');
    expect((await withStorage((s) => s.breakGlass.get('bg_rev_1')))!.reviewOutcome).toBe('justified');
    const after = await withStorage((s) => searchEvents(s.sql, { type: 'breakglass.reviewed', limit: 100 }));
    expect(after.filter((e) => e.details?.breakglass_id === 'bg_rev_1')).toHaveLength(1);
  });

  it('an unknown id exits 1; an invalid outcome exits 1 naming the outcomes and records nothing', async () => {
    const unknown = await runCli(['breakglass', 'review', 'bg_nope', '--outcome', 'unjustified', ...REVIEWER, '--data', data.dir]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no open emergency access "bg_nope"');

    await withStorage((s) => s.breakGlass.create(accessRecord('bg_bad_outcome', 'p-40', 'Sepsis, on-call cover', T0 + 180_000)));
    const bad = await runCli(['breakglass', 'review', 'bg_bad_outcome', '--outcome', 'fine', ...REVIEWER, '--data', data.dir]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('--outcome: use justified or unjustified');
    expect((await withStorage((s) => s.breakGlass.get('bg_bad_outcome')))!.reviewedAt).toBeNull();
    const events = await withStorage((s) => searchEvents(s.sql, { type: 'breakglass.reviewed', limit: 100 }));
    expect(events.filter((e) => e.details?.breakglass_id === 'bg_bad_outcome' || e.details?.breakglass_id === 'bg_nope')).toEqual([]);
  });

  it('only an active administrator other than the practitioner who took the access can review it', async () => {
    await withStorage((s) => s.breakGlass.create(accessRecord('bg_who', 'p-50', 'Stroke alert, neurologist unreachable', T0 + 240_000)));
    const byPractitioner = await runCli(['breakglass', 'review', 'bg_who', '--outcome', 'justified', '--reviewer', 'dr.er', '--data', data.dir]);
    expect(byPractitioner.code).toBe(1);
    expect(byPractitioner.stderr).toContain('--reviewer "dr.er" is not an active administrator account');
    const byNobody = await runCli(['breakglass', 'review', 'bg_who', '--outcome', 'justified', '--reviewer', 'nobody', '--data', data.dir]);
    expect(byNobody.code).toBe(1);
    // An administrator who took the access themself (e.g. a practitioner promoted since) cannot review it.
    await withStorage((s) => s.breakGlass.create({ ...accessRecord('bg_self', 'p-51', 'Cardiac arrest in the lobby', T0 + 300_000), userId: officerId }));
    const self = await runCli(['breakglass', 'review', 'bg_self', '--outcome', 'justified', ...REVIEWER, '--data', data.dir]);
    expect(self.code).toBe(1);
    expect(self.stderr).toContain('--reviewer: the account that took this emergency access cannot review it');
    for (const id of ['bg_who', 'bg_self']) expect((await withStorage((s) => s.breakGlass.get(id)))!.reviewedAt).toBeNull();
    const events = await withStorage((s) => searchEvents(s.sql, { type: 'breakglass.reviewed', limit: 100 }));
    expect(events.filter((e) => ['bg_who', 'bg_self'].includes(String(e.details?.breakglass_id)))).toEqual([]);
  });

  it('usage errors exit 2: an id without --outcome or --reviewer, --outcome without an id, two ids', async () => {
    for (const argv of [
      ['breakglass', 'review', 'bg_bad_outcome'],
      ['breakglass', 'review', 'bg_bad_outcome', '--outcome', 'justified'],
      ['breakglass', 'review', '--outcome', 'justified'],
      ['breakglass', 'review', 'a', 'b', '--outcome', 'justified'],
      ['breakglass'],
      ['breakglass', 'frobnicate'],
    ]) {
      const run = await runCli([...argv, '--data', data.dir]);
      expect(run.code, argv.join(' ')).toBe(2);
    }
  });

  it('--help names both subcommands, the outcomes and the signature header', async () => {
    for (const argv of [['breakglass', '--help'], ['breakglass', 'review', '--help'], ['breakglass', 'webhook-key', '--help']]) {
      const run = await runCli(argv);
      expect(run.code).toBe(0);
      for (const text of ['caduceus breakglass review ID --outcome justified|unjustified', 'caduceus breakglass webhook-key', 'x-caduceus-signature: sha256=']) {
        expect(run.stdout).toContain(text);
      }
    }
    expect((await runCli(['--help'])).stdout).toMatch(/^ {2}breakglass\s/m);
  });

  it('listing fails closed: when the read cannot be audited, nothing is returned', async () => {
    await withStorage(async (storage) => {
      const audit = { record: async () => { throw new Error('ledger unavailable'); } };
      await expect(listOpenAccesses({ storage, audit, masterKey: masterKey() }, 'cli:test')).rejects.toThrow('ledger unavailable');
      await expect(reviewAccess({ storage, audit, now: () => T0, masterKey: masterKey() }, 'bg_x', { outcome: 'maybe', reviewer: 'cli:test' })).rejects.toThrow('--outcome: use justified or unjustified');
    });
  });
});
