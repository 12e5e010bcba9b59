// Proof of issue 14, continued (test/agents/mcp-oauth-e2e.test.ts has the metadata-document flow,
// step-up, revocation and the accounting of disclosures): the official MCP SDK client, real TLS on
// loopback, the person in Debian's Chromium.
// - Dynamic registration (RFC 7591): an agent without a metadata document URL registers itself at
//   the registration_endpoint the SDK finds by discovery (open registration here, behind
//   unsafe.allow_open_client_registration), then the same flow: PKCE, consent naming it an AI
//   agent, its patient read, another patient refused with a phi.denied event naming it.
// - Token expiry and the refresh policy: with agents.access_token_ttl of a few seconds, the next
//   /mcp call after expiry is 401. An unapproved agent that asked for offline_access got no refresh
//   token (the policy), so the SDK must send the person back to authorize; an agent approved with
//   offline_access (agents.approved) got one, and the SDK refreshes on its own.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dispatcher } from 'undici';
import type { Browser } from 'playwright-core';
import { auth, UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { launchChromium } from '../support/chromium.js';
import { freePort, startTestStack, trustingDispatcher, type TestStack } from '../support/stack.js';
import {
  AgentProvider, CallbackServer, MetadataDocuments, codeFrom, eventsSince, toolEventsSince, ledgerHead, personAllows, personContext, rawMcp,
  recordingFetch, sdkClient, sleep, type Exchange,
} from './mcp-oauth-harness.js';

interface ToolResult {
  content: { type: string; text: string }[];
  isError?: boolean;
}

const pathOf = (e: Exchange) => `${e.method} ${new URL(e.url).pathname} ${e.status}`;
const AGENT_SCOPES = ['patient/Patient.rs', 'patient/Observation.rs', 'patient/Condition.rs', 'patient/*.rs'];

describe('an MCP SDK agent that registers itself (RFC 7591), and a person in Chromium', () => {
  let stack: TestStack;
  let dispatcher: Dispatcher;
  let browser: Browser;
  let callbacks: CallbackServer;

  beforeAll(async () => {
    stack = await startTestStack({
      configure: (c) => {
        c.agents.dynamic_registration = { enabled: true };
        c.unsafe.allow_open_client_registration = true;
      },
    });
    dispatcher = trustingDispatcher(stack.ca);
    callbacks = await CallbackServer.start();
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await callbacks?.close();
    await stack?.close();
  });

  it('from a bare 401: discovery, registration at the registration_endpoint, PKCE, consent in Chromium, its patient read and another refused', async () => {
    const mcpUrl = stack.demo.mcp_url!;
    const since = await ledgerHead(stack);
    const exchanges: Exchange[] = [];
    const fetchFn = recordingFetch(dispatcher, exchanges);
    // No clientMetadataUrl: the SDK falls back to dynamic registration.
    const provider = new AgentProvider(callbacks.url, 'Visit prep assistant');

    const start = sdkClient(mcpUrl, provider, fetchFn);
    await expect(start.client.connect(start.transport)).rejects.toBeInstanceOf(UnauthorizedError);
    expect(exchanges.map(pathOf)).toEqual([
      'POST /mcp 401', 'GET /.well-known/oauth-protected-resource/mcp 200', 'GET /.well-known/oauth-authorization-server 200', 'POST /register 201',
    ]);
    const info = provider.clientInformation() as Record<string, unknown>;
    const clientId = provider.clientId;
    expect(clientId).toMatch(/^agent_[A-Za-z0-9_-]{22}$/);
    expect(info).toMatchObject({
      client_name: 'Visit prep assistant', redirect_uris: [callbacks.url], token_endpoint_auth_method: 'none',
      // What the SDK asked for (the resource's scopes_supported), narrowed by the agent policy.
      scope: AGENT_SCOPES.join(' '),
    });
    expect(info).not.toHaveProperty('client_secret');
    // The server's answer carried RFC 7592 registration_client_uri and registration_access_token; this
    // SDK keeps only what its schema knows, so they are not in the provider (not the server's doing).
    // Stored as a dynamic client; the registration is in the ledger.
    expect(await stack.ctx.storage.clients.get(clientId)).toMatchObject({ clientId, source: 'dynamic', name: 'Visit prep assistant', secretDigest: null });
    const registered = await eventsSince(stack, since, ['client.changed']);
    expect(registered.map((e) => [e.outcome, e.event.action, e.event.resource, e.event.details?.source, e.event.details?.initial_access_token])).toEqual([
      ['success', 'register', clientId, 'dynamic', false],
    ]);

    const url = provider.lastAuthorizationUrl;
    expect(url.searchParams.get('client_id')).toBe(clientId);
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
    expect(url.searchParams.get('resource')).toBe(mcpUrl);

    const { context, page, problems } = await personContext(browser);
    const decision = await personAllows(page, stack, callbacks, url, { screenshot: 'mcp-registered-agent-consent-phone.png' });
    expect(decision.signedIn).toBe(true);
    expect(decision.consentText).toContain('This is an AI agent, not an app you installed.');
    expect(decision.consentText).toContain(`It registered itself with this server (client ${clientId}).`);
    expect(decision.consentText).toContain('Allow Visit prep assistant to access your information?');
    expect(decision.offered).toEqual(AGENT_SCOPES);
    expect(problems).toEqual([]);
    await context.close();

    exchanges.length = 0;
    await start.transport.finishAuth(codeFrom(decision.callback, provider, stack.issuer));
    expect(exchanges.map(pathOf)).toEqual(['GET /.well-known/oauth-protected-resource/mcp 200', 'GET /.well-known/oauth-authorization-server 200', 'POST /token 200']);
    expect(provider.tokens()).toMatchObject({ token_type: 'Bearer', expires_in: 300, scope: AGENT_SCOPES.join(' ') });
    expect(provider.tokens()).not.toHaveProperty('refresh_token');

    const { client, transport } = sdkClient(mcpUrl, provider, fetchFn);
    await client.connect(transport);
    expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(['fhir_read', 'fhir_search', 'whoami']);
    const read = await client.callTool({ name: 'fhir_read', arguments: { resourceType: 'Patient', id: 'demo-1' } }) as ToolResult;
    expect(read.isError).toBeFalsy();
    expect(JSON.parse(read.content[0]!.text)).toMatchObject({ resourceType: 'Patient', id: 'demo-1' });
    const other = await client.callTool({ name: 'fhir_read', arguments: { resourceType: 'Patient', id: 'demo-2' } }) as ToolResult;
    expect(other.isError).toBe(true);
    expect(JSON.parse(other.content[0]!.text)).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'forbidden' }] });
    const phi = await toolEventsSince(stack, since);
    expect(phi.map((e) => [e.type, e.patient, e.actor_client, e.event.reason ?? null, e.event.details?.tool])).toEqual([
      ['phi.accessed', 'Patient/demo-1', clientId, null, 'fhir_read'],
      ['phi.denied', 'Patient/demo-2', clientId, 'ERR_PATIENT_COMPARTMENT', 'fhir_read'],
    ]);
    await client.close();
  }, 60_000);
});

