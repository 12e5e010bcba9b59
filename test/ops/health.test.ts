// /readyz: ready only when the database answers, the ledger takes writes and a signing key is
// active; otherwise 503 so that a load balancer stops sending traffic (it never fails open).
// Run against SQLite and PostgreSQL.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fetch, type Dispatcher } from 'undici';
import { startOpsStack, type OpsStack } from './ops-stack.js';
import { trustingDispatcher } from '../support/stack.js';
import { post, relyingParty } from '../support/flows.js';
import { testAdapters, type TestDatabase } from '../storage/databases.js';
import { RESULT_TTL_MS } from '../../src/ops/health.js';

const adapters = await testAdapters();

async function readyz(base: string, dispatcher?: Dispatcher): Promise<{ status: number; body: { status: string; checks: Record<string, string> } }> {
  const res = await fetch(`${base}/readyz`, dispatcher ? { dispatcher } : {});
  return { status: res.status, body: (await res.json()) as { status: string; checks: Record<string, string> } };
}

/** Polls until the answer has this status; the readiness result is reused for RESULT_TTL_MS. */
async function until(base: string, status: number, dispatcher?: Dispatcher) {
  const deadline = Date.now() + RESULT_TTL_MS * 4;
  for (;;) {
    const r = await readyz(base, dispatcher);
    if (r.status === status || Date.now() > deadline) return r;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe.each(adapters)('readiness on $name', (adapter) => {
  let db: TestDatabase;
  let stack: OpsStack;
  let dispatcher: Dispatcher;

  beforeAll(async () => {
    db = await adapter.open();
    stack = await startOpsStack({ storage: adapter.name === 'postgres' ? db.url : undefined });
    dispatcher = trustingDispatcher(stack.ca);
  });
  afterAll(async () => {
    await stack?.close();
    await db?.cleanup();
  });

  test('a healthy instance is ready on the public and the admin listener', async () => {
    for (const [base, d] of [[stack.issuer, dispatcher], [stack.server.adminUrl!, undefined]] as const) {
      const r = await readyz(base, d);
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ status: 'ready', checks: { database: 'ok', ledger: 'ok', keys: 'ok' } });
    }
  });

  test('without an active signing key the instance is not ready (keys: fail)', async () => {
    const now = stack.ctx.now();
    const keys = await stack.ctx.storage.signingKeys.list();
    // Simulate a key table in which nothing signs now (every key retired a moment ago).
    for (const k of keys) await stack.ctx.storage.signingKeys.retire(k.kid, now - 1000, now + 600_000);
    await stack.ctx.keys.reload();
    const r = await until(stack.issuer, 503, dispatcher);
    expect(r.status).toBe(503);
    expect(r.body).toEqual({ status: 'not_ready', checks: { database: 'ok', ledger: 'ok', keys: 'fail' } });
    await stack.ctx.keys.ensureKey(stack.ctx.now());
    expect((await until(stack.issuer, 200, dispatcher)).status).toBe(200);
  });

  test('a failed ledger commit makes it not ready until a commit succeeds again', async () => {
    const rp = await relyingParty(stack);
    const cc = () => post(rp, rp.as.token_endpoint!, { grant_type: 'client_credentials' }, { id: stack.demo.cc_client_id, secret: stack.demo.cc_client_secret });
    const sqlite = adapter.name === 'sqlite';
    // A trigger that makes every ledger insert fail, as a full disk or a lost grant would.
    await stack.ctx.storage.sql.exec(sqlite
      ? `CREATE TRIGGER readiness_test_block BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'blocked by test'); END;`
      : `CREATE FUNCTION readiness_test_block() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'blocked by test'; END $$;
         CREATE TRIGGER readiness_test_block BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION readiness_test_block();`);
    try {
      const failed = await cc();
      expect(failed.status).toBe(503);
      const r = await until(stack.issuer, 503, dispatcher);
      expect(r.body).toEqual({ status: 'not_ready', checks: { database: 'ok', ledger: 'fail', keys: 'ok' } });
    } finally {
      await stack.ctx.storage.sql.exec(sqlite ? 'DROP TRIGGER readiness_test_block' : 'DROP TRIGGER readiness_test_block ON audit_events; DROP FUNCTION readiness_test_block();');
    }
    expect((await cc()).status).toBe(200);
    expect((await until(stack.issuer, 200, dispatcher)).status).toBe(200);
  });

  test('a closed (unreachable) database makes it not ready with 503', async () => {
    await stack.ctx.storage.close();
    const r = await until(stack.issuer, 503, dispatcher);
    expect(r.status).toBe(503);
    expect(r.body.status).toBe('not_ready');
    expect(r.body.checks.database).toBe('fail');
    expect(r.body.checks.ledger).toBe('fail');
    // The liveness probe still answers: the process is up, it just must not get traffic.
    expect((await fetch(`${stack.issuer}/healthz`, { dispatcher })).status).toBe(200);
    const admin = await readyz(stack.server.adminUrl!);
    expect(admin.status).toBe(503);
    expect(JSON.stringify(admin.body)).not.toMatch(/postgres|sqlite|Error|pool/i);
  });
});
