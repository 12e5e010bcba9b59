// Security events reach the tamper-evident ledger before the response, with the fields an
// auditor needs; if the ledger cannot write, requests fail closed ("no audit, no access").
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { testAdapters } from '../storage/databases.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { codeFlow, post, refresh, relyingParty, type Rp } from '../support/flows.js';
import { searchEvents } from '../../src/audit/search.js';
import { verifyLedger } from '../../src/audit/verify.js';
import type { AuditSink } from '../../src/audit/events.js';

const adapters = await testAdapters();

describe.each(adapters)('audit events on $name', (adapter) => {
  let stack: TestStack;
  let rp: Rp;
  beforeAll(async () => {
    stack = await startTestStack({ adapter });
    rp = await relyingParty(stack);
  });
  afterAll(async () => stack?.close());

  test('a code flow leaves login, consent, code, token and refresh events that link to one grant, and the ledger verifies', async () => {
    const flow = await codeFlow(rp, { extra: { prompt: 'consent' } });
    const r = await refresh(rp, flow.tokens.refresh_token!);
    expect(r.status).toBe(200);
    const sql = stack.ctx.storage.sql;
    const user = await stack.ctx.storage.users.getByUsername(stack.demo.username);
    const events = await searchEvents(sql, { actor: user!.id, limit: 1000 });
    const types = new Set(events.map((e) => e.type));
    for (const t of ['login.succeeded', 'consent.granted', 'authz.code_issued', 'token.issued', 'token.refreshed'] as const) expect(types).toContain(t);
    const issued = events.find((e) => e.type === 'token.issued')!;
    const code = events.find((e) => e.type === 'authz.code_issued' && e.grantId === issued.grantId)!;
    expect(code).toBeDefined();
    expect(issued).toMatchObject({ outcome: 'success', resource: stack.demo.resource, actor: { userId: user!.id, clientId: stack.demo.client_id } });
    expect(issued.consentId).toBe(code.consentId);
    expect(typeof issued.jti).toBe('string');
    expect(issued.scopes?.granted).toEqual(stack.demo.scope.split(' '));
    expect(typeof issued.requestId).toBe('string');
    expect(issued.sourceAddress).toBe('127.0.0.1');
    // Identifiers only: no token values in the ledger.
    const all = JSON.stringify(await searchEvents(sql, { limit: 10_000 }));
    expect(all).not.toContain(flow.tokens.access_token);
    expect(all).not.toContain(flow.tokens.refresh_token!);
    expect(all).not.toContain(flow.code);
    expect(all).not.toContain(stack.demo.password);
    const verdict = await verifyLedger(sql);
    expect(verdict.ok).toBe(true);
  });

  test('refresh token reuse is recorded as token.refresh_reuse_detected', async () => {
    const flow = await codeFlow(rp);
    await refresh(rp, flow.tokens.refresh_token!);
    await refresh(rp, flow.tokens.refresh_token!);
    const reuse = await searchEvents(stack.ctx.storage.sql, { type: 'token.refresh_reuse_detected', client: stack.demo.client_id });
    expect(reuse.length).toBeGreaterThan(0);
    expect(reuse[0]).toMatchObject({ outcome: 'denied', reason: 'refresh_reuse' });
  });

  test('a failed login is recorded without the password', async () => {
    const { frontChannel } = await import('../support/flows.js');
    await frontChannel(rp, { password: 'a wrong password 123' });
    const failed = await searchEvents(stack.ctx.storage.sql, { type: 'login.failed' });
    expect(failed.length).toBeGreaterThan(0);
    expect(JSON.stringify(failed)).not.toContain('a wrong password 123');
  });
});

describe('no audit, no access', () => {
  let stack: TestStack;
  let rp: Rp;
  let failing = false;
  beforeAll(async () => {
    const wrapAudit = (ledger: AuditSink): AuditSink => ({
      record: async (e) => {
        if (failing) throw new Error('ledger unavailable');
        return ledger.record(e);
      },
    });
    stack = await startTestStack({ context: { wrapAudit } });
    rp = await relyingParty(stack);
  });
  afterAll(async () => stack?.close());

  test('the token endpoint answers 503 temporarily_unavailable and issues nothing when the ledger cannot write', async () => {
    failing = true;
    try {
      const res = await post(rp, rp.as.token_endpoint!, { grant_type: 'client_credentials' }, { id: stack.demo.cc_client_id, secret: stack.demo.cc_client_secret });
      expect(res.status).toBe(503);
      expect(res.json).toEqual({ error: 'temporarily_unavailable', error_description: 'the service cannot record this request right now; try again later' });
      expect(res.json.access_token).toBeUndefined();
    } finally {
      failing = false;
    }
    const ok = await post(rp, rp.as.token_endpoint!, { grant_type: 'client_credentials' }, { id: stack.demo.cc_client_id, secret: stack.demo.cc_client_secret });
    expect(ok.status).toBe(200);
  });

  test('a refresh the ledger cannot record answers 503 and leaves the refresh token usable: the retry is not taken for reuse', async () => {
    const flow = await codeFlow(rp);
    const token = flow.tokens.refresh_token!;
    failing = true;
    try {
      const refused = await refresh(rp, token);
      expect([refused.status, refused.json.error]).toEqual([503, 'temporarily_unavailable']);
    } finally {
      failing = false;
    }
    const retry = await refresh(rp, token);
    expect(retry.status).toBe(200);
    expect(retry.json.refresh_token).toEqual(expect.any(String));
    expect(await searchEvents(stack.ctx.storage.sql, { type: 'token.refresh_reuse_detected', limit: 10 })).toEqual([]);
    // Rotation goes on as usual: the old token is now used up.
    expect((await refresh(rp, token)).json.error).toBe('invalid_grant');
  });

  test('a refresh refused for its resource leaves the refresh token usable', async () => {
    const flow = await codeFlow(rp);
    const token = flow.tokens.refresh_token!;
    const wrong = await refresh(rp, token, { resource: 'https://elsewhere.example/fhir' });
    expect([wrong.status, wrong.json.error]).toEqual([400, 'invalid_target']);
    expect((await refresh(rp, token)).status).toBe(200);
  });

  test('a login cannot complete while the ledger cannot write', async () => {
    const { frontChannel } = await import('../support/flows.js');
    failing = true;
    try {
      const fc = await frontChannel(rp);
      expect(fc.final.location ?? '').not.toContain('code=');
      expect(fc.final.status).toBe(503);
      // The browser gets a page, with Retry-After, not the JSON of the API endpoints.
      expect(fc.final.headers.get('content-type')).toMatch(/^text\/html/);
      expect(fc.final.headers.get('retry-after')).toBe('5');
      expect(fc.final.body).toContain('Temporarily unavailable');
    } finally {
      failing = false;
    }
  });
});