describe('token expiry at /mcp, and refresh tokens only for an agent approved with offline_access', () => {
  const TTL = 5;
  let stack: TestStack;
  let dispatcher: Dispatcher;
  let browser: Browser;
  let callbacks: CallbackServer;
  let docs: MetadataDocuments;
  let docsPort: number;
  let mcpUrl: string;

  beforeAll(async () => {
    // The approved agent's document URL must be known to the configuration: its port is chosen first.
    docsPort = await freePort();
    stack = await startTestStack({
      configure: (c) => {
        c.agents.access_token_ttl = TTL;
        c.agents.approved = [{ metadata_url: `https://localhost:${docsPort}/approved.json`, scope: 'offline_access' }];
      },
    });
    dispatcher = trustingDispatcher(stack.ca);
    mcpUrl = stack.demo.mcp_url!;
    docs = await MetadataDocuments.start(stack, docsPort);
    callbacks = await CallbackServer.start();
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await callbacks?.close();
    await docs?.close();
    await stack?.close();
  });

  /** Authorizes up front with the scope the agent wants (the SDK's auth()), the person allowing in Chromium. */
  async function authorize(provider: AgentProvider, fetchFn: typeof fetch) {
    const { context, page, problems } = await personContext(browser);
    expect(await auth(provider, { serverUrl: mcpUrl, scope: 'offline_access patient/*.rs', fetchFn })).toBe('REDIRECT');
    const url = provider.lastAuthorizationUrl;
    expect(url.searchParams.get('scope')).toBe('offline_access patient/*.rs');
    const decision = await personAllows(page, stack, callbacks, url);
    expect(await auth(provider, { serverUrl: mcpUrl, authorizationCode: codeFrom(decision.callback, provider, stack.issuer), fetchFn })).toBe('AUTHORIZED');
    expect(problems).toEqual([]);
    return { decision, context, page };
  }

  /** Waits until the agent's current access token has expired (its exp, no skew at the resource). */
  async function untilExpired(token: string) {
    const exp = Number(JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')).exp);
    await sleep(Math.max(0, exp * 1000 - Date.now()) + 250);
  }

  it('an unapproved agent that asked for offline_access gets a short token and no refresh token; after expiry /mcp answers 401 and the SDK must ask the person again', async () => {
    const docUrl = docs.serve('/unapproved.json', { client_name: 'Unapproved agent', redirect_uris: [callbacks.url] });
    const exchanges: Exchange[] = [];
    const fetchFn = recordingFetch(dispatcher, exchanges);
    const provider = new AgentProvider(callbacks.url, 'Unapproved agent', docUrl);
    const since = await ledgerHead(stack);
    const { decision, context, page } = await authorize(provider, fetchFn);
    // The policy took offline_access away before the person saw it.
    expect(decision.offered).toEqual(['patient/*.rs']);
    expect(decision.consentText).toContain('No administrator of this server has reviewed it.');
    expect(decision.consentText).toContain('for 1 minutes, without renewal');
    expect(provider.tokens()).toMatchObject({ token_type: 'Bearer', expires_in: TTL, scope: 'patient/*.rs' });
    expect(provider.tokens()).not.toHaveProperty('refresh_token');
    const token = provider.accessToken;

    const { client, transport } = sdkClient(mcpUrl, provider, fetchFn);
    await client.connect(transport);
    expect((await client.callTool({ name: 'fhir_read', arguments: { resourceType: 'Patient', id: 'demo-1' } }) as ToolResult).isError).toBeFalsy();

    await untilExpired(token);
    const expired = await rawMcp(dispatcher, mcpUrl, token, { jsonrpc: '2.0', id: 1, method: 'ping' });
    expect(expired.status).toBe(401);
    expect(expired.headers.get('www-authenticate')).toBe(
      `Bearer realm="${mcpUrl}", error="invalid_token", error_description="the access token has expired", resource_metadata="${stack.issuer}/.well-known/oauth-protected-resource/mcp"`,
    );
    expect(expired.json).toEqual({ error: 'invalid_token', error_description: 'the access token has expired' });

    // Through the SDK: the 401 starts a new authorization (no refresh token to try) and the call fails.
    exchanges.length = 0;
    const asked = provider.authorizationUrls.length;
    await expect(client.callTool({ name: 'fhir_read', arguments: { resourceType: 'Patient', id: 'demo-1' } })).rejects.toBeInstanceOf(UnauthorizedError);
    expect(exchanges.map(pathOf)).toEqual(['POST /mcp 401', 'GET /.well-known/oauth-protected-resource/mcp 200', 'GET /.well-known/oauth-authorization-server 200']);
    expect(provider.authorizationUrls.length).toBe(asked + 1);

    // The person authorizes again; the same client's call then succeeds.
    const again = await personAllows(page, stack, callbacks, provider.lastAuthorizationUrl);
    await transport.finishAuth(codeFrom(again.callback, provider, stack.issuer));
    expect(provider.accessToken).not.toBe(token);
    expect((await client.callTool({ name: 'fhir_read', arguments: { resourceType: 'Patient', id: 'demo-1' } }) as ToolResult).isError).toBeFalsy();
    await context.close();

    // Every token of this agent came from a code the person gave: none from a refresh token.
    const tokens = await eventsSince(stack, since, ['token.issued', 'token.refreshed', 'token.failed']);
    expect(tokens.map((e) => [e.type, e.actor_client, e.event.action])).toEqual([
      ['token.issued', docUrl, 'authorization_code'], ['token.issued', docUrl, 'authorization_code'],
    ]);
    await client.close();
  }, 60_000);

  it('an agent approved with offline_access gets a refresh token; after expiry the SDK refreshes on its own, without the person', async () => {
    const docUrl = docs.serve('/approved.json', { client_name: 'Approved agent', redirect_uris: [callbacks.url] });
    const exchanges: Exchange[] = [];
    const fetchFn = recordingFetch(dispatcher, exchanges);
    const provider = new AgentProvider(callbacks.url, 'Approved agent', docUrl);
    const since = await ledgerHead(stack);
    const { decision, context } = await authorize(provider, fetchFn);
    await context.close();
    expect(decision.offered).toEqual(['offline_access', 'patient/*.rs']);
    expect(decision.consentText).toContain('An administrator of this server has approved it.');
    expect(decision.consentText).toContain('renewable while you allow it');
    expect(provider.tokens()).toMatchObject({ token_type: 'Bearer', expires_in: TTL, scope: 'offline_access patient/*.rs', refresh_token: expect.any(String) });
    const token = provider.accessToken;

    const { client, transport } = sdkClient(mcpUrl, provider, fetchFn);
    await client.connect(transport);
    await untilExpired(token);
    expect((await rawMcp(dispatcher, mcpUrl, token, { jsonrpc: '2.0', id: 1, method: 'ping' })).status).toBe(401);

    exchanges.length = 0;
    const asked = provider.authorizationUrls.length;
    const read = await client.callTool({ name: 'fhir_read', arguments: { resourceType: 'Patient', id: 'demo-1' } }) as ToolResult;
    expect(read.isError).toBeFalsy();
    expect(exchanges.map(pathOf)).toEqual([
      'POST /mcp 401', 'GET /.well-known/oauth-protected-resource/mcp 200', 'GET /.well-known/oauth-authorization-server 200', 'POST /token 200', 'POST /mcp 200',
    ]);
    expect(provider.authorizationUrls.length).toBe(asked);
    expect(provider.accessToken).not.toBe(token);
    expect(provider.tokens()).toMatchObject({ expires_in: TTL, refresh_token: expect.any(String) });
    const tokens = await eventsSince(stack, since, ['token.issued', 'token.refreshed']);
    expect(tokens.map((e) => [e.type, e.actor_client, e.event.action])).toEqual([
      ['token.issued', docUrl, 'authorization_code'], ['token.refreshed', docUrl, 'refresh_token'],
    ]);
    await transport.close();
    await client.close();
  }, 60_000);
});
