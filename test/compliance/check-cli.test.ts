// `caduceus check`: exit codes, formats, and the configuration and stored state it reads.
import { chmodSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDataDir, runCli, type DataDir } from '../cli/harness.js';
import type { CaduceusConfig } from '../../src/config/schema.js';
import { sarifProblems } from './sarif-validate.js';

let data: DataDir;

/** Writes the data folder's configuration as caduceus.yaml, changed by `edit`. */
function writeConfig(name: string, edit: (c: Record<string, any>) => void = () => {}): string {
  const config = structuredClone(data.config) as CaduceusConfig & Record<string, any>;
  edit(config);
  const file = join(data.dir, name);
  writeFileSync(file, stringify(config));
  return file;
}

beforeAll(async () => {
  data = await createDataDir();
});
afterAll(() => data.remove());

describe('caduceus check', () => {
  it('on the dev stack, the one error is its loopback metadata switch (issue 14: caduceus check reports it)', async () => {
    const run = await runCli(['check', '--data', data.dir]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^caduceus check: .*: 1 error, /);
    expect(run.stdout).toMatch(/ERROR\s+CAD-UNS-001\s+unsafe\.allow_loopback_client_metadata/);
  });

  it('exits 0 on the dev stack without that switch, where nothing else reaches error', async () => {
    const file = writeConfig('no-loopback-metadata.yaml', (c) => { c.unsafe.allow_loopback_client_metadata = false; });
    const run = await runCli(['check', '--config', file]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^caduceus check: .*: 0 errors, /);
  });

  it('exits 1 on a warning with --fail-on warning, 0 without', async () => {
    const file = writeConfig('no-witness.yaml', (c) => { delete c.audit.witness_file; c.unsafe.allow_loopback_client_metadata = false; });
    const lenient = await runCli(['check', '--config', file, '--format', 'json']);
    expect(lenient.code).toBe(0);
    const report = JSON.parse(lenient.stdout);
    expect(report.findings).toContainEqual(expect.objectContaining({ ruleId: 'CAD-AUD-001', severity: 'warning', location: 'audit.witness_file' }));
    expect(report.summary.error).toBe(0);
    const strict = await runCli(['check', '--config', file, '--fail-on', 'warning']);
    expect(strict.code).toBe(1);
    expect(strict.stdout).toContain('CAD-AUD-001');
  });

  it('exits 1 when an unsafe switch is on, naming the switch', async () => {
    const file = writeConfig('unsafe.yaml', (c) => { c.unsafe.allow_noncompliant_start = true; });
    const run = await runCli(['check', '--config', file]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/ERROR\s+CAD-UNS-001\s+unsafe\.allow_noncompliant_start/);
  });

  it('reads the stored clients: an admin client with a wildcard write scope fails', async () => {
    const add = await runCli(['client', 'add', '--data', data.dir, '--id', 'too-broad', '--name', 'Too broad', '--grant', 'client_credentials',
      '--auth', 'client_secret_basic', '--scope', 'system/*.cruds', '--resource', data.demo.resource]);
    expect(add.code).toBe(0);
    try {
      const run = await runCli(['check', '--data', data.dir, '--format', 'json']);
      expect(run.code).toBe(1);
      expect(JSON.parse(run.stdout).findings).toContainEqual(expect.objectContaining({ ruleId: 'CAD-SCP-001', severity: 'error', location: 'client:too-broad' }));
    } finally {
      await runCli(['client', 'remove', '--data', data.dir, 'too-broad']);
    }
  });

  it('writes valid SARIF pointing at the configuration file', async () => {
    const file = writeConfig('sarif.yaml', (c) => { c.session.idle_timeout = 1800; });
    const run = await runCli(['check', '--config', file, '--format', 'sarif']);
    expect(run.code).toBe(1);
    const sarif = JSON.parse(run.stdout);
    expect(sarifProblems(sarif)).toEqual([]);
    const result = sarif.runs[0].results.find((r: any) => r.ruleId === 'CAD-SES-001');
    expect(result.level).toBe('error');
    const rel = relative(process.cwd(), file);
    expect(result.locations[0].physicalLocation.artifactLocation.uri).toBe(rel.startsWith('..') ? pathToFileURL(file).href : rel.split('\\').join('/'));
    expect(result.locations[0].physicalLocation.region.startLine).toBeGreaterThan(1);
  });

  it('still checks the configuration when the master key cannot be used, and fails', async () => {
    const keyFile = data.config.master_key_file!;
    chmodSync(keyFile, 0o644);
    try {
      const run = await runCli(['check', '--data', data.dir, '--format', 'json']);
      expect(run.code).toBe(1);
      const findings = JSON.parse(run.stdout).findings;
      expect(findings).toContainEqual(expect.objectContaining({ ruleId: 'CAD-MKY-001', severity: 'error', message: expect.stringContaining('0644') }));
      expect(findings).toContainEqual(expect.objectContaining({ ruleId: 'CAD-AUD-002', severity: 'error' }));
    } finally {
      chmodSync(keyFile, 0o600);
    }
  });

  it('exits 2 on usage errors', async () => {
    for (const argv of [
      ['check', '--data', data.dir, '--format', 'xml'],
      ['check', '--data', data.dir, '--fail-on', 'fatal'],
      ['check', '--data', data.dir, '--config', 'x.yaml'],
      ['check', '--data', data.dir, '--nope'],
    ]) {
      const run = await runCli(argv);
      expect(run.code, argv.join(' ')).toBe(2);
      expect(run.stderr).toMatch(/^caduceus check: /);
    }
  });

  it('--help prints the usage and exits 0', async () => {
    const run = await runCli(['check', '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Usage: caduceus check');
  });
});
