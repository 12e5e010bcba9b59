// `caduceus user set-panel` and `user set-break-glass`: practitioners only, validated, audited as
// user.changed with field-level changes; `user list` shows them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { searchEvents } from '../../src/audit/search.js';
import { openStorage } from '../../src/storage/index.js';
import type { Storage } from '../../src/storage/types.js';
import { createDataDir, runCli, type DataDir } from './harness.js';

let data: DataDir;
beforeAll(async () => {
  data = await createDataDir();
  for (const [username, role] of [['dr.panel', 'practitioner'], ['pat.panel', 'patient'], ['admin.panel', 'administrator'], ['dr.moved', 'practitioner']]) {
    const run = await runCli(['user', 'add', '--username', username!, '--role', role!, '--data', data.dir], 'a long enough password');
    expect(run.code, run.stderr).toBe(0);
  }
});
afterAll(() => data?.remove());

async function withStorage<T>(fn: (s: Storage) => Promise<T>): Promise<T> {
  const storage = await openStorage(data.config.storage);
  try {
    return await fn(storage);
  } finally {
    await storage.close();
  }
}

const user = (username: string) => withStorage((s) => s.users.getByUsername(username));

async function changesOf(username: string, action: string) {
  const id = (await user(username))!.id;
  const events = await withStorage((s) => searchEvents(s.sql, { type: 'user.changed', limit: 1000 }));
  return events.filter((e) => e.resource === id && e.action === action).map((e) => ({ actor: e.actor.userId, changes: e.changes }));
}

interface Listed { username: string; role: string; patient_panel: string[]; break_glass: boolean }

async function listed(username: string): Promise<Listed | undefined> {
  const run = await runCli(['user', 'list', '--data', data.dir, '--json']);
  expect(run.code, run.stderr).toBe(0);
  return (JSON.parse(run.stdout) as Listed[]).find((u) => u.username === username);
}

