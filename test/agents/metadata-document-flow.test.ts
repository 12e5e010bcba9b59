// An AI agent known only by its Client ID Metadata Document, end to end over real TLS: the
// authorization server fetches the document from the agent's https URL (a loopback server here,
// allowed by the dev stack's unsafe.allow_loopback_client_metadata), the consent page says plainly
// that an AI agent asks, and the agent policy decides what it gets whatever it asked for: read-only
// patient/ scopes, no refresh token, the agents' token lifetime. A redirect URI missing from the
// document is refused without a redirect.
import { createServer, type Server } from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { startTestStack, type TestStack } from '../support/stack.js';
import { frontChannel, relyingParty, type Rp } from '../support/flows.js';
import { approveAgent, refuseAgent, withdrawAgentDecision } from '../../src/admin/agents.js';
import { searchEvents } from '../../src/audit/search.js';
import { REFUSED_AGENT_DESCRIPTION, UNAPPROVED_AGENT_DESCRIPTION } from '../../src/oauth/agent-policy.js';

describe('an AI agent registered by its metadata document', () => {
  let stack: TestStack;
  let rp: Rp;
  let docs: Server;
  let docUrl: string;
  let fetches = 0;

  beforeAll(async () => {
    // No token status cache at the gateway: a revocation shows at the next request.
    stack = await startTestStack({ configure: (c) => { c.agents.access_token_ttl = 120; c.gateway.introspection_cache_seconds = 0; } });
    rp = await relyingParty(stack);
    const tls = stack.ctx.config.tls!;
    docs = createServer({ cert: readFileSync(tls.cert), key: readFileSync(tls.key) }, (_req, res) => {
      fetches += 1;
      res.setHeader('content-type', 'application/json');
      res.setHeader('cache-control', 'max-age=300');
      res.end(JSON.stringify({
        client_id: docUrl, client_name: 'Chart summariser', redirect_uris: [stack.demo.redirect_uri],
        token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
      }));
    });
    await new Promise<void>((resolve) => docs.listen(0, '127.0.0.1', resolve));
    docUrl = `https://localhost:${(docs.address() as AddressInfo).port}/agent.json`;
  });
  afterAll(async () => {
    await new Promise((resolve) => docs?.close(resolve));
    await stack?.close();
  });

  it('is advertised in the authorization server metadata', () => {
    expect((rp.as as Record<string, unknown>).client_id_metadata_document_supported).toBe(true);
  });

  it('signs in with consent that names it an AI agent, and gets read-only patient scopes, no refresh token, the agents\' lifetime', async () => {
    const agentRp: Rp = { ...rp, client: { client_id: docUrl } };
    const fc = await frontChannel(agentRp, { scope: 'openid offline_access patient/*.cruds' });
    const consent = fc.pages.find((p) => p.body.includes('name="decision"'));
    expect(consent?.body).toContain('This is an AI agent');
    expect(consent?.body).toContain(docUrl);
    expect(consent?.body).toContain('No administrator of this server has reviewed it.');
    expect(consent?.body).toContain('for 2 minutes, without renewal');
    expect(consent?.body).not.toContain('value="offline_access"');
    expect(consent?.body).not.toContain('Emergency access');
    const code = new URL(fc.final.location!).searchParams.get('code');
    expect(code).toBeTruthy();

    const res = await request(`${stack.issuer}/token`, {
      method: 'POST', dispatcher: rp.dispatcher, headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', client_id: docUrl, code: code!, code_verifier: fc.verifier, redirect_uri: stack.demo.redirect_uri }).toString(),
    });
    const body = await res.body.json() as Record<string, unknown>;
    expect(res.statusCode).toBe(200);
    expect(body.expires_in).toBe(120);
    expect(body).not.toHaveProperty('refresh_token');
    expect(String(body.scope).split(' ').sort()).toEqual(['openid', 'patient/*.rs']);
    // The document was fetched once and then served from the cache (max-age=300).
    expect(fetches).toBe(1);

    const events = await stack.ctx.storage.sql.all<{ type: string }>('SELECT type FROM audit_events WHERE actor_client = $1 ORDER BY seq', [docUrl]);
    expect(events.map((e) => e.type)).toContain('token.issued');

    // /account lists the agent apart from the apps, and revoking it there stops its token at once.
    const fhirRead = async () => {
      const r = await request(`${stack.issuer}/fhir/Patient/demo-1`, { dispatcher: rp.dispatcher, headers: { authorization: `Bearer ${String(body.access_token)}` } });
      await r.body.dump();
      return r.statusCode;
    };
    expect(await fhirRead()).toBe(200);
    const origin = new URL(stack.issuer).origin;
    const account = await fc.browser.follow(`${stack.issuer}/account`, origin);
    const agentsSection = account.body.slice(account.body.indexOf('<h2>AI agents</h2>'));
    expect(account.body).toContain('<h2>AI agents</h2>');
    expect(agentsSection).toContain(docUrl);
    const revokeAction = /action="(\/account\/consents\/[^"]+\/revoke)"/.exec(agentsSection)![1]!;
    const csrf = /name="csrf" value="([^"]+)"/.exec(agentsSection)![1]!;
    const revoked = await fc.browser.follow(`${stack.issuer}${revokeAction}`, origin, { form: { csrf } });
    expect(revoked.body).toContain('Access revoked');
    expect(await fhirRead()).toBe(401);
  });

  it('refuses a redirect URI the document does not list, with a page and no redirect', async () => {
    const url = new URL(`${stack.issuer}/authorize`);
    for (const [k, v] of Object.entries({
      client_id: docUrl, response_type: 'code', redirect_uri: 'https://evil.example/cb', scope: 'openid patient/*.rs', state: 's',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', resource: stack.demo.resource,
    })) url.searchParams.set(k, v);
    const res = await request(url, { dispatcher: rp.dispatcher, headers: { accept: 'text/html' } });
    const page = await res.body.text();
    expect(res.statusCode).toBe(400);
    expect(res.headers.location).toBeUndefined();
    expect(page).toContain('metadata document cannot be used');
  });
});

