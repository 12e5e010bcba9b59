import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrations } from '../../src/storage/migrations/index.js';
import { createEmptyDataDir, runCli } from './harness.js';

let data: { dir: string; remove(): void };
beforeAll(() => { data = createEmptyDataDir(); });
afterAll(() => data?.remove());

describe('caduceus migrate', () => {
  const ids = migrations.map((m) => m.id);

  it('migrate applies every migration to a new database and prints their ids', async () => {
    const run = await runCli(['migrate', '--data', data.dir, '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ applied: ids, current: ids });
  });

  it('migrate on a current database applies nothing and says so', async () => {
    const json = await runCli(['migrate', '--data', data.dir, '--json']);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ applied: [], current: ids });
    const text = await runCli(['migrate', '--data', data.dir]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('nothing applied');
  });

  it('migrate without a configuration exits 2 explaining --config or --data', async () => {
    const run = await runCli(['migrate', '--data', `${data.dir}/missing`]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('pass --config caduceus.yaml, or --data DIR');
  });

  it('migrate with both --config and --data exits 2', async () => {
    const run = await runCli(['migrate', '--config', 'x.yaml', '--data', data.dir]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('not both');
  });
});
