import { describe, expect, it } from 'vitest';
import { runCli } from './harness.js';

describe('caduceus command dispatch and help', () => {
  const subcommands: Record<string, string[]> = {
    client: ['add', 'list', 'show', 'remove'],
    user: ['add', 'list', 'disable', 'enable'],
    keys: ['list', 'rotate'],
  };

  for (const [command, subs] of Object.entries(subcommands)) {
    it(`${command} --help and every "${command} SUB --help" print the help and exit 0`, async () => {
      for (const argv of [[command, '--help'], [command, '-h'], ...subs.map((s) => [command, s, '--help'])]) {
        const run = await runCli(argv);
        expect(run.code, argv.join(' ')).toBe(0);
        expect(run.stdout).toContain(`caduceus ${command} ${subs[0]}`);
        for (const s of subs) expect(run.stdout).toContain(`caduceus ${command} ${s}`);
        expect(run.stderr).toBe('');
      }
    });

    it(`${command} without a subcommand, or with an unknown one, exits 2 naming the subcommands`, async () => {
      for (const argv of [[command], [command, 'frobnicate']]) {
        const run = await runCli(argv);
        expect(run.code).toBe(2);
        expect(run.stderr).toContain(subs.join(', '));
      }
    });
  }

  it('migrate --help prints its usage and exits 0', async () => {
    const run = await runCli(['migrate', '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Usage: caduceus migrate');
  });

  it('the top-level help lists the client, user, keys and migrate commands', async () => {
    const run = await runCli(['--help']);
    expect(run.code).toBe(0);
    for (const name of ['client', 'user', 'keys', 'migrate']) expect(run.stdout).toMatch(new RegExp(`^  ${name}\\s`, 'm'));
  });

  it('caduceus nosuch exits 2 naming the unknown command', async () => {
    const run = await runCli(['nosuch']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('unknown command "nosuch"');
  });
});
