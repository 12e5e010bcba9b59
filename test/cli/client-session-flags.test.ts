// `caduceus client add|update --session-idle SECONDS --session-absolute SECONDS`: per-client
// automatic logoff (45 CFR 164.312(a)(2)(iii)) for CLI-managed clients, validated and audited.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { searchEvents } from '../../src/audit/search.js';
import { openStorage } from '../../src/storage/index.js';
import type { Storage } from '../../src/storage/types.js';
import { createDataDir, runCli, type DataDir } from './harness.js';

let data: DataDir;
beforeAll(async () => { data = await createDataDir(); });
afterAll(() => data?.remove());

const addArgs = (id: string, extra: string[] = []) => [
  'client', 'add', '--data', data.dir, '--id', id, '--name', 'Timed App', '--grant', 'authorization_code',
  '--redirect-uri', 'https://app.example.test/cb', '--scope', 'openid', '--resource', data.demo.resource, '--auth', 'none', ...extra,
];
const updateArgs = (id: string, extra: string[]) => ['client', 'update', id, '--data', data.dir, ...extra];

async function withStorage<T>(fn: (storage: Storage) => Promise<T>): Promise<T> {
  const storage = await openStorage(data.config.storage);
  try {
    return await fn(storage);
  } finally {
    await storage.close();
  }
}

const storedPolicy = (id: string) => withStorage((s) => s.clientPolicies.get(id));
const changeEvents = (id: string) => withStorage(async (s) => (await searchEvents(s.sql, { type: 'client.changed', limit: 1000 })).filter((e) => e.resource === id));

describe('client add --session-idle / --session-absolute', () => {
  it('stores both limits, prints and shows them, and audits them with the new client', async () => {
    const run = await runCli(addArgs('timed-app', ['--session-idle', '60', '--session-absolute', '3600', '--json']));
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ client_id: 'timed-app', session_idle_timeout: 60, session_absolute_timeout: 3600 });
    expect(await storedPolicy('timed-app')).toEqual({ dpopBoundAccessTokens: false, requirePushedAuthorizationRequests: false, sessionIdleTimeout: 60, sessionAbsoluteTimeout: 3600 });
    const show = await runCli(['client', 'show', 'timed-app', '--data', data.dir, '--json']);
    expect(JSON.parse(show.stdout)).toMatchObject({ session_idle_timeout: 60, session_absolute_timeout: 3600 });
    const [created] = await changeEvents('timed-app');
    expect(created).toMatchObject({ action: 'create', outcome: 'success' });
    expect(created!.changes).toEqual(expect.arrayContaining([
      { field: 'sessionIdleTimeout', before: null, after: 60 },
      { field: 'sessionAbsoluteTimeout', before: null, after: 3600 },
    ]));
  });

  it('the text output names the limits; one limit alone leaves the other unset', async () => {
    const run = await runCli(addArgs('idle-only-app', ['--session-idle', '300']));
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('session:        idle 300 s (each capped by the global session limit)');
    expect(await storedPolicy('idle-only-app')).toEqual({ dpopBoundAccessTokens: false, requirePushedAuthorizationRequests: false, sessionIdleTimeout: 300 });
  });

  it('without the flags the client has no limits of its own', async () => {
    const run = await runCli(addArgs('untimed-app', ['--json']));
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).not.toHaveProperty('session_idle_timeout');
    expect(await storedPolicy('untimed-app')).toEqual({ dpopBoundAccessTokens: false, requirePushedAuthorizationRequests: false });
  });

  it('a value that is not a whole number of seconds above 0 exits 2 naming the flag and the fix, and adds nothing', async () => {
    for (const [flag, value, example] of [['--session-idle', 'abc', '300'], ['--session-idle', '0', '300'], ['--session-absolute', '1.5', '3600'], ['--session-absolute', 'none', '3600']] as const) {
      const run = await runCli(addArgs('bad-timed-app', [flag, value]));
      expect(run.code, `${flag} ${value}`).toBe(2);
      expect(run.stderr).toContain(`caduceus client: ${flag} ${value}: not a whole number of seconds greater than 0; give one, e.g. ${flag} ${example}\n`);
    }
    expect(await withStorage((s) => s.clients.get('bad-timed-app'))).toBeUndefined();
  });

  it('an idle limit above the absolute one exits 1 naming the field and its flag', async () => {
    const run = await runCli(addArgs('inverted-app', ['--session-idle', '600', '--session-absolute', '300']));
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      'caduceus client add: the client was not added:\n'
      + '  - session.idle_timeout (--session-idle): must not exceed this client\'s session.absolute_timeout (300); lower it or raise absolute_timeout\n',
    );
    expect(await withStorage((s) => s.clients.get('inverted-app'))).toBeUndefined();
  });

  it('the help lists both flags and the update subcommand', async () => {
    const run = await runCli(['client', '--help']);
    expect(run.stdout).toContain('--session-idle SECONDS');
    expect(run.stdout).toContain('--session-absolute SECONDS');
    expect(run.stdout).toContain('caduceus client update ID');
  });
});