// agents.require_approval: an agent no administrator approved is refused before any use, at the
// authorization endpoint (to its verified redirect URI) and at the token endpoint.
describe('an unapproved AI agent when approval is required', () => {
  let stack: TestStack;
  let rp: Rp;
  let docs: Server;
  let docUrl: string;

  beforeAll(async () => {
    stack = await startTestStack({ configure: (c) => { c.agents.require_approval = true; } });
    rp = await relyingParty(stack);
    const tls = stack.ctx.config.tls!;
    docs = createServer({ cert: readFileSync(tls.cert), key: readFileSync(tls.key) }, (_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ client_id: docUrl, redirect_uris: [stack.demo.redirect_uri], token_endpoint_auth_method: 'none' }));
    });
    await new Promise<void>((resolve) => docs.listen(0, '127.0.0.1', resolve));
    docUrl = `https://localhost:${(docs.address() as AddressInfo).port}/agent.json`;
  });
  afterAll(async () => {
    await new Promise((resolve) => docs?.close(resolve));
    await stack?.close();
  });

  it('gets unauthorized_client at /authorize, sent to its redirect URI, and no sign-in page', async () => {
    const url = new URL(`${stack.issuer}/authorize`);
    for (const [k, v] of Object.entries({
      client_id: docUrl, response_type: 'code', redirect_uri: stack.demo.redirect_uri, scope: 'openid patient/*.rs', state: 's1',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', resource: stack.demo.resource,
    })) url.searchParams.set(k, v);
    const res = await request(url, { dispatcher: rp.dispatcher, headers: { accept: 'text/html' } });
    await res.body.dump();
    expect(res.statusCode).toBe(303);
    const location = new URL(String(res.headers.location));
    expect(`${location.origin}${location.pathname}`).toBe(stack.demo.redirect_uri);
    expect(location.searchParams.get('error')).toBe('unauthorized_client');
    expect(location.searchParams.get('state')).toBe('s1');
  });

  it('gets unauthorized_client at /token too', async () => {
    const res = await request(`${stack.issuer}/token`, {
      method: 'POST', dispatcher: rp.dispatcher, headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', client_id: docUrl, code: 'x', code_verifier: 'v'.repeat(43), redirect_uri: stack.demo.redirect_uri }).toString(),
    });
    const body = await res.body.json() as Record<string, unknown>;
    expect([res.statusCode, body.error]).toEqual([400, 'unauthorized_client']);
  });

  // The administrator's decision (src/admin/agents.ts), as the console, the API and `caduceus agent` make it.
  it('is let in once an administrator approves it, refused again after a refusal, and each decision is in the ledger with the administrator', async () => {
    const deps = { storage: stack.ctx.storage, audit: stack.ctx.audit, now: stack.ctx.now, actor: 'admin:alice' };
    const authorize = async () => {
      const url = new URL(`${stack.issuer}/authorize`);
      for (const [k, v] of Object.entries({
        client_id: docUrl, response_type: 'code', redirect_uri: stack.demo.redirect_uri, scope: 'openid patient/*.rs', state: 's2',
        code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', resource: stack.demo.resource,
      })) url.searchParams.set(k, v);
      const res = await request(url, { dispatcher: rp.dispatcher, headers: { accept: 'text/html' } });
      await res.body.dump();
      return new URL(String(res.headers.location), stack.issuer);
    };
    const before = (await searchEvents(stack.ctx.storage.sql, { limit: 1 }))[0]?.seq ?? 0;

    await approveAgent(deps, { clientId: docUrl, reason: 'pilot' });
    const approved = await authorize();
    expect(approved.searchParams.get('error')).toBeNull();
    expect(approved.pathname).toMatch(/^\/interaction\//);

    await refuseAgent(deps, { clientId: docUrl, reason: 'pilot over' });
    const refused = await authorize();
    expect(refused.searchParams.get('error')).toBe('unauthorized_client');
    expect(refused.searchParams.get('error_description')).toBe(REFUSED_AGENT_DESCRIPTION);
    expect(await stack.ctx.storage.agentDecisions.get(docUrl)).toMatchObject({ decision: 'refused', decidedBy: 'admin:alice', reason: 'pilot over', scope: null });

    expect(await withdrawAgentDecision(deps, docUrl)).toBe(true);
    expect((await authorize()).searchParams.get('error_description')).toBe(UNAPPROVED_AGENT_DESCRIPTION);
    expect(await stack.ctx.storage.agentDecisions.get(docUrl)).toBeUndefined();

    const events = (await searchEvents(stack.ctx.storage.sql, { type: 'client.changed', limit: 100 })).filter((e) => e.seq > before).sort((a, b) => a.seq - b.seq);
    expect(events.map((e) => [e.action, e.resource, e.actor.userId])).toEqual([
      ['approve', docUrl, 'admin:alice'], ['refuse', docUrl, 'admin:alice'], ['withdraw', docUrl, 'admin:alice'],
    ]);
    expect(events[1]?.changes).toEqual([{ field: 'decision', before: 'approved', after: 'refused' }, { field: 'reason', before: 'pilot', after: 'pilot over' }]);
  });

  it('refuses a decision about an unknown dynamic client_id or with a system/ scope, storing and recording nothing', async () => {
    const deps = { storage: stack.ctx.storage, audit: stack.ctx.audit, now: stack.ctx.now, actor: 'admin:alice' };
    const head = (await searchEvents(stack.ctx.storage.sql, { limit: 1 }))[0]?.seq;
    await expect(approveAgent(deps, { clientId: 'agent_NOPENOPENOPENOPENOPENO' })).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
    await expect(approveAgent(deps, { clientId: docUrl, scope: 'system/Patient.rs' })).rejects.toMatchObject({ code: 'ERR_CONFIG' });
    expect(await stack.ctx.storage.agentDecisions.get('agent_NOPENOPENOPENOPENOPENO')).toBeUndefined();
    expect(await stack.ctx.storage.agentDecisions.get(docUrl)).toBeUndefined();
    expect((await searchEvents(stack.ctx.storage.sql, { limit: 1 }))[0]?.seq).toBe(head);
  });
});
