import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStorage } from '../../src/storage/index.js';
import { verifyPassword } from '../../src/crypto/password.js';
import { createDataDir, runCli, type DataDir } from './harness.js';

let data: DataDir;
beforeAll(async () => { data = await createDataDir(); });
afterAll(() => data?.remove());

async function storedUser(username: string) {
  const storage = await openStorage(data.config.storage);
  try {
    return await storage.users.getByUsername(username);
  } finally {
    await storage.close();
  }
}

interface ListedUser { id: string; username: string; disabled: boolean; fhirUser: string | null }

async function listUsers(): Promise<ListedUser[]> {
  const run = await runCli(['user', 'list', '--data', data.dir, '--json']);
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as ListedUser[];
}

describe('caduceus user', () => {
  it('user add reads the password from stdin, drops the trailing newline and stores only an argon2id hash', async () => {
    const password = 'correct horse battery';
    const run = await runCli(['user', 'add', '--username', 'jane.doe', '--patient', 'Patient/123', '--data', data.dir, '--json'], `${password}\n`);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdinReads).toBe(1);
    const out = JSON.parse(run.stdout) as ListedUser;
    expect(out).toMatchObject({ username: 'jane.doe', disabled: false, fhirUser: 'Patient/123' });
    expect(out.id).toMatch(/^u_/);
    expect(run.stdout).not.toContain(password);
    const stored = await storedUser('jane.doe');
    expect(stored?.passwordHash).toMatch(/^\$argon2id\$/);
    expect(await verifyPassword(stored!.passwordHash, password)).toBe(true);
    expect(await verifyPassword(stored!.passwordHash, `${password}\n`)).toBe(false);
  });

  it('a --password flag is refused with exit 2, explaining to pipe the password on stdin, without echoing it', async () => {
    for (const args of [['--password', 'hunter2hunter2'], ['--password=hunter2hunter2']]) {
      const run = await runCli(['user', 'add', '--username', 'argv.user', ...args, '--data', data.dir], 'from-stdin-password');
      expect(run.code).toBe(2);
      expect(run.stderr).toContain('--password is not accepted');
      expect(run.stderr).toContain('standard input');
      expect(run.stderr).not.toContain('hunter2hunter2');
      expect(run.stdinReads).toBe(0);
    }
    expect(await storedUser('argv.user')).toBeUndefined();
  });

  it('a password shorter than 12 characters exits 1 and creates no user', async () => {
    const run = await runCli(['user', 'add', '--username', 'short.pw', '--data', data.dir], 'short\n');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('password: must be at least 12 characters');
    expect(run.stderr).not.toContain('short\n');
    expect(await storedUser('short.pw')).toBeUndefined();
  });

  it('a missing --username exits 2', async () => {
    const run = await runCli(['user', 'add', '--data', data.dir], 'long enough password');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--username is required');
  });

  it('user list shows id, username, disabled and fhirUser, never the password hash', async () => {
    expect((await runCli(['user', 'add', '--username', 'listed.user', '--data', data.dir], 'another long password')).code).toBe(0);
    const hash = (await storedUser('listed.user'))!.passwordHash;
    const run = await runCli(['user', 'list', '--data', data.dir, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const users = JSON.parse(run.stdout) as Array<Record<string, unknown>>;
    const listed = users.find((u) => u.username === 'listed.user');
    expect(Object.keys(listed!).sort()).toEqual(['break_glass', 'created_at', 'disabled', 'fhirUser', 'id', 'patient_panel', 'role', 'username']);
    expect(users.map((u) => u.username)).toContain(data.demo.username);
    expect(run.stdout).not.toContain(hash);
    expect(run.stdout).not.toContain('argon2');
    const text = await runCli(['user', 'list', '--data', data.dir]);
    expect(text.stdout).toMatch(/^ID\s+USERNAME\s+DISABLED/);
    expect(text.stdout).not.toContain('argon2');
  });

  it('user disable marks the account disabled; user enable undoes it; an unknown user exits 1', async () => {
    expect((await runCli(['user', 'add', '--username', 'to.disable', '--data', data.dir], 'a long enough password')).code).toBe(0);
    const run = await runCli(['user', 'disable', 'to.disable', '--data', data.dir]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('to.disable disabled');
    expect((await listUsers()).find((u) => u.username === 'to.disable')?.disabled).toBe(true);
    expect((await storedUser('to.disable'))?.disabled).toBe(true);
    expect((await listUsers()).find((u) => u.username === data.demo.username)?.disabled).toBe(false);

    expect((await runCli(['user', 'enable', 'to.disable', '--data', data.dir])).code).toBe(0);
    expect((await storedUser('to.disable'))?.disabled).toBe(false);

    const unknown = await runCli(['user', 'disable', 'nobody.here', '--data', data.dir]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no user "nobody.here"');
  });
});
