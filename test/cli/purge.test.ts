import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqlDriver } from '../../src/storage/sql.js';
import { createEmptyDataDir, runCli } from './harness.js';

let data: { dir: string; remove(): void };
beforeAll(() => { data = createEmptyDataDir(); });
afterAll(() => data?.remove());

describe('caduceus purge', () => {
  it('purge deletes expired rows now, prints the count per table, and leaves live ones', async () => {
    const first = await runCli(['purge', '--data', data.dir]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toBe('Nothing had expired; nothing deleted.\n');
    const driver = await openSqlDriver(`sqlite:${join(data.dir, 'caduceus.db')}`);
    try {
      await driver.run('INSERT INTO replay_values (replay_key, expires_at) VALUES ($1, $2), ($3, $4)', ['old', Date.now() - 1000, 'live', Date.now() + 3_600_000]);
    } finally {
      await driver.close();
    }
    const run = await runCli(['purge', '--data', data.dir, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const { deleted } = JSON.parse(run.stdout) as { deleted: Record<string, number> };
    expect(deleted.replay_values).toBe(1);
    expect(Object.entries(deleted).filter(([table]) => table !== 'replay_values').every(([, n]) => n === 0)).toBe(true);
    const again = await runCli(['purge', '--data', data.dir, '--json']);
    expect(JSON.parse(again.stdout).deleted.replay_values).toBe(0);
  });

  it('purge without a configuration exits 2 explaining --config or --data', async () => {
    const run = await runCli(['purge', '--data', `${data.dir}/missing`]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('pass --config caduceus.yaml, or --data DIR');
  });
});
