// `caduceus user add --role`, `user set-role` and `user reset-mfa`, in-process against a dev-stack
// data folder.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStorage } from '../../src/storage/index.js';
import { searchEvents } from '../../src/audit/search.js';
import { createDataDir, runCli, type DataDir } from '../cli/harness.js';

let data: DataDir;
beforeAll(async () => { data = await createDataDir(); });
afterAll(() => data?.remove());

async function withStorage<T>(fn: (s: Awaited<ReturnType<typeof openStorage>>) => Promise<T>): Promise<T> {
  const storage = await openStorage(data.config.storage);
  try {
    return await fn(storage);
  } finally {
    await storage.close();
  }
}

describe('caduceus user roles and MFA reset', () => {
  it('user add --role practitioner stores the role and prints it; without --role the user is a patient', async () => {
    const run = await runCli(['user', 'add', '--username', 'dr.cli', '--role', 'practitioner', '--data', data.dir, '--json'], 'a long enough password');
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ username: 'dr.cli', role: 'practitioner' });
    expect((await runCli(['user', 'add', '--username', 'pat.cli', '--data', data.dir], 'a long enough password')).stdout).toContain('role patient');
    await withStorage(async (s) => {
      expect((await s.users.getByUsername('dr.cli'))?.role).toBe('practitioner');
      expect((await s.users.getByUsername('pat.cli'))?.role).toBe('patient');
    });
    const list = await runCli(['user', 'list', '--data', data.dir]);
    expect(list.stdout).toMatch(/^ID\s+USERNAME\s+DISABLED\s+FHIR_USER\s+ROLE/);
    expect(list.stdout).toMatch(/dr\.cli\s+no\s+-\s+practitioner/);
  });

  it('an unknown role exits 1 naming the roles and creates no user', async () => {
    const run = await runCli(['user', 'add', '--username', 'bad.role', '--role', 'root', '--data', data.dir], 'a long enough password');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('--role: use one of patient, practitioner, administrator');
    await withStorage(async (s) => expect(await s.users.getByUsername('bad.role')).toBeUndefined());
  });

  it('user set-role changes the role and audits it; an unknown user exits 1', async () => {
    const run = await runCli(['user', 'set-role', 'pat.cli', 'administrator', '--data', data.dir]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('pat.cli is now administrator');
    await withStorage(async (s) => {
      const user = (await s.users.getByUsername('pat.cli'))!;
      expect(user.role).toBe('administrator');
      const events = await searchEvents(s.sql, { type: 'user.changed', limit: 100 });
      expect(events.find((e) => e.resource === user.id && e.action === 'set_role')?.changes).toEqual([{ field: 'role', before: 'patient', after: 'administrator' }]);
    });
    expect((await runCli(['user', 'set-role', 'nobody.here', 'patient', '--data', data.dir])).code).toBe(1);
    expect((await runCli(['user', 'set-role', 'pat.cli', '--data', data.dir])).code).toBe(2);
  });

  it('user reset-mfa removes the factors and recovery codes of the user only', async () => {
    await withStorage(async (s) => {
      const user = (await s.users.getByUsername('dr.cli'))!;
      await s.mfaFactors.create({ id: 'mf_cli_test', userId: user.id, kind: 'totp', label: 'Authenticator app', sealed: 'v1.x', counter: 1, createdAt: 1, lastUsedAt: null });
      await s.recoveryCodes.replace(user.id, ['cli-d1', 'cli-d2'], 1);
    });
    const run = await runCli(['user', 'reset-mfa', 'dr.cli', '--data', data.dir, '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ username: 'dr.cli', factors_removed: 1, recovery_codes_removed: 2 });
    await withStorage(async (s) => {
      const user = (await s.users.getByUsername('dr.cli'))!;
      expect(await s.mfaFactors.listByUser(user.id)).toEqual([]);
      expect(await s.recoveryCodes.countUnused(user.id)).toBe(0);
    });
  });

  it('the help names the new subcommands and the role option', async () => {
    const run = await runCli(['user', '--help']);
    for (const text of ['caduceus user set-role USERNAME ROLE', 'caduceus user reset-mfa USERNAME', '--role ROLE']) expect(run.stdout).toContain(text);
  });
});