describe('client update --session-idle / --session-absolute', () => {
  it('changes one limit, keeps the other, and audits the change with before and after', async () => {
    expect((await runCli(addArgs('updated-app', ['--session-idle', '60', '--session-absolute', '3600']))).code).toBe(0);
    const run = await runCli(updateArgs('updated-app', ['--session-idle', '120', '--json']));
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ client_id: 'updated-app', session_idle_timeout: 120, session_absolute_timeout: 3600 });
    expect(await storedPolicy('updated-app')).toMatchObject({ sessionIdleTimeout: 120, sessionAbsoluteTimeout: 3600 });
    const [updated] = await changeEvents('updated-app');
    expect(updated).toMatchObject({ action: 'update', outcome: 'success', actor: { userId: expect.stringMatching(/^cli:/) } });
    expect(updated!.changes).toEqual([{ field: 'sessionIdleTimeout', before: 60, after: 120 }]);
  });

  it('"none" clears a limit; the text output says when only the global limits remain', async () => {
    expect((await runCli(addArgs('cleared-app', ['--session-idle', '60']))).code).toBe(0);
    const run = await runCli(updateArgs('cleared-app', ['--session-idle', 'none']));
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe('Client cleared-app updated.\n  session:        the global limits only\n');
    expect(await storedPolicy('cleared-app')).toEqual({ dpopBoundAccessTokens: false, requirePushedAuthorizationRequests: false });
    expect((await changeEvents('cleared-app'))[0]!.changes).toEqual([{ field: 'sessionIdleTimeout', before: 60, after: null }]);
  });

  it('keeps the DPoP and PAR flags of the client', async () => {
    expect((await runCli(addArgs('flagged-timed-app', ['--require-par']))).code).toBe(0);
    expect((await runCli(updateArgs('flagged-timed-app', ['--session-absolute', '1800']))).code).toBe(0);
    expect(await storedPolicy('flagged-timed-app')).toEqual({ dpopBoundAccessTokens: false, requirePushedAuthorizationRequests: true, sessionAbsoluteTimeout: 1800 });
  });

  it('a bad value exits 2 naming the flag, the fix and "none"; no flag at all exits 2', async () => {
    expect((await runCli(addArgs('stays-app', ['--session-idle', '60']))).code).toBe(0);
    const bad = await runCli(updateArgs('stays-app', ['--session-idle=-1']));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('caduceus client: --session-idle -1: not a whole number of seconds greater than 0; give one, e.g. --session-idle 300, or "none" to clear the limit\n');
    const nothing = await runCli(updateArgs('stays-app', []));
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toContain('nothing to change: give --session-idle SECONDS and/or --session-absolute SECONDS');
    expect((await storedPolicy('stays-app'))?.sessionIdleTimeout).toBe(60);
  });

  it('a change that puts the idle limit above the absolute one exits 1 naming the flag, and changes nothing', async () => {
    expect((await runCli(addArgs('kept-app', ['--session-idle', '600']))).code).toBe(0);
    const run = await runCli(updateArgs('kept-app', ['--session-absolute', '300']));
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      'caduceus client update: the client was not changed:\n'
      + '  - session.idle_timeout (--session-idle): must not exceed this client\'s session.absolute_timeout (300); lower it or raise absolute_timeout\n',
    );
    expect(await storedPolicy('kept-app')).toMatchObject({ sessionIdleTimeout: 600 });
    expect(await storedPolicy('kept-app')).not.toHaveProperty('sessionAbsoluteTimeout');
  });

  it('an unknown client exits 1; a client of the configuration file exits 1 pointing at clients[].session', async () => {
    const unknown = await runCli(updateArgs('nobody-app', ['--session-idle', '60']));
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe('caduceus client: no client "nobody-app" (see caduceus client list)\n');
    await withStorage(async (s) => {
      const demo = (await s.clients.get(data.demo.client_id))!;
      await s.clients.upsert({ ...demo, clientId: 'from-config-app', source: 'config' });
    });
    const config = await runCli(updateArgs('from-config-app', ['--session-idle', '60']));
    expect(config.code).toBe(1);
    expect(config.stderr).toContain('from-config-app is declared in the configuration file; set its session limits under "clients[].session" there and restart');
    expect(await storedPolicy('from-config-app')).not.toHaveProperty('sessionIdleTimeout');
  });
});