describe('caduceus user set-panel', () => {
  it('sets a practitioner\'s panel from FHIR ids and Patient/ references (comma separated, duplicates once), audited with before and after', async () => {
    const run = await runCli(['user', 'set-panel', 'dr.panel', 'Patient/p-1, p-2,Patient/p-1,,demo-1', '--data', data.dir]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('Patient panel of dr.panel: 3 patient(s): Patient/p-1, Patient/p-2, Patient/demo-1.');
    expect((await user('dr.panel'))!.patientPanel).toEqual(['p-1', 'p-2', 'demo-1']);
    const events = await changesOf('dr.panel', 'set_patient_panel');
    expect(events).toEqual([{ actor: expect.stringMatching(/^cli:/), changes: [{ field: 'patient_panel', before: [], after: ['p-1', 'p-2', 'demo-1'] }] }]);

    expect(await listed('dr.panel')).toMatchObject({ role: 'practitioner', patient_panel: ['p-1', 'p-2', 'demo-1'], break_glass: false });
    const text = await runCli(['user', 'list', '--data', data.dir]);
    expect(text.stdout).toMatch(/^ID\s+USERNAME\s+DISABLED\s+FHIR_USER\s+ROLE\s+PANEL\s+BREAK_GLASS/);
    expect(text.stdout).toMatch(/dr\.panel\s+no\s+-\s+practitioner\s+3\s+no/);
  });

  it('without a list, or with an empty one, clears the panel (audited)', async () => {
    expect((await runCli(['user', 'set-panel', 'dr.panel', '--data', data.dir])).stdout).toContain('Patient panel of dr.panel cleared.');
    expect((await user('dr.panel'))!.patientPanel).toEqual([]);
    expect((await runCli(['user', 'set-panel', 'dr.panel', 'p-9', '--data', data.dir])).code).toBe(0);
    const run = await runCli(['user', 'set-panel', 'dr.panel', '', '--data', data.dir, '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ username: 'dr.panel', patient_panel: [] });
    const events = await changesOf('dr.panel', 'set_patient_panel');
    expect(events[0]!.changes).toEqual([{ field: 'patient_panel', before: ['p-9'], after: [] }]);
  });

  it('refuses a panel for a patient or an administrator (exit 1, naming the role) and changes nothing', async () => {
    for (const [username, role] of [['pat.panel', 'a patient'], ['admin.panel', 'an administrator']]) {
      const run = await runCli(['user', 'set-panel', username!, 'p-1', '--data', data.dir]);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`${username} is ${role}: only practitioners can hold a patient panel`);
      expect((await user(username!))!.patientPanel).toEqual([]);
      expect(await changesOf(username!, 'set_patient_panel')).toEqual([]);
    }
  });

  it('refuses what is not a FHIR Patient id or reference (exit 1) before touching the database; an unknown user exits 1', async () => {
    for (const bad of ['Observation/1', 'p 1', 'Patient/', 'x'.repeat(65)]) {
      const run = await runCli(['user', 'set-panel', 'dr.panel', `p-1,${bad}`, '--data', data.dir]);
      expect(run.code, bad).toBe(1);
      expect(run.stderr).toContain('is not a FHIR Patient id or Patient/ reference');
    }
    expect((await user('dr.panel'))!.patientPanel).toEqual([]);
    const unknown = await runCli(['user', 'set-panel', 'nobody.here', 'p-1', '--data', data.dir]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no user "nobody.here"');
    expect((await runCli(['user', 'set-panel', '--data', data.dir])).code).toBe(2);
  });
});

describe('caduceus user set-break-glass', () => {
  it('grants and withdraws the permission of a practitioner, audited with before and after', async () => {
    const on = await runCli(['user', 'set-break-glass', 'dr.panel', 'on', '--data', data.dir]);
    expect(on.code, on.stderr).toBe(0);
    expect(on.stdout).toContain('dr.panel may now request emergency (break-glass) access.');
    expect((await user('dr.panel'))!.breakGlass).toBe(true);
    expect((await listed('dr.panel'))!.break_glass).toBe(true);

    const off = await runCli(['user', 'set-break-glass', 'dr.panel', 'off', '--data', data.dir, '--json']);
    expect(off.code, off.stderr).toBe(0);
    expect(JSON.parse(off.stdout)).toEqual({ username: 'dr.panel', break_glass: false });
    expect((await user('dr.panel'))!.breakGlass).toBe(false);

    const events = await changesOf('dr.panel', 'set_break_glass');
    expect(events.map((e) => e.changes)).toEqual([
      [{ field: 'break_glass', before: true, after: false }],
      [{ field: 'break_glass', before: false, after: true }],
    ]);
  });

  it('refuses it for other roles (exit 1) but lets anyone\'s be withdrawn; on|off is required (exit 2)', async () => {
    for (const username of ['pat.panel', 'admin.panel']) {
      const run = await runCli(['user', 'set-break-glass', username, 'on', '--data', data.dir]);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('only practitioners can hold the break-glass permission');
      expect((await user(username))!.breakGlass).toBe(false);
    }
    expect((await runCli(['user', 'set-break-glass', 'pat.panel', 'off', '--data', data.dir])).code).toBe(0);
    for (const argv of [['dr.panel'], ['dr.panel', 'yes'], ['dr.panel', 'on', 'extra']]) {
      const run = await runCli(['user', 'set-break-glass', ...argv, '--data', data.dir]);
      expect(run.code, argv.join(' ')).toBe(2);
      expect(run.stderr).toContain('caduceus user set-break-glass USERNAME on|off');
    }
    expect((await runCli(['user', 'set-break-glass', 'nobody.here', 'off', '--data', data.dir])).code).toBe(1);
  });

  it('a practitioner who changes role loses the panel and the permission, in the same audited change', async () => {
    expect((await runCli(['user', 'set-panel', 'dr.moved', 'p-5,p-6', '--data', data.dir])).code).toBe(0);
    expect((await runCli(['user', 'set-break-glass', 'dr.moved', 'on', '--data', data.dir])).code).toBe(0);
    const run = await runCli(['user', 'set-role', 'dr.moved', 'patient', '--data', data.dir]);
    expect(run.code, run.stderr).toBe(0);
    const stored = (await user('dr.moved'))!;
    expect(stored).toMatchObject({ role: 'patient', patientPanel: [], breakGlass: false });
    expect((await changesOf('dr.moved', 'set_role'))[0]!.changes).toEqual([
      { field: 'role', before: 'practitioner', after: 'patient' },
      { field: 'patient_panel', before: ['p-5', 'p-6'], after: [] },
      { field: 'break_glass', before: true, after: false },
    ]);
  });

  it('the help names the new subcommands', async () => {
    const run = await runCli(['user', '--help']);
    for (const text of ['caduceus user set-panel USERNAME [Patient/1,2,…]', 'caduceus user set-break-glass USERNAME on|off']) expect(run.stdout).toContain(text);
  });
});
