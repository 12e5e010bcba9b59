// The startup gate of `caduceus serve`: refuses on an error finding, starts loudly with
// unsafe.allow_noncompliant_start, starts quietly when only warnings remain.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDataDir, runCli, type DataDir } from '../cli/harness.js';
import { runStartupGate } from '../../src/compliance/startup.js';
import { createContext } from '../../src/server/start.js';
import type { CaduceusConfig } from '../../src/config/schema.js';

let data: DataDir;
beforeAll(async () => {
  data = await createDataDir();
});
afterAll(() => data.remove());

async function gate(edit: (c: CaduceusConfig) => void) {
  const config = structuredClone(data.config);
  edit(config);
  const ctx = await createContext(config, { env: {}, syncClients: false });
  let stderr = '';
  try {
    const result = await runStartupGate(ctx, { stderr: (t) => { stderr += t; }, env: {} });
    return { ...result, stderr };
  } finally {
    await ctx.close();
  }
}

describe('serve startup gate', () => {
  it('starts a compliant configuration without printing errors', async () => {
    // The dev stack's configuration, without the one unsafe switch it turns on.
    const r = await gate((c) => { c.unsafe.allow_loopback_client_metadata = false; });
    expect(r.start).toBe(true);
    expect(r.report.summary.error).toBe(0);
    expect(r.stderr).not.toMatch(/refusing|NON-COMPLIANT/);
  });

  it('refuses to start with an unsafe switch on, printing the finding and the override', async () => {
    const r = await gate((c) => { c.unsafe.tls_terminated_by_proxy = true; });
    expect(r.start).toBe(false);
    expect(r.stderr).toContain('caduceus serve: refusing to start');
    expect(r.stderr).toMatch(/ERROR\s+CAD-UNS-001\s+unsafe\.tls_terminated_by_proxy/);
    expect(r.stderr).toContain('unsafe.allow_noncompliant_start');
  });

  it('refuses on any error finding, e.g. a 30-minute session idle timeout', async () => {
    const r = await gate((c) => { c.session.idle_timeout = 1800; c.session.absolute_timeout = 43_200; });
    expect(r.start).toBe(false);
    expect(r.stderr).toMatch(/ERROR\s+CAD-SES-001\s+session\.idle_timeout/);
  });

  it('starts with unsafe.allow_noncompliant_start under a loud warning that lists the errors, the switch included', async () => {
    const r = await gate((c) => { c.unsafe.tls_terminated_by_proxy = true; c.unsafe.allow_noncompliant_start = true; });
    expect(r.start).toBe(true);
    expect(r.stderr).toContain('!!! WARNING: STARTING A NON-COMPLIANT SERVER');
    expect(r.stderr).toMatch(/CAD-UNS-001\s+unsafe\.allow_noncompliant_start/);
    expect(r.stderr).toMatch(/CAD-UNS-001\s+unsafe\.tls_terminated_by_proxy/);
    expect(r.report.findings).toContainEqual(expect.objectContaining({ ruleId: 'CAD-UNS-001', location: 'unsafe.allow_noncompliant_start', severity: 'error' }));
  });

  it('caduceus serve exits 1 before listening when the gate refuses', async () => {
    const config = structuredClone(data.config) as CaduceusConfig;
    config.unsafe.allow_plain_http = true;
    const file = join(data.dir, 'refused.yaml');
    writeFileSync(file, stringify(config));
    const run = await runCli(['serve', '--config', file]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('refusing to start');
    expect(run.stderr).toContain('CAD-UNS-001');
    expect(run.stderr).not.toContain('serving');
  });
});
