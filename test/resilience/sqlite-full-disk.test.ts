// SQLite on a full disk (and, at the end, a read-only file): the database lives on a small tmpfs of the test's own; a filler file takes
// the last free byte while token requests run. Proves: requests answer 200 or 503
// temporarily_unavailable with Retry-After (never 500, never a hang); every token acknowledged with
// 200 has its token.issued event in the ledger; the ledger verifies; and once the filler is
// removed the server answers 200 again without a restart.
//
// Mounting needs root (as CI runs). Elsewhere the test is skipped with a warning, and under
// CI=true it fails instead.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, openSync, rmSync, rmdirSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { startTestStack, type TestStack } from '../support/stack.js';
import { verifyLedger } from '../../src/audit/verify.js';

function mountTmpfs(dir: string, size: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' });
    return true;
  } catch (err) {
    if (process.env.CI === 'true') throw new Error(`mounting a tmpfs failed under CI=true: ${(err as Error).message}`);
    console.warn('\n!!! cannot mount a tmpfs (not root?): the SQLite full-disk test is SKIPPED.\n');
    return false;
  }
}

/** Writes into path until the file system has no space left. */
function fillDisk(path: string): void {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  try {
    for (let i = 0; i < 100_000; i++) {
      try {
        writeSync(fd, chunk);
      } catch (err) {
        if ((err as { code?: string }).code !== 'ENOSPC') throw err;
        // The last partial block too.
        for (let j = 0; j < 64; j++) {
          try { writeSync(fd, Buffer.alloc(1024, 0x61)); } catch { break; }
        }
        return;
      }
    }
    throw new Error('the tmpfs never filled up');
  } finally {
    closeSync(fd);
  }
}

const mountPoint = mkdtempSync(join(tmpdir(), 'caduceus-full-disk-'));
const mounted = mountTmpfs(mountPoint, '16m');

describe.skipIf(!mounted)('SQLite on a full disk', () => {
  let stack: TestStack;
  let dispatcher: Agent;
  const filler = join(mountPoint, 'filler');

  beforeAll(async () => {
    stack = await startTestStack({ storage: `sqlite:${join(mountPoint, 'caduceus.db')}` });
    dispatcher = new Agent({ connect: { ca: stack.ca }, headersTimeout: 15_000, bodyTimeout: 15_000 });
  });
  afterAll(async () => {
    await dispatcher?.close();
    await stack?.close();
    try { execFileSync('umount', [mountPoint], { stdio: 'pipe' }); } catch { /* already gone */ }
    rmdirSync(mountPoint);
  });

  async function token(): Promise<{ status: number; body: Record<string, unknown>; retryAfter?: string }> {
    const res = await request(`${stack.issuer}/token`, {
      method: 'POST', dispatcher,
      headers: {
        authorization: `Basic ${Buffer.from(`${stack.demo.cc_client_id}:${stack.demo.cc_client_secret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: stack.demo.cc_scope, resource: stack.demo.resource }).toString(),
    });
    const body = await res.body.json() as Record<string, unknown>;
    const retryAfter = res.headers['retry-after'];
    return { status: res.statusCode, body, ...(typeof retryAfter === 'string' ? { retryAfter } : {}) };
  }

  const jtiOf = (accessToken: string): string => (JSON.parse(Buffer.from(accessToken.split('.')[1]!, 'base64url').toString('utf8')) as { jti: string }).jti;

  it('answers 503 with Retry-After while the disk is full, loses no acknowledged event, and recovers when space returns', { timeout: 120_000 }, async () => {
    const acknowledged: string[] = [];
    const statuses = new Map<number, number>();
    const note = (r: { status: number; body: Record<string, unknown> }) => {
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      if (r.status === 200) acknowledged.push(jtiOf(r.body.access_token as string));
    };
    const first = await token();
    expect(first.status).toBe(200);
    note(first);

    fillDisk(filler);
    // Concurrent requests while the disk is full: each answers 200 (space found in an already
    // allocated page) or 503, and the full disk shows within a few rounds.
    let refused: Awaited<ReturnType<typeof token>> | undefined;
    for (let round = 0; round < 20 && !refused; round++) {
      const results = await Promise.all(Array.from({ length: 8 }, () => token()));
      for (const r of results) {
        note(r);
        if (r.status === 503) refused = r;
      }
    }
    expect(refused, 'no request was refused while the disk was full').toBeDefined();
    expect(refused!.body.error).toBe('temporarily_unavailable');
    expect(Number(refused!.retryAfter)).toBeGreaterThan(0);
    expect([...statuses.keys()].filter((s) => s !== 200 && s !== 503)).toEqual([]);

    rmSync(filler);
    // Recovery without a restart.
    const deadline = Date.now() + 10_000;
    let after = await token();
    while (after.status !== 200 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      after = await token();
    }
    expect(after.status).toBe(200);
    note(after);

    // Every acknowledged token has its token.issued event.
    const rows = await stack.ctx.storage.sql.all<{ event_json: string }>("SELECT event_json FROM audit_events WHERE type = 'token.issued'");
    const recorded = new Set(rows.map((r) => (JSON.parse(r.event_json) as { jti?: string }).jti));
    expect(acknowledged.filter((jti) => !recorded.has(jti))).toEqual([]);
    const verdict = await verifyLedger(stack.ctx.storage.sql);
    expect(verdict.ok).toBe(true);
  });
});

// A database file that has become read-only (a file system remounted read-only under a running
// server cannot be staged here: the kernel refuses the remount while the file is open for writing),
// injected at the driver boundary: the real error better-sqlite3 raises for a write to a read-only
// database is what the driver reports as ERR_STORAGE_UNAVAILABLE (answered 503 like a full disk),
// while a constraint violation keeps its own code.
describe('SQLite on a read-only file', () => {
  it('reports a write to a read-only database as unavailable storage, and a constraint violation as itself', async () => {
    const { default: Database } = await import('better-sqlite3');
    const { asStorageError } = await import('../../src/storage/sqlite/driver.js');
    const dir = mkdtempSync(join(tmpdir(), 'caduceus-readonly-'));
    try {
      const path = join(dir, 'db.sqlite');
      const rw = new Database(path);
      rw.exec('CREATE TABLE t (id TEXT PRIMARY KEY)');
      rw.exec("INSERT INTO t VALUES ('a')");
      const duplicate = (() => { try { rw.exec("INSERT INTO t VALUES ('a')"); } catch (e) { return e; } return undefined; })();
      rw.close();
      const ro = new Database(path, { readonly: true });
      const readOnly = (() => { try { ro.exec("INSERT INTO t VALUES ('b')"); } catch (e) { return e; } return undefined; })();
      ro.close();
      expect(readOnly).toMatchObject({ code: 'SQLITE_READONLY' });
      expect(asStorageError(readOnly)).toMatchObject({ code: 'ERR_STORAGE_UNAVAILABLE' });
      expect(duplicate).toMatchObject({ code: 'SQLITE_CONSTRAINT_PRIMARYKEY' });
      expect(asStorageError(duplicate)).toBe(duplicate);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
