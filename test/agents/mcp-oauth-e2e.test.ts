// Proof of issue 14, end to end over real TLS on loopback: an AI agent built from the official MCP
// TypeScript SDK (StreamableHTTPClientTransport with an OAuthClientProvider as authProvider) starts
// from a bare 401 at /mcp and gets in the way the MCP authorization specification describes, with
// a person deciding in Debian's Chromium:
// - discovery from the 401's resource_metadata (RFC 9728), the authorization server's metadata
//   (RFC 8414), a Client ID Metadata Document as its client_id (served here on loopback, allowed by
//   the dev stack's unsafe.allow_loopback_client_metadata), PKCE S256, RFC 8707 resource = /mcp;
//   the person signs in as the demo patient and sees that an AI agent asks; the agent reads its
//   patient, and is refused another patient (a tool error and a phi.denied event naming it);
// - step-up from a 403 insufficient_scope: the person gave only patient/Patient.rs, the agent's
//   Observation search gets HTTP 403 with the scope to ask for, the SDK re-authorizes with it, the
//   person allows, and the search then succeeds;
// - revocation on /account in Chromium: the agent's next /mcp call is 401;
// - the accounting of disclosures (`caduceus audit disclosures`) lists the agent's reads, by client id.
// Dynamic registration and token expiry: test/agents/mcp-oauth-lifecycle.test.ts.
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dispatcher } from 'undici';
import type { Browser } from 'playwright-core';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { launchChromium } from '../support/chromium.js';
import { startTestStack, trustingDispatcher, type TestStack } from '../support/stack.js';
import { runCli } from '../cli/harness.js';
import {
  AgentProvider, CallbackServer, MetadataDocuments, codeFrom, eventsSince, toolEventsSince, ledgerHead, personAllows, personContext, rawMcp,
  recordingFetch, sdkClient, type Exchange,
} from './mcp-oauth-harness.js';

interface ToolResult {
  content: { type: string; text: string }[];
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
}

/** The /mcp resource's scopes_supported in the dev stack (src/server/dev-stack.ts), which the SDK asks for after a bare 401. */
const MCP_SCOPES = 'patient/Patient.rs patient/Observation.rs patient/Condition.rs patient/*.rs system/Patient.rs system/Observation.rs';
/** What the agent policy leaves of them: read-only patient/ scopes (system/ dropped). */
const AGENT_SCOPES = ['patient/Patient.rs', 'patient/Observation.rs', 'patient/Condition.rs', 'patient/*.rs'];
const INSUFFICIENT = 'the access token does not carry a scope that allows this request';

const jwtClaims = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
const pathOf = (e: Exchange) => `${e.method} ${new URL(e.url).pathname} ${e.status}`;

