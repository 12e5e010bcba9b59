// The expired-row purge (src/storage/purge.ts) on every adapter: what goes, what stays, the latest
// use of a grant kept, backlogs larger than one batch, and the schedule that runs it in servers.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStorage } from '../../src/storage/index.js';
import type { Storage } from '../../src/storage/types.js';
import { CODE_REPLAY_WINDOW_MS, PURGE_BATCH, purgeExpired, type PurgePolicy } from '../../src/storage/purge.js';
import { schedulePurge } from '../../src/ops/purge-schedule.js';
import { testAdapters, type TestDatabase } from './databases.js';

const adapters = await testAdapters();
const NOW = 1_800_000_000_000;
const HOUR = 60 * 60_000;
const DAY = 24 * HOUR;
const POLICY: PurgePolicy = { sessionIdleMs: 15 * 60_000, sessionAbsoluteMs: 12 * HOUR, throttleWindowMs: 15 * 60_000 };

describe.each(adapters)('expired-row purge on $name', (adapter) => {
  let db: TestDatabase;
  let storage: Storage;
  const insert = (table: string, row: Record<string, string | number | null>) => {
    const keys = Object.keys(row);
    return storage.sql.run(`INSERT INTO ${table} (${keys.join(', ')}) VALUES (${keys.map((_, i) => `$${i + 1}`).join(', ')})`, Object.values(row));
  };
  const column = async (table: string, key: string) => (await storage.sql.all<Record<string, string>>(`SELECT ${key} AS k FROM ${table} ORDER BY ${key}`)).map((r) => String(r.k));
  const grant = (id: string) => insert('grants', { grant_id: id, client_id: 'app', user_id: 'user-1', consent_id: `consent-${id}`, created_at: NOW - 30 * DAY, revoked_at: null, revoked_reason: null });

  beforeEach(async () => {
    db = await adapter.open();
    storage = await openStorage(db.url);
  });
  afterEach(async () => {
    await storage?.close();
    await db?.cleanup();
  });

  it('deletes only rows that can never be accepted again, and leaves the ledger, consents and grants alone', async () => {
    await grant('g1');
    await insert('consents', { id: 'consent-g1', user_id: 'user-1', client_id: 'app', scopes_granted: '[]', scopes_denied: '[]', resource: null, created_at: NOW - 30 * DAY, client_address: '127.0.0.1', user_agent: 'test', text_version: 'v1', revoked_at: null });
    await storage.sql.run("INSERT INTO break_glass_accesses (id, user_id, client_id, grant_id, patient, reason, created_at, expires_at) VALUES ('bg1', 'user-1', 'app', 'g1', 'p1', 'emergency care needed', $1, $2)", [NOW - 30 * DAY, NOW - 30 * DAY + 900_000]);
    // Codes: expired more than a day ago (goes), expired an hour ago (kept for replay detection), live.
    const code = (digest: string, expiresAt: number) => insert('authorization_codes', { digest, client_id: 'app', grant_id: 'g1', sealed: 'x', expires_at: expiresAt, consumed_at: null });
    await code('code-old', NOW - CODE_REPLAY_WINDOW_MS - 1);
    await code('code-recent', NOW - HOUR);
    await code('code-live', NOW + 60_000);
    // Refresh tokens: past the absolute expiry (goes); consumed and idle-expired but inside the
    // absolute lifetime (kept: a reuse must still revoke the family); live.
    const refresh = (digest: string, expiresAt: number, absolute: number, consumedAt: number | null) => insert('refresh_tokens', {
      digest, grant_id: 'g1', client_id: 'app', sealed: 'x', created_at: NOW - 2 * DAY, expires_at: expiresAt, absolute_expires_at: absolute, consumed_at: consumedAt, revoked_at: null,
    });
    await refresh('rt-dead', NOW - 2 * HOUR, NOW - HOUR, null);
    await refresh('rt-consumed', NOW - HOUR, NOW + DAY, NOW - 2 * HOUR);
    await refresh('rt-live', NOW + HOUR, NOW + DAY, null);
    await insert('access_tokens', { jti: 'jti-old', grant_id: 'g1', client_id: 'app', expires_at: NOW - 1, revoked_at: NOW - HOUR });
    await insert('access_tokens', { jti: 'jti-live', grant_id: 'g1', client_id: 'app', expires_at: NOW + 60_000, revoked_at: NOW - 1 });
    for (const [suffix, expiresAt] of [['old', NOW - 1], ['live', NOW + 60_000]] as const) {
      await insert('interactions', { id: `i-${suffix}`, browser_digest: 'b', sealed: 'x', created_at: NOW - HOUR, expires_at: expiresAt });
      await insert('pending_logins', { digest: `pl-${suffix}`, user_id: 'user-1', sealed: 'x', created_at: NOW - HOUR, expires_at: expiresAt });
      await insert('pushed_authorization_requests', { digest: `par-${suffix}`, client_id: 'app', sealed: 'x', created_at: NOW - HOUR, expires_at: expiresAt, consumed_at: null });
      await insert('launch_contexts', { digest: `lc-${suffix}`, client_id: 'app', context: '{}', created_by: 'ehr', created_at: NOW - HOUR, expires_at: expiresAt, consumed_at: null });
      await insert('replay_values', { replay_key: `rv-${suffix}`, expires_at: expiresAt });
      await insert('dpop_code_bindings', { binding_key: `db-${suffix}`, jkt: 'j', expires_at: expiresAt });
    }
    // Sessions: idle too long, too old altogether, and in use.
    const session = (digest: string, createdAt: number, lastSeenAt: number) => insert('sessions', { digest, user_id: 'user-1', created_at: createdAt, last_seen_at: lastSeenAt, auth_time: createdAt, amr: '["pwd"]' });
    await session('s-idle', NOW - HOUR, NOW - 16 * 60_000);
    await session('s-old', NOW - 13 * HOUR, NOW - 60_000);
    await session('s-live', NOW - HOUR, NOW - 60_000);
    await insert('throttle_hits', { throttle_key: 'k', at: NOW - 2 * DAY });
    await insert('throttle_hits', { throttle_key: 'k', at: NOW - 60_000 });
    // Rate-limit windows: one ended ten minutes ago (goes), the current one (kept).
    await insert('rate_limit_counts', { limit_name: 'token_endpoints.per_client', key_digest: 'd', window_start: NOW - 10 * 60_000, count: 3 });
    await insert('rate_limit_counts', { limit_name: 'token_endpoints.per_client', key_digest: 'd', window_start: NOW - 30_000, count: 2 });
    const ledgerRows = async () => Number((await storage.sql.get<{ n: number }>('SELECT COUNT(*) AS n FROM audit_events'))!.n);
    const ledgerBefore = await ledgerRows();

    const counts = await purgeExpired(storage.sql, NOW, POLICY);

    expect(counts).toEqual({
      authorization_codes: 1, refresh_tokens: 1, access_tokens: 1, interactions: 1, pending_logins: 1, pushed_authorization_requests: 1,
      launch_contexts: 1, replay_values: 1, dpop_code_bindings: 1, sessions: 2, throttle_hits: 1, rate_limit_counts: 1,
    });
    expect(await column('authorization_codes', 'digest')).toEqual(['code-live', 'code-recent']);
    expect(await column('refresh_tokens', 'digest')).toEqual(['rt-consumed', 'rt-live']);
    expect(await column('access_tokens', 'jti')).toEqual(['jti-live']);
    expect(await column('interactions', 'id')).toEqual(['i-live']);
    expect(await column('pending_logins', 'digest')).toEqual(['pl-live']);
    expect(await column('pushed_authorization_requests', 'digest')).toEqual(['par-live']);
    expect(await column('launch_contexts', 'digest')).toEqual(['lc-live']);
    expect(await column('replay_values', 'replay_key')).toEqual(['rv-live']);
    expect(await column('dpop_code_bindings', 'binding_key')).toEqual(['db-live']);
    expect(await column('sessions', 'digest')).toEqual(['s-live']);
    expect(await column('throttle_hits', 'at')).toEqual([String(NOW - 60_000)]);
    expect(await column('rate_limit_counts', 'window_start')).toEqual([String(NOW - 30_000)]);
    expect(await column('grants', 'grant_id')).toEqual(['g1']);
    expect(await column('consents', 'id')).toEqual(['consent-g1']);
    expect(await column('break_glass_accesses', 'id')).toEqual(['bg1']);
    expect(await ledgerRows()).toBe(ledgerBefore);
    // A second run finds nothing more.
    expect(Object.values(await purgeExpired(storage.sql, NOW, POLICY)).every((n) => n === 0)).toBe(true);
  });

  it('keeps the latest use of a grant when the rows that recorded it go, so /account still says when an app was last used', async () => {
    await grant('g2');
    await insert('authorization_codes', { digest: 'c2', client_id: 'app', grant_id: 'g2', sealed: 'x', expires_at: NOW - 3 * DAY, consumed_at: NOW - 3 * DAY - 30_000 });
    for (const [digest, createdAt] of [['r2a', NOW - 3 * DAY], ['r2b', NOW - 2 * DAY]] as const) {
      await insert('refresh_tokens', { digest, grant_id: 'g2', client_id: 'app', sealed: 'x', created_at: createdAt, expires_at: NOW - DAY, absolute_expires_at: NOW - DAY, consumed_at: null, revoked_at: null });
    }
    const lastUsed = async () => (await storage.grants.listByUser('user-1')).find((g) => g.grantId === 'g2')!.lastUsedAt;
    expect(await lastUsed()).toBe(NOW - 2 * DAY);
    const counts = await purgeExpired(storage.sql, NOW, POLICY);
    expect(counts.authorization_codes).toBe(1);
    expect(counts.refresh_tokens).toBe(2);
    expect(await column('refresh_tokens', 'digest')).toEqual([]);
    expect(await lastUsed()).toBe(NOW - 2 * DAY);
  });

  it('purges a backlog larger than one batch, all of it', async () => {
    const backlog = PURGE_BATCH * 2 + 37;
    await storage.sql.transaction(async (tx) => {
      for (let i = 0; i < backlog; i++) await tx.run('INSERT INTO replay_values (replay_key, expires_at) VALUES ($1, $2)', [`old-${i}`, NOW - 1 - i]);
    });
    await insert('replay_values', { replay_key: 'live', expires_at: NOW + 1 });
    expect((await purgeExpired(storage.sql, NOW, POLICY)).replay_values).toBe(backlog);
    expect(await column('replay_values', 'replay_key')).toEqual(['live']);
  });
});

describe('the purge schedule', () => {
  it('runs the purge in the background, logs what it deleted, and stops cleanly', async () => {
    const [adapter] = adapters;
    const db = await adapter!.open();
    const storage = await openStorage(db.url);
    try {
      await storage.sql.run('INSERT INTO replay_values (replay_key, expires_at) VALUES ($1, $2)', ['old', NOW - 1]);
      const lines: Array<{ msg: string; fields?: Record<string, unknown> }> = [];
      let ran!: () => void;
      const done = new Promise<void>((resolve) => { ran = resolve; });
      const schedule = schedulePurge(storage.sql, POLICY, {
        now: () => NOW, firstMs: 5, intervalMs: 60_000,
        logger: { log: (_level, msg, fields) => { lines.push({ msg, fields: fields as Record<string, unknown> }); ran(); } },
      });
      await done;
      await schedule.stop();
      expect(lines).toEqual([{ msg: 'expired rows purged', fields: expect.objectContaining({ component: 'purge', deleted: 1, deleted_replay_values: 1 }) }]);
      expect(await storage.sql.all('SELECT replay_key FROM replay_values')).toEqual([]);
    } finally {
      await storage.close();
      await db.cleanup();
    }
  });
});
