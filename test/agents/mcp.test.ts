// The FHIR MCP server end to end over real TLS, driven by the official MCP TypeScript SDK client
// (StreamableHTTPClientTransport): an AI agent known by its Client ID Metadata Document gets a
// token for the MCP resource (RFC 8707 resource = issuer + /mcp) through the code flow with PKCE,
// signed in as the demo patient; every tool call goes through the /fhir gateway route's pipeline
// and writes its ledger event (phi.accessed / phi.denied with details.tool) before the result.
import { createServer, type Server } from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetch as undiciFetch, type Dispatcher } from 'undici';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startTestStack, trustingDispatcher, type TestStack } from '../support/stack.js';
import { frontChannel, relyingParty, type Rp } from '../support/flows.js';
import { searchEvents } from '../../src/audit/search.js';

interface ToolResult {
  content: { type: string; text: string }[];
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
}

type LedgerRow = {
  type: string;
  outcome: string;
  patient: string | null;
  actor_client: string | null;
  actor_user: string | null;
  event_json: string;
};

describe('the FHIR MCP server', () => {
  let stack: TestStack;
  let rp: Rp;
  let docs: Server;
  let docUrl: string;
  let dispatcher: Dispatcher;
  let mcpUrl: string;
  let mcpToken: string;
  let fhirToken: string;

  const trustingFetch = ((url: string | URL, init?: RequestInit) => undiciFetch(url, { ...(init as object), dispatcher } as never)) as unknown as typeof fetch;

  /** The code flow of the agent (public client, PKCE) for one resource. */
  async function agentToken(resource: string): Promise<string> {
    const agentRp: Rp = { ...rp, client: { client_id: docUrl } };
    const fc = await frontChannel(agentRp, { scope: 'openid patient/*.rs', extra: { resource } });
    const code = new URL(fc.final.location!).searchParams.get('code');
    expect(code).toBeTruthy();
    const res = await undiciFetch(`${stack.issuer}/token`, {
      method: 'POST', dispatcher, headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', client_id: docUrl, code: code!, code_verifier: fc.verifier, redirect_uri: stack.demo.redirect_uri, resource }).toString(),
    });
    const body = await res.json() as Record<string, unknown>;
    expect(res.status).toBe(200);
    return String(body.access_token);
  }

  async function connect(token: string): Promise<Client> {
    const client = new Client({ name: 'caduceus-test-agent', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { fetch: trustingFetch, requestInit: { headers: { authorization: `Bearer ${token}` } } });
    await client.connect(transport);
    return client;
  }

  async function rawPost(token: string | undefined, body: unknown, headers: Record<string, string> = {}) {
    return undiciFetch(mcpUrl, {
      method: 'POST', dispatcher,
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
      body: JSON.stringify(body),
    });
  }

  const lastPhiEvent = async (tool: string): Promise<LedgerRow | undefined> => {
    const rows = await stack.ctx.storage.sql.all<LedgerRow>(
      "SELECT type, outcome, patient, actor_client, actor_user, event_json FROM audit_events WHERE type IN ('phi.accessed', 'phi.denied') ORDER BY seq DESC", [],
    );
    return rows.find((r) => (JSON.parse(r.event_json) as { details?: { tool?: string } }).details?.tool === tool);
  };

  beforeAll(async () => {
    stack = await startTestStack();
    mcpUrl = stack.demo.mcp_url!;
    dispatcher = trustingDispatcher(stack.ca);
    rp = await relyingParty(stack);
    const tls = stack.ctx.config.tls!;
    docs = createServer({ cert: readFileSync(tls.cert), key: readFileSync(tls.key) }, (_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.setHeader('cache-control', 'max-age=300');
      res.end(JSON.stringify({
        client_id: docUrl, client_name: 'Chart summariser', redirect_uris: [stack.demo.redirect_uri],
        token_endpoint_auth_method: 'none', grant_types: ['authorization_code'], response_types: ['code'],
      }));
    });
    await new Promise<void>((resolve) => docs.listen(0, '127.0.0.1', resolve));
    docUrl = `https://localhost:${(docs.address() as AddressInfo).port}/agent.json`;
    mcpToken = await agentToken(mcpUrl);
    fhirToken = await agentToken(stack.demo.resource);
  });
  afterAll(async () => {
    await new Promise((resolve) => docs?.close(resolve));
    await stack?.close();
  });

  it('is the dev stack\'s mcp_url, next to the FHIR route', () => {
    expect(mcpUrl).toBe(`${stack.issuer}/mcp`);
  });

  it('answers a bare request with 401 and a challenge naming its protected resource metadata, which names it as the resource', async () => {
    const res = await rawPost(undefined, { jsonrpc: '2.0', id: 1, method: 'ping' });
    expect(res.status).toBe(401);
    const challenge = res.headers.get('www-authenticate') ?? '';
    expect(challenge).toMatch(/^Bearer /);
    const metadataUrl = /resource_metadata="([^"]+)"/.exec(challenge)?.[1];
    expect(metadataUrl).toBe(`${stack.issuer}/.well-known/oauth-protected-resource/mcp`);
    const meta = await undiciFetch(metadataUrl!, { dispatcher });
    expect(meta.status).toBe(200);
    const body = await meta.json() as Record<string, unknown>;
    expect(body.resource).toBe(mcpUrl);
    expect(body.authorization_servers).toEqual([stack.issuer]);
    expect(body.scopes_supported).toContain('patient/*.rs');
    expect(body.bearer_methods_supported).toEqual(['header']);
  });

  it('initializes with the SDK client and lists fhir_read, fhir_search and whoami', async () => {
    const client = await connect(mcpToken);
    expect(client.getServerCapabilities()?.tools).toBeDefined();
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(['fhir_read', 'fhir_search', 'whoami']);
    expect(tools.find((t) => t.name === 'fhir_read')?.inputSchema.required).toEqual(['resourceType', 'id']);
    await client.close();
  });

  it('answers initialize with the client\'s protocol version when supported, else its latest', async () => {
    const init = (protocolVersion: string) => rawPost(mcpToken, { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion, capabilities: {}, clientInfo: { name: 't', version: '1' } } });
    const older = await (await init('2025-06-18')).json() as { result: { protocolVersion: string } };
    expect(older.result.protocolVersion).toBe('2025-06-18');
    const unknown = await (await init('2099-01-01')).json() as { result: { protocolVersion: string } };
    expect(unknown.result.protocolVersion).toBe('2025-11-25');
  });

  it('whoami names the patient in context, the scopes granted and the agent\'s client id', async () => {
    const client = await connect(mcpToken);
    const result = await client.callTool({ name: 'whoami', arguments: {} }) as ToolResult;
    expect(result.isError).toBeFalsy();
    const me = JSON.parse(result.content[0]!.text) as Record<string, unknown>;
    expect(me).toMatchObject({ client_id: docUrl, patient: 'Patient/demo-1' });
    expect(me.scopes).toEqual(expect.arrayContaining(['patient/*.rs']));
    // Recorded as the token's own introspection, naming the tool, the agent and the patient.
    const [event] = await searchEvents(stack.ctx.storage.sql, { type: 'token.introspected', client: docUrl, limit: 1 });
    expect(event).toMatchObject({ action: 'whoami', outcome: 'success', patient: 'Patient/demo-1', details: { tool: 'whoami' } });
    await client.close();
  });

  it('fhir_read of the patient in context returns the record, after a phi.accessed event naming the agent and the patient', async () => {
    const client = await connect(mcpToken);
    const result = await client.callTool({ name: 'fhir_read', arguments: { resourceType: 'Patient', id: 'demo-1' } }) as ToolResult;
    expect(result.isError).toBeFalsy();
    const patient = JSON.parse(result.content[0]!.text) as Record<string, unknown>;
    expect(patient).toMatchObject({ resourceType: 'Patient', id: 'demo-1' });
    expect(result.structuredContent).toMatchObject({ resourceType: 'Patient', id: 'demo-1' });
    // Minimum necessary: the route's mask applies (no phi.identifiers scope).
    expect(patient).not.toHaveProperty('identifier');
    const event = await lastPhiEvent('fhir_read');
    expect(event).toMatchObject({ type: 'phi.accessed', outcome: 'success', patient: 'Patient/demo-1', actor_client: docUrl });
    expect(event?.actor_user).toBeTruthy();
    expect(JSON.parse(event!.event_json)).toMatchObject({ resource: 'Patient/demo-1', details: { route: '/fhir', tool: 'fhir_read' } });
    await client.close();
  });

  it('fhir_read of another patient is a tool error with the OperationOutcome, and a phi.denied event', async () => {
    const client = await connect(mcpToken);
    const result = await client.callTool({ name: 'fhir_read', arguments: { resourceType: 'Patient', id: 'demo-2' } }) as ToolResult;
    expect(result.isError).toBe(true);
    const outcome = JSON.parse(result.content[0]!.text) as { resourceType: string; issue: { code: string }[] };
    expect(outcome.resourceType).toBe('OperationOutcome');
    expect(outcome.issue[0]?.code).toBe('forbidden');
    const event = await lastPhiEvent('fhir_read');
    expect(event).toMatchObject({ type: 'phi.denied', outcome: 'denied', actor_client: docUrl });
    expect(JSON.parse(event!.event_json).reason).toMatch(/^ERR_/);
    await client.close();
  });

  it('fhir_search of Observations returns a Bundle of the patient in context only', async () => {
    const client = await connect(mcpToken);
    const result = await client.callTool({ name: 'fhir_search', arguments: { resourceType: 'Observation', params: { _count: '50' } } }) as ToolResult;
    expect(result.isError).toBeFalsy();
    const bundle = JSON.parse(result.content[0]!.text) as { resourceType: string; entry?: { fullUrl?: string; resource: { subject?: { reference?: string } } }[] };
    expect(bundle.resourceType).toBe('Bundle');
    expect(bundle.entry?.length).toBeGreaterThan(0);
    for (const e of bundle.entry!) expect(e.resource.subject?.reference).toBe('Patient/demo-1');
    // Links point to the gateway's public base, never the upstream.
    for (const e of bundle.entry!) if (e.fullUrl) expect(e.fullUrl.startsWith(`${stack.issuer}/fhir/`)).toBe(true);
    const event = await lastPhiEvent('fhir_search');
    expect(event).toMatchObject({ type: 'phi.accessed', patient: 'Patient/demo-1', actor_client: docUrl });
    await client.close();
  });

  it('answers malformed messages with JSON-RPC errors', async () => {
    const unknown = await (await rawPost(mcpToken, { jsonrpc: '2.0', id: 7, method: 'resources/list' })).json() as { id: number; error: { code: number } };
    expect(unknown).toMatchObject({ id: 7, error: { code: -32601 } });
    const badTool = await (await rawPost(mcpToken, { jsonrpc: '2.0', id: 8, method: 'tools/call', params: { name: 'fhir_delete', arguments: {} } })).json() as { error: { code: number } };
    expect(badTool.error.code).toBe(-32602);
    const notRpc = await rawPost(mcpToken, { hello: 'world' });
    expect(notRpc.status).toBe(400);
    expect(((await notRpc.json()) as { error: { code: number } }).error.code).toBe(-32600);
    const parse = await undiciFetch(mcpUrl, { method: 'POST', dispatcher, headers: { 'content-type': 'application/json', authorization: `Bearer ${mcpToken}` }, body: '{"jsonrpc":' });
    expect(parse.status).toBe(400);
    expect(((await parse.json()) as { error: { code: number } }).error.code).toBe(-32700);
    const notification = await rawPost(mcpToken, { jsonrpc: '2.0', method: 'notifications/initialized' });
    expect(notification.status).toBe(202);
    expect(await notification.text()).toBe('');
    const badVersion = await rawPost(mcpToken, { jsonrpc: '2.0', id: 9, method: 'ping' }, { 'mcp-protocol-version': '1999-01-01' });
    expect(badVersion.status).toBe(400);
  });

  it('refuses GET with 405 (no server-to-client stream) and a foreign Origin with 403 naming the metadata', async () => {
    const get = await undiciFetch(mcpUrl, { dispatcher, headers: { authorization: `Bearer ${mcpToken}`, accept: 'text/event-stream' } });
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    const foreign = await rawPost(mcpToken, { jsonrpc: '2.0', id: 1, method: 'ping' }, { origin: 'https://evil.example' });
    expect(foreign.status).toBe(403);
    expect(foreign.headers.get('www-authenticate')).toContain('resource_metadata="');
    expect((await searchEvents(stack.ctx.storage.sql, { type: 'phi.denied', limit: 1 }))[0])
      .toMatchObject({ resource: '/mcp', reason: 'ERR_ORIGIN_NOT_ALLOWED', outcome: 'denied', details: { route: '/mcp', status: 403 } });
    const own = await rawPost(mcpToken, { jsonrpc: '2.0', id: 1, method: 'ping' }, { origin: new URL(stack.issuer).origin });
    expect(own.status).toBe(200);
  });

  it('refuses a token for /fhir at /mcp, and the /mcp token at /fhir (each its own audience)', async () => {
    const atMcp = await rawPost(fhirToken, { jsonrpc: '2.0', id: 1, method: 'ping' });
    expect(atMcp.status).toBe(401);
    expect(atMcp.headers.get('www-authenticate')).toContain('error="invalid_token"');
    expect(atMcp.headers.get('www-authenticate')).toContain('resource_metadata="');
    expect(((await atMcp.json()) as { error: string }).error).toBe('invalid_token');
    expect((await searchEvents(stack.ctx.storage.sql, { type: 'phi.denied', limit: 1 }))[0])
      .toMatchObject({ resource: '/mcp', reason: 'ERR_TOKEN_AUDIENCE', outcome: 'denied', details: { route: '/mcp', status: 401 } });
    const bare = await rawPost(undefined, { jsonrpc: '2.0', id: 1, method: 'ping' });
    expect(bare.status).toBe(401);
    expect((await searchEvents(stack.ctx.storage.sql, { type: 'phi.denied', limit: 1 }))[0]).toMatchObject({ resource: '/mcp', reason: 'ERR_TOKEN_MISSING', details: { status: 401 } });

    const atFhir = await undiciFetch(`${stack.issuer}/fhir/Patient/demo-1`, { dispatcher, headers: { authorization: `Bearer ${mcpToken}` } });
    expect(atFhir.status).toBe(401);
    expect(atFhir.headers.get('www-authenticate')).toContain('error="invalid_token"');
    // The /fhir token itself works at /fhir.
    const ok = await undiciFetch(`${stack.issuer}/fhir/Patient/demo-1`, { dispatcher, headers: { authorization: `Bearer ${fhirToken}` } });
    expect(ok.status).toBe(200);
  });

  it('refuses the next call once the token is revoked', async () => {
    const token = await agentToken(mcpUrl);
    const before = await rawPost(token, { jsonrpc: '2.0', id: 1, method: 'ping' });
    expect(before.status).toBe(200);
    // A public client revokes its own token by naming itself (RFC 7009 §2.1).
    const revoked = await undiciFetch(`${stack.issuer}/revoke`, {
      method: 'POST', dispatcher, headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token, client_id: docUrl }).toString(),
    });
    expect(revoked.status).toBe(200);
    const after = await rawPost(token, { jsonrpc: '2.0', id: 2, method: 'ping' });
    expect(after.status).toBe(401);
    expect(after.headers.get('www-authenticate')).toContain('error="invalid_token"');
  });
});
