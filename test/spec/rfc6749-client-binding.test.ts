// RFC 6749 §4.1.3 (the authorization server MUST "ensure that the authorization code was issued to
// the authenticated confidential client") and §6 (MUST "validate the refresh token … was issued to
// the authenticated client"): a code or refresh token of client A presented with client B's valid
// credentials is invalid_grant, leaves A's code or token usable by A, and is in the ledger with
// the client that tried. SQLite and PostgreSQL, over real TLS.
//
// Client B here is a confidential client registered exactly like A (same redirect URI, scopes,
// resource and grant types), and B sends A's redirect_uri, A's PKCE verifier and A's resource: the
// client binding is the only check between B and a token, so removing it makes B's request succeed.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { testAdapters } from '../storage/databases.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { codeFlow, frontChannel, introspect, post, refresh, relyingParty, type Rp } from '../support/flows.js';
import { addClient } from '../../src/admin/clients.js';
import { grantIdOfJti, ledgerMark, ledgerRowsAfter } from './ledger-rows.js';
import { decodeJwt } from 'jose';

const adapters = await testAdapters();

describe.each(adapters)('RFC 6749 client binding on $name', (adapter) => {
  let stack: TestStack;
  let rp: Rp;
  let other: { id: string; secret: string };

  beforeAll(async () => {
    stack = await startTestStack({ adapter });
    rp = await relyingParty(stack);
    const { ctx, demo } = stack;
    const created = await addClient({ storage: ctx.storage, masterKey: ctx.masterKey, audit: ctx.audit, now: ctx.now, actor: 'test' }, {
      client_id: 'other-app', name: 'Another App', grant_types: ['authorization_code', 'refresh_token'], redirect_uris: [demo.redirect_uri],
      scope: demo.scope, resources: [demo.resource], token_endpoint_auth_method: 'client_secret_basic',
    }, [demo.resource]);
    other = { id: created.client.clientId, secret: created.secret! };
  });
  afterAll(async () => stack?.close());

  const sql = () => stack.ctx.storage.sql;

  /** A fresh code of client A, its grant id (from the authz.code_issued event) and the token request that redeems it. */
  async function freshCode() {
    const mark = await ledgerMark(sql());
    const fc = await frontChannel(rp);
    const code = new URL(fc.final.location!).searchParams.get('code')!;
    const issued = (await ledgerRowsAfter(sql(), mark)).filter((r) => r.type === 'authz.code_issued');
    expect(issued).toHaveLength(1);
    const form = { grant_type: 'authorization_code', code, redirect_uri: stack.demo.redirect_uri, code_verifier: fc.verifier, resource: stack.demo.resource };
    return { code, grantId: issued[0]!.event.grantId as string, form };
  }

  /** A fresh refresh token of client A and its grant id. */
  async function freshRefreshToken() {
    const flow = await codeFlow(rp);
    return { token: flow.tokens.refresh_token!, accessToken: flow.tokens.access_token, grantId: grantIdOfJti(decodeJwt(flow.tokens.access_token).jti) };
  }

  describe('RFC 6749 §4.1.3: an authorization code presented by another client', () => {
    test('is refused with 400 invalid_grant and issues nothing', async () => {
      const { form } = await freshCode();
      const mark = await ledgerMark(sql());
      const stolen = await post(rp, rp.as.token_endpoint!, form, other);
      expect(stolen.status).toBe(400);
      expect(stolen.json).toEqual({ error: 'invalid_grant', error_description: 'the authorization code was issued to another client' });
      expect(stolen.headers.get('cache-control')).toBe('no-store');
      const types = (await ledgerRowsAfter(sql(), mark)).map((r) => r.type);
      expect(types).not.toContain('token.issued');
      expect(await sql().all('SELECT jti FROM access_tokens WHERE client_id = $1', [other.id])).toEqual([]);
      expect(await sql().all('SELECT digest FROM refresh_tokens WHERE client_id = $1', [other.id])).toEqual([]);
    });

    test('is recorded in the ledger as one token.failed denial by the client that presented it', async () => {
      const { code, form } = await freshCode();
      const mark = await ledgerMark(sql());
      expect((await post(rp, rp.as.token_endpoint!, form, other)).status).toBe(400);
      const rows = await ledgerRowsAfter(sql(), mark);
      expect(rows.map((r) => [r.type, r.outcome, r.actorClient])).toEqual([['token.failed', 'denied', other.id]]);
      expect(rows[0]!.event).toMatchObject({ type: 'token.failed', outcome: 'denied', reason: 'invalid_grant', action: 'authorization_code', actor: { clientId: other.id }, sourceAddress: '127.0.0.1' });
      expect(JSON.stringify(rows)).not.toContain(code);
    });

    test('leaves the code unconsumed and redeemable by its own client, with no replay recorded', async () => {
      const { grantId, form } = await freshCode();
      expect((await post(rp, rp.as.token_endpoint!, form, other)).status).toBe(400);
      const codeRow = await sql().get('SELECT client_id, consumed_at FROM authorization_codes WHERE grant_id = $1', [grantId]);
      expect(codeRow).toEqual({ client_id: stack.demo.client_id, consumed_at: null });
      const mark = await ledgerMark(sql());
      const own = await post(rp, rp.as.token_endpoint!, form);
      expect([own.status, own.json.error_description]).toEqual([200, undefined]);
      const claims = decodeJwt(own.json.access_token);
      expect(claims).toMatchObject({ client_id: stack.demo.client_id, aud: stack.demo.resource });
      expect(grantIdOfJti(claims.jti)).toBe(grantId);
      expect((await introspect(rp, own.json.access_token)).json).toMatchObject({ active: true, client_id: stack.demo.client_id });
      expect((await introspect(rp, own.json.refresh_token)).json).toMatchObject({ active: true, client_id: stack.demo.client_id });
      expect(await sql().get('SELECT revoked_at, revoked_reason FROM grants WHERE grant_id = $1', [grantId])).toEqual({ revoked_at: null, revoked_reason: null });
      expect((await ledgerRowsAfter(sql(), mark)).map((r) => r.type)).toEqual(['token.issued']);
    });
  });

  describe('RFC 6749 §6: a refresh token presented by another client', () => {
    test('is refused with 400 invalid_grant and issues nothing', async () => {
      const { token } = await freshRefreshToken();
      const mark = await ledgerMark(sql());
      const stolen = await post(rp, rp.as.token_endpoint!, { grant_type: 'refresh_token', refresh_token: token }, other);
      expect(stolen.status).toBe(400);
      expect(stolen.json).toEqual({ error: 'invalid_grant', error_description: 'the refresh token was issued to another client' });
      expect(stolen.headers.get('cache-control')).toBe('no-store');
      expect((await ledgerRowsAfter(sql(), mark)).map((r) => r.type)).not.toContain('token.refreshed');
      expect(await sql().all('SELECT jti FROM access_tokens WHERE client_id = $1', [other.id])).toEqual([]);
      expect(await sql().all('SELECT digest FROM refresh_tokens WHERE client_id = $1', [other.id])).toEqual([]);
    });

    test('is recorded in the ledger as one token.failed denial by the client that presented it', async () => {
      const { token } = await freshRefreshToken();
      const mark = await ledgerMark(sql());
      expect((await post(rp, rp.as.token_endpoint!, { grant_type: 'refresh_token', refresh_token: token }, other)).status).toBe(400);
      const rows = await ledgerRowsAfter(sql(), mark);
      expect(rows.map((r) => [r.type, r.outcome, r.actorClient])).toEqual([['token.failed', 'denied', other.id]]);
      expect(rows[0]!.event).toMatchObject({ type: 'token.failed', outcome: 'denied', reason: 'invalid_grant', action: 'refresh_token', actor: { clientId: other.id }, sourceAddress: '127.0.0.1' });
      expect(JSON.stringify(rows)).not.toContain(token);
    });

    test('leaves the token unconsumed, its family live and usable by its own client, with no reuse recorded', async () => {
      const { token, accessToken, grantId } = await freshRefreshToken();
      expect((await post(rp, rp.as.token_endpoint!, { grant_type: 'refresh_token', refresh_token: token }, other)).status).toBe(400);
      // docs/SECURITY.md: "A token presented by another client is refused without touching the family."
      const rows = await sql().all('SELECT client_id, consumed_at, revoked_at FROM refresh_tokens WHERE grant_id = $1', [grantId]);
      expect(rows).toEqual([{ client_id: stack.demo.client_id, consumed_at: null, revoked_at: null }]);
      const mark = await ledgerMark(sql());
      const own = await refresh(rp, token);
      expect([own.status, own.json.error_description]).toEqual([200, undefined]);
      expect(own.json.refresh_token).toEqual(expect.any(String));
      expect(decodeJwt(own.json.access_token).client_id).toBe(stack.demo.client_id);
      expect((await introspect(rp, accessToken)).json.active).toBe(true);
      expect(await sql().get('SELECT revoked_at FROM grants WHERE grant_id = $1', [grantId])).toEqual({ revoked_at: null });
      expect((await ledgerRowsAfter(sql(), mark)).map((r) => r.type)).toEqual(['token.refreshed']);
    });
  });
});