describe('an MCP SDK agent with a Client ID Metadata Document, and a person in Chromium', () => {
  let stack: TestStack;
  let dispatcher: Dispatcher;
  let browser: Browser;
  let docs: MetadataDocuments;
  let callbacks: CallbackServer;
  let mcpUrl: string;
  let metadataUrl: string;
  let userId: string;
  /** The agent of the first test, connected; later tests use it. */
  let first: { provider: AgentProvider; client: Client; readRequestId: string } | undefined;

  beforeAll(async () => {
    stack = await startTestStack();
    dispatcher = trustingDispatcher(stack.ca);
    mcpUrl = stack.demo.mcp_url!;
    metadataUrl = `${stack.issuer}/.well-known/oauth-protected-resource/mcp`;
    userId = (await stack.ctx.storage.users.getByUsername(stack.demo.username))!.id;
    docs = await MetadataDocuments.start(stack);
    callbacks = await CallbackServer.start();
    browser = await launchChromium();
  });
  afterAll(async () => {
    await first?.client.close();
    await browser?.close();
    await callbacks?.close();
    await docs?.close();
    await stack?.close();
  });

  it('from a bare 401: discovery, the metadata document as client_id, PKCE, sign-in and consent in Chromium, then fhir_read of its patient and a refused read of another', async () => {
    const docUrl = docs.serve('/chart-summariser.json', { client_name: 'Chart summariser', redirect_uris: [callbacks.url] });
    const since = await ledgerHead(stack);
    const exchanges: Exchange[] = [];
    const fetchFn = recordingFetch(dispatcher, exchanges);
    const provider = new AgentProvider(callbacks.url, 'Chart summariser', docUrl);

    // 1. The bare 401, and what the SDK did with it.
    const start = sdkClient(mcpUrl, provider, fetchFn);
    await expect(start.client.connect(start.transport)).rejects.toBeInstanceOf(UnauthorizedError);
    expect(exchanges).toEqual([
      // RFC 9728 §5.1: the challenge names the metadata; no scope, so the SDK takes scopes_supported from there.
      { method: 'POST', url: mcpUrl, status: 401, challenge: `Bearer realm="${mcpUrl}", resource_metadata="${metadataUrl}"` },
      { method: 'GET', url: metadataUrl, status: 200 },
      { method: 'GET', url: `${stack.issuer}/.well-known/oauth-authorization-server`, status: 200 },
    ]);
    // No registration: the server advertises client_id_metadata_document_supported, so the URL is the client_id.
    expect(provider.clientInformation()).toEqual({ client_id: docUrl, issuer: stack.issuer });
    const url = provider.lastAuthorizationUrl;
    expect(`${url.origin}${url.pathname}`).toBe(`${stack.issuer}/authorize`);
    expect(Object.fromEntries(url.searchParams)).toEqual({
      response_type: 'code', client_id: docUrl, code_challenge: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), code_challenge_method: 'S256',
      redirect_uri: callbacks.url, state: provider.states.at(-1), scope: MCP_SCOPES, resource: mcpUrl,
    });
    expect(createHash('sha256').update(provider.codeVerifier()).digest('base64url')).toBe(url.searchParams.get('code_challenge'));

    // 2. The person, in Chromium: signs in, reads that an AI agent asks, allows.
    const { context, page, problems } = await personContext(browser);
    const decision = await personAllows(page, stack, callbacks, url, { screenshot: 'mcp-agent-consent-phone.png' });
    expect(decision.signedIn).toBe(true);
    expect(decision.consentText).toContain('This is an AI agent, not an app you installed.');
    expect(decision.consentText).toContain(`It identified itself with the metadata document at ${docUrl}.`);
    expect(decision.consentText).toContain('No administrator of this server has reviewed it.');
    expect(decision.consentText).toContain('for 5 minutes, without renewal');
    expect(decision.consentText).not.toContain('Emergency access');
    expect(decision.offered).toEqual(AGENT_SCOPES);
    expect(problems).toEqual([]);
    await context.close();
    // The server fetched the agent's document (once: then from its cache).
    expect(docs.fetches.get('/chart-summariser.json')).toBe(1);

    // 3. The code at the agent's loopback redirect URI, exchanged by the SDK with the verifier.
    const code = codeFrom(decision.callback, provider, stack.issuer);
    exchanges.length = 0;
    await start.transport.finishAuth(code);
    expect(exchanges.map(pathOf)).toEqual([
      'GET /.well-known/oauth-protected-resource/mcp 200', 'GET /.well-known/oauth-authorization-server 200', 'POST /token 200',
    ]);
    const tokens = provider.tokens()!;
    expect(tokens).toMatchObject({ token_type: 'Bearer', expires_in: 300 });
    expect(tokens).not.toHaveProperty('refresh_token');
    expect(tokens.scope!.split(' ')).toEqual(AGENT_SCOPES);
    expect(jwtClaims(tokens.access_token)).toMatchObject({ aud: mcpUrl, client_id: docUrl, sub: userId, patient: 'demo-1' });

    // 4. Reconnect with the token: tools, the patient in context, another patient.
    const { client, transport } = sdkClient(mcpUrl, provider, fetchFn);
    await client.connect(transport);
    expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(['fhir_read', 'fhir_search', 'whoami']);
    const read = await client.callTool({ name: 'fhir_read', arguments: { resourceType: 'Patient', id: 'demo-1' } }) as ToolResult;
    expect(read.isError).toBeFalsy();
    expect(JSON.parse(read.content[0]!.text)).toMatchObject({ resourceType: 'Patient', id: 'demo-1' });
    expect(read.structuredContent).toMatchObject({ resourceType: 'Patient', id: 'demo-1' });
    const other = await client.callTool({ name: 'fhir_read', arguments: { resourceType: 'Patient', id: 'demo-2' } }) as ToolResult;
    expect(other.isError).toBe(true);
    const outcome = JSON.parse(other.content[0]!.text) as { resourceType: string; issue: { severity: string; code: string }[] };
    expect(outcome).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'forbidden' }] });
    expect(JSON.stringify(other)).not.toContain('demo-2"'); // no record of the other patient

    // 5. The ledger: one event per tool call, naming the tool, the agent, the user and the patient.
    const phi = await toolEventsSince(stack, since);
    expect(phi.map((e) => [e.type, e.outcome, e.patient, e.actor_client, e.actor_user, e.event.resource, e.event.details?.tool, e.event.details?.route])).toEqual([
      ['phi.accessed', 'success', 'Patient/demo-1', docUrl, userId, 'Patient/demo-1', 'fhir_read', '/fhir'],
      ['phi.denied', 'denied', 'Patient/demo-2', docUrl, userId, 'Patient/demo-2', 'fhir_read', '/fhir'],
    ]);
    expect(phi[1]!.event.reason).toBe('ERR_PATIENT_COMPARTMENT');
    const issued = await eventsSince(stack, since, ['token.issued', 'consent.granted']);
    expect(issued.map((e) => [e.type, e.actor_client])).toEqual([['consent.granted', docUrl], ['token.issued', docUrl]]);
    first = { provider, client, readRequestId: String(phi[0]!.event.requestId) };
  }, 60_000);

  it('step-up from a 403 insufficient_scope: the person gave less, the SDK asks for the scope the 403 names, the person allows, and the call succeeds', async () => {
    const docUrl = docs.serve('/lab-reader.json', { client_name: 'Lab reader', redirect_uris: [callbacks.url] });
    const exchanges: Exchange[] = [];
    const fetchFn = recordingFetch(dispatcher, exchanges);
    const provider = new AgentProvider(callbacks.url, 'Lab reader', docUrl);
    const { context, page, problems } = await personContext(browser);

    // The person allows only Patient reads: they untick the rest.
    const start = sdkClient(mcpUrl, provider, fetchFn);
    await expect(start.client.connect(start.transport)).rejects.toBeInstanceOf(UnauthorizedError);
    const narrow = await personAllows(page, stack, callbacks, provider.lastAuthorizationUrl, { untick: AGENT_SCOPES.filter((s) => s !== 'patient/Patient.rs') });
    expect(narrow.offered).toEqual(AGENT_SCOPES);
    await start.transport.finishAuth(codeFrom(narrow.callback, provider, stack.issuer));
    expect(provider.tokens()!.scope).toBe('patient/Patient.rs');
    const narrowToken = provider.accessToken;

    const { client, transport } = sdkClient(mcpUrl, provider, fetchFn);
    await client.connect(transport);
    const ok = await client.callTool({ name: 'fhir_read', arguments: { resourceType: 'Patient', id: 'demo-1' } }) as ToolResult;
    expect(ok.isError).toBeFalsy();

    // What /mcp answers the search on the wire: HTTP 403 with the challenge (not a tool result),
    // naming the scope to ask for (what the token has, plus what the call needs) and the metadata.
    const since = await ledgerHead(stack);
    const search = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'fhir_search', arguments: { resourceType: 'Observation' } } };
    const wire = await rawMcp(dispatcher, mcpUrl, narrowToken, search);
    expect(wire.status).toBe(403);
    expect(wire.headers.get('www-authenticate')).toBe(
      `Bearer realm="${mcpUrl}", error="insufficient_scope", error_description="${INSUFFICIENT}", scope="patient/Patient.rs patient/Observation.s", resource_metadata="${metadataUrl}"`,
    );
    expect(wire.json).toEqual({ error: 'insufficient_scope', error_description: INSUFFICIENT });
    const denied = await toolEventsSince(stack, since);
    expect(denied.map((e) => [e.type, e.outcome, e.actor_client, e.event.reason, e.event.details?.tool])).toEqual([
      ['phi.denied', 'denied', docUrl, 'ERR_INSUFFICIENT_SCOPE', 'fhir_search'],
    ]);

    // The SDK meets the same 403, takes the challenge's scope and asks the person again.
    exchanges.length = 0;
    const asked = provider.authorizationUrls.length;
    await expect(client.callTool({ name: 'fhir_search', arguments: { resourceType: 'Observation' } })).rejects.toBeInstanceOf(UnauthorizedError);
    expect(exchanges.map(pathOf)).toEqual([
      'POST /mcp 403', 'GET /.well-known/oauth-protected-resource/mcp 200', 'GET /.well-known/oauth-authorization-server 200',
    ]);
    expect(provider.authorizationUrls.length).toBe(asked + 1);
    const stepUp = provider.lastAuthorizationUrl;
    expect(stepUp.searchParams.get('scope')).toBe('patient/Patient.rs patient/Observation.s');
    expect(stepUp.searchParams.get('resource')).toBe(mcpUrl);
    expect(stepUp.searchParams.get('client_id')).toBe(docUrl);

    // Still signed in, the person sees the consent page again (a prior consent covers less) and allows.
    const wider = await personAllows(page, stack, callbacks, stepUp);
    expect(wider.signedIn).toBe(false);
    expect(wider.offered).toEqual(['patient/Patient.rs', 'patient/Observation.s']);
    expect(wider.consentText).toContain('This is an AI agent, not an app you installed.');
    expect(problems).toEqual([]);
    await context.close();
    await transport.finishAuth(codeFrom(wider.callback, provider, stack.issuer));
    expect(provider.tokens()!.scope).toBe('patient/Patient.rs patient/Observation.s');

    // The same client, the same call: now a Bundle of the patient in context; Patient reads still work.
    const since2 = await ledgerHead(stack);
    const result = await client.callTool({ name: 'fhir_search', arguments: { resourceType: 'Observation' } }) as ToolResult;
    expect(result.isError).toBeFalsy();
    const bundle = JSON.parse(result.content[0]!.text) as { resourceType: string; entry?: { resource: { resourceType: string; subject?: { reference?: string } } }[] };
    expect(bundle.resourceType).toBe('Bundle');
    expect(bundle.entry?.length).toBeGreaterThan(0);
    for (const e of bundle.entry!) expect([e.resource.resourceType, e.resource.subject?.reference]).toEqual(['Observation', 'Patient/demo-1']);
    expect((await client.callTool({ name: 'fhir_read', arguments: { resourceType: 'Patient', id: 'demo-1' } }) as ToolResult).isError).toBeFalsy();
    const allowed = await toolEventsSince(stack, since2);
    expect(allowed.map((e) => [e.type, e.actor_client, e.patient, e.event.details?.tool])).toEqual([
      ['phi.accessed', docUrl, 'Patient/demo-1', 'fhir_search'], ['phi.accessed', docUrl, 'Patient/demo-1', 'fhir_read'],
    ]);
    // The old narrow token is still only what it was.
    expect((await rawMcp(dispatcher, mcpUrl, narrowToken, search)).status).toBe(403);
    await client.close();
  }, 90_000);

  it('revoked on /account in Chromium: the agent\'s next /mcp call is 401, and the SDK must ask the person again', async () => {
    const docUrl = docs.serve('/note-taker.json', { client_name: 'Note taker', redirect_uris: [callbacks.url] });
    const fetchFn = recordingFetch(dispatcher, []);
    const provider = new AgentProvider(callbacks.url, 'Note taker', docUrl);
    const { context, page, problems } = await personContext(browser);
    const start = sdkClient(mcpUrl, provider, fetchFn);
    await expect(start.client.connect(start.transport)).rejects.toBeInstanceOf(UnauthorizedError);
    const decision = await personAllows(page, stack, callbacks, provider.lastAuthorizationUrl);
    await start.transport.finishAuth(codeFrom(decision.callback, provider, stack.issuer));
    const token = provider.accessToken;
    const { client, transport } = sdkClient(mcpUrl, provider, fetchFn);
    await client.connect(transport);
    expect((await client.callTool({ name: 'fhir_read', arguments: { resourceType: 'Patient', id: 'demo-1' } }) as ToolResult).isError).toBeFalsy();

    // The person opens /account (same browser: already signed in) and revokes the agent.
    const since = await ledgerHead(stack);
    await page.goto(`${stack.issuer}/account`);
    await page.getByRole('heading', { name: 'AI agents' }).waitFor().catch(async (err: Error) => {
      throw new Error(`${err.message}\n/account showed: ${(await page.locator('body').innerText()).slice(0, 2000)}`);
    });
    const consent = (await stack.ctx.storage.consents.findActive(userId, docUrl, mcpUrl))!;
    expect(consent).toBeDefined();
    const card = page.locator('ul.agents > li').filter({ has: page.locator(`#app-${consent.id}`) });
    expect(await card.getByRole('heading', { name: docUrl }).isVisible()).toBe(true);
    await card.getByRole('button', { name: `Revoke access for ${docUrl}` }).click();
    await page.getByRole('status').filter({ hasText: `Access revoked for ${docUrl}.` }).waitFor();
    expect(problems).toEqual([]);
    await context.close();

    // Stored: the consent and its grant are revoked, and the ledger says who did it.
    expect((await stack.ctx.storage.consents.listByUser(userId)).find((c) => c.id === consent.id)?.revokedAt).toEqual(expect.any(Number));
    const grants = (await stack.ctx.storage.grants.listByUser(userId)).filter((g) => g.consentId === consent.id);
    expect(grants.length).toBe(1);
    expect(grants.every((g) => g.revokedAt !== null)).toBe(true);
    const revoked = await eventsSince(stack, since, ['consent.revoked']);
    expect(revoked.map((e) => [e.outcome, e.actor_user, e.actor_client, e.event.consentId, e.event.details])).toEqual([
      ['success', userId, docUrl, consent.id, { grants_revoked: 1 }],
    ]);

    // On the wire: 401 invalid_token with the resource metadata.
    const ping = await rawMcp(dispatcher, mcpUrl, token, { jsonrpc: '2.0', id: 1, method: 'ping' });
    expect(ping.status).toBe(401);
    expect(ping.headers.get('www-authenticate')).toBe(
      `Bearer realm="${mcpUrl}", error="invalid_token", error_description="the access token has been revoked or is no longer active", resource_metadata="${metadataUrl}"`,
    );
    expect(ping.json).toEqual({ error: 'invalid_token', error_description: 'the access token has been revoked or is no longer active' });
    // Through the SDK: the 401 sends it back to the person (no refresh token to fall back on).
    const asked = provider.authorizationUrls.length;
    await expect(client.callTool({ name: 'fhir_read', arguments: { resourceType: 'Patient', id: 'demo-1' } })).rejects.toBeInstanceOf(UnauthorizedError);
    expect(provider.authorizationUrls.length).toBe(asked + 1);
    // Only that agent: the first agent's token still works.
    if (first) expect((await rawMcp(dispatcher, mcpUrl, first.provider.accessToken, { jsonrpc: '2.0', id: 2, method: 'ping' })).status).toBe(200);
    await client.close();
  }, 60_000);

  it('the accounting of disclosures (caduceus audit disclosures) lists the agent\'s fhir_read of the patient, naming its client id', async () => {
    expect(first).toBeDefined();
    const docUrl = first!.provider.clientId;
    // `caduceus audit disclosures --data DIR` on this running stack's data folder, as an operator runs it.
    writeFileSync(join(stack.dataDir, 'dev.json'), JSON.stringify({ port: Number(new URL(stack.issuer).port), host: '127.0.0.1', issuerHost: '127.0.0.1' }));
    const accounting = async (patient: string) => {
      const run = await runCli(['audit', 'disclosures', '--patient', patient, '--data', stack.dataDir]);
      expect(run.code, run.stderr).toBe(0);
      return JSON.parse(run.stdout) as { patient: string; disclosures: Record<string, unknown>[] };
    };
    const mine = await accounting('Patient/demo-1');
    expect(mine.patient).toBe('Patient/demo-1');
    const entry = mine.disclosures.find((d) => d.request_id === first!.readRequestId);
    expect(entry).toEqual({
      seq: expect.any(Number), date: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), organisation: null, client_id: docUrl, user_id: userId,
      resource: 'Patient/demo-1', action: 'read', scope: 'patient/Patient.rs', purpose_of_use: null, outcome: 'success', request_id: first!.readRequestId,
    });
    // Every agent read of this patient is there (the step-up agent's search too), and nothing else of agents.
    const agents = mine.disclosures.filter((d) => String(d.client_id).startsWith(docs.base));
    expect(agents.map((d) => [d.client_id, d.action])).toEqual([
      [docUrl, 'read'], [`${docs.base}/lab-reader.json`, 'read'], [`${docs.base}/lab-reader.json`, 'search'],
      [`${docs.base}/lab-reader.json`, 'read'], [`${docs.base}/note-taker.json`, 'read'],
    ]);
    // The refused read of the other patient released nothing: it is not a disclosure.
    expect((await accounting('Patient/demo-2')).disclosures).toEqual([]);
  }, 30_000);
});
