import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeyView } from '../../src/cli/keys.js';
import { createDataDir, runCli, type DataDir } from './harness.js';

let data: DataDir;
beforeAll(async () => { data = await createDataDir(); });
afterAll(() => data?.remove());

async function listKeys(): Promise<KeyView[]> {
  const run = await runCli(['keys', 'list', '--data', data.dir, '--json']);
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as KeyView[];
}

describe('caduceus keys', () => {
  it('keys list shows the one active key of a fresh stack', async () => {
    const keys = await listKeys();
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ alg: 'ES256', state: 'active', retired: null, expires: null });
    expect(keys[0]!.kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const text = await runCli(['keys', 'list', '--data', data.dir]);
    expect(text.stdout).toMatch(/^KID\s+ALG\s+STATE/);
    expect(text.stdout).toContain(keys[0]!.kid);
  });

  it('keys rotate adds a key; keys list then shows the new key active and the old one retired, published for the token lifetime + 60 s', async () => {
    const [before] = await listKeys();
    const run = await runCli(['keys', 'rotate', '--data', data.dir, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout) as { kid: string; previous_kid: string; activates: string; retired: Array<{ kid: string; retired: string; expires: string }> };
    expect(out.kid).not.toBe(before!.kid);
    expect(out.previous_kid).toBe(before!.kid);
    expect(out.retired.map((r) => r.kid)).toEqual([before!.kid]);

    const keys = await listKeys();
    expect(keys).toHaveLength(2);
    const fresh = keys.find((k) => k.kid === out.kid);
    const old = keys.find((k) => k.kid === before!.kid);
    expect(fresh?.state).toBe('active');
    expect(old?.state).toBe('retired');
    expect(old?.retired).toBe(out.activates);
    // retainMs = max(access_token_ttl, id_token_ttl) * 1000 + 60 s, plus the KeyManager's 5 s cache.
    const { access_token_ttl, id_token_ttl } = data.config.tokens;
    const retainMs = Math.max(access_token_ttl, id_token_ttl) * 1000 + 60_000 + 5_000;
    expect(Date.parse(old!.expires!) - Date.parse(old!.retired!)).toBe(retainMs);
  });

  it('keys rotate --publish-ahead publishes the new key without signing with it yet', async () => {
    const run = await runCli(['keys', 'rotate', '--publish-ahead', '3600', '--data', data.dir, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout) as { kid: string; previous_kid: string; activates: string };
    expect(Date.parse(out.activates) - Date.now()).toBeGreaterThan(3_500_000);
    const keys = await listKeys();
    expect(keys.find((k) => k.kid === out.kid)?.state).toBe('published');
    // The previous key keeps signing until the new one activates.
    expect(keys.find((k) => k.kid === out.previous_kid)?.state).toBe('active');
    expect(keys.filter((k) => k.state === 'active')).toHaveLength(1);
  });

  it('keys rotate text output names the new and the retired kid', async () => {
    const before = (await listKeys()).find((k) => k.state === 'active')!;
    const run = await runCli(['keys', 'rotate', '--data', data.dir]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^New signing key [A-Za-z0-9_-]{43}: published now/);
    expect(run.stdout).toContain(`Retired ${before.kid}`);
  });

  it('a --publish-ahead that is not a whole number of seconds exits 2', async () => {
    for (const value of ['-5', '1.5', 'soon']) {
      const run = await runCli(['keys', 'rotate', `--publish-ahead=${value}`, '--data', data.dir]);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain('--publish-ahead');
      expect(run.stderr).toContain('whole number of seconds');
    }
  });
});
