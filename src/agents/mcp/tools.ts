// The FHIR MCP server's tools (MCP specification 2025-11-25, server/tools): fhir_read, fhir_search
// and whoami. fhir_read and fhir_search are FHIR interactions handed to the gateway's fhir route
// (FhirGatewayRoute, src/gateway/register.ts): the same SMART scope and patient-compartment plan,
// release checks, minimum-necessary masking and ledger event (phi.accessed or phi.denied, with
// details.tool) as an HTTP request to that route; there is no second policy engine here. The
// agent's token is never sent upstream (MCP authorization "Token Passthrough"): the gateway sends
// its identity headers.
//
// A refusal of the gateway or an upstream error status is a tool execution error (isError, the
// OperationOutcome as text) the agent can read; unknown tools are a JSON-RPC error (-32602).
// One refusal is not a tool result: insufficient_scope (the token lacks the scope the call needs)
// is thrown, and answered as HTTP 403 with its challenge (MCP specification 2025-11-25
// basic/authorization "Scope Challenge Handling"), so that the client can ask for more and the
// person decide (step-up); see scopeChallenge below.
// Deliberately not checked here: what the token may read (the gateway decides).
import type { FhirGatewayRoute } from '../../gateway/index.js';
import type { VerifiedAccessToken } from '../../gateway/index.js';
import { serializeError, type ErrorLogContext } from '../../errors/serializer.js';
import { ResourceAccessError } from '../../oauth/resource-server/errors.js';
import { FHIR_ID } from '../../util/fhir-id.js';
import type { AuditSink } from '../../audit/events.js';
import { hasStructuredContent, INVALID_PARAMS, McpProtocolError, type JsonRpcId } from './protocol.js';

const RESOURCE_TYPE = /^[A-Z][A-Za-z]{0,63}$/;
/** A search parameter name: FHIR names, modifiers and chains (`code:text`, `subject:Patient.name`, `_count`). */
const SEARCH_PARAM = /^[A-Za-z_][A-Za-z0-9_.:-]{0,99}$/;
const MAX_SEARCH_PARAMS = 30;

const READ_ONLY = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false };

export const TOOLS = [
  {
    name: 'fhir_read',
    title: 'Read a FHIR resource',
    description: 'Reads one FHIR R4 resource by type and id, within the scopes and the patient the access token grants.',
    inputSchema: {
      type: 'object',
      properties: {
        resourceType: { type: 'string', description: 'FHIR resource type, e.g. Patient, Observation', pattern: RESOURCE_TYPE.source },
        id: { type: 'string', description: 'The logical id of the resource', pattern: FHIR_ID.source },
      },
      required: ['resourceType', 'id'],
      additionalProperties: false,
    },
    annotations: READ_ONLY,
  },
  {
    name: 'fhir_search',
    title: 'Search FHIR resources',
    description: 'Searches FHIR R4 resources of one type with FHIR search parameters; returns a Bundle limited to what the access token grants (a patient token: that patient only).',
    inputSchema: {
      type: 'object',
      properties: {
        resourceType: { type: 'string', description: 'FHIR resource type, e.g. Observation', pattern: RESOURCE_TYPE.source },
        params: {
          type: 'object', description: 'FHIR search parameters, e.g. {"code": "http://loinc.org|8867-4", "_count": "10"}',
          additionalProperties: { type: 'string' },
        },
      },
      required: ['resourceType'],
      additionalProperties: false,
    },
    annotations: READ_ONLY,
  },
  {
    name: 'whoami',
    title: 'Who am I',
    description: 'The patient in context, the scopes granted and the client id of this agent, from its access token. Reads no record.',
    inputSchema: { type: 'object', properties: {}, additionalProperties: false },
    annotations: READ_ONLY,
  },
] as const;

export type ToolName = (typeof TOOLS)[number]['name'];

export interface ToolCallContext {
  route: FhirGatewayRoute;
  /** The ledger, for the calls that do not go through the gateway (whoami). */
  audit: AuditSink;
  token: VerifiedAccessToken;
  requestId: string;
  sourceAddress: string;
  /** The negotiated protocol revision: whether results carry structuredContent. */
  protocolVersion: string;
  log: ErrorLogContext;
}

export interface ToolResult extends Record<string, unknown> {
  content: { type: 'text'; text: string }[];
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The input is the agent's: a wrong argument is a tool execution error it can correct (server/tools "Error Handling"). */
class ToolInputError extends Error {}

function jsonResult(body: unknown, version: string, isError = false): ToolResult {
  const structured = hasStructuredContent(version) && isObject(body) ? { structuredContent: body } : {};
  return { content: [{ type: 'text', text: JSON.stringify(body) }], ...structured, ...(isError ? { isError: true } : {}) };
}

function textError(text: string): ToolResult {
  return { content: [{ type: 'text', text }], isError: true };
}

function resourceTypeOf(args: Record<string, unknown>): string {
  const t = args.resourceType;
  if (typeof t !== 'string' || !RESOURCE_TYPE.test(t)) throw new ToolInputError('resourceType must be a FHIR resource type, e.g. Patient');
  return t;
}

function searchQuery(params: unknown): URLSearchParams {
  const query = new URLSearchParams();
  if (params === undefined) return query;
  if (!isObject(params)) throw new ToolInputError('params must be an object of FHIR search parameters');
  const entries = Object.entries(params);
  if (entries.length > MAX_SEARCH_PARAMS) throw new ToolInputError(`at most ${MAX_SEARCH_PARAMS} search parameters`);
  for (const [name, value] of entries) {
    if (!SEARCH_PARAM.test(name)) throw new ToolInputError(`"${name.slice(0, 100)}" is not a FHIR search parameter name`);
    const values = Array.isArray(value) ? value : [value];
    if (values.length === 0 || values.some((v) => typeof v !== 'string')) throw new ToolInputError(`the value of ${name} must be a string`);
    for (const v of values as string[]) query.append(name, v);
  }
  return query;
}

/** Runs one tools/call. Throws McpProtocolError for an unknown tool, and the gateway's ledger or storage failure as it is. */
export async function callTool(name: unknown, args: unknown, c: ToolCallContext, id: JsonRpcId): Promise<ToolResult> {
  if (typeof name !== 'string' || !TOOLS.some((t) => t.name === name)) throw new McpProtocolError(INVALID_PARAMS, 'unknown tool', id);
  if (args !== undefined && !isObject(args)) throw new McpProtocolError(INVALID_PARAMS, 'arguments must be an object', id);
  const a = (args as Record<string, unknown> | undefined) ?? {};
  try {
    switch (name as ToolName) {
      case 'whoami':
        return await whoami(c);
      case 'fhir_read': {
        const type = resourceTypeOf(a);
        if (typeof a.id !== 'string' || !FHIR_ID.test(a.id)) throw new ToolInputError('id must be a FHIR id (A-Z, a-z, 0-9, "-" and ".", at most 64)');
        return await viaGateway(c, 'fhir_read', `/${type}/${a.id}`, new URLSearchParams());
      }
      case 'fhir_search':
        return await viaGateway(c, 'fhir_search', `/${resourceTypeOf(a)}`, searchQuery(a.params));
    }
  } catch (err) {
    if (err instanceof ToolInputError) return textError(err.message);
    throw err;
  }
}

/**
 * What the token says. No record is read, so no phi.* event; the call is recorded as the token's
 * own introspection (token.introspected, action whoami) before the answer leaves, like every tool
 * call (45 CFR 164.312(b)).
 */
async function whoami(c: ToolCallContext): Promise<ToolResult> {
  const t = c.token;
  await c.audit.record({
    type: 'token.introspected', actor: { clientId: t.clientId, ...(t.subject !== t.clientId ? { userId: t.subject } : {}) }, outcome: 'success',
    action: 'whoami', ...(t.patient !== undefined ? { patient: `Patient/${t.patient}` } : {}), jti: t.jti, ...(t.grantId ? { grantId: t.grantId } : {}),
    requestId: c.requestId, sourceAddress: c.sourceAddress, details: { tool: 'whoami' },
  });
  const body = {
    client_id: t.clientId,
    ...(t.subject !== t.clientId ? { user: t.subject } : {}),
    patient: t.patient !== undefined ? `Patient/${t.patient}` : null,
    scopes: t.scopes,
    expires_at: new Date(t.expiresAt * 1000).toISOString(),
  };
  return jsonResult(body, c.protocolVersion);
}

async function viaGateway(c: ToolCallContext, tool: ToolName, path: string, query: URLSearchParams): Promise<ToolResult> {
  const out = await c.route.run({ method: 'GET', path, query, token: c.token, requestId: c.requestId, sourceAddress: c.sourceAddress, tool });
  if (!out.ok) {
    // The phi.denied event is written (route.run records every refusal before it returns).
    if (out.denial.error === 'insufficient_scope') throw scopeChallenge(c.token, out.denial.requiredScope);
    // The refusal as the gateway would answer it over HTTP: a FHIR OperationOutcome, written (and an
    // unexpected failure logged) by the one serializer.
    return textError(serializeError(out.denial, { format: 'fhir', log: c.log }).body);
  }
  const { status, body } = out.response;
  if (status >= 400) return body === undefined ? textError(`the FHIR server answered ${status}`) : jsonResult(body, c.protocolVersion, true);
  return jsonResult(body, c.protocolVersion);
}

/**
 * The HTTP 403 of a tool call the token's scopes do not cover (the server answers it with
 * `WWW-Authenticate: Bearer error="insufficient_scope", scope="…", resource_metadata="…"`).
 * MCP 2025-11-25 basic/authorization "Runtime Insufficient Scope Errors": the client re-authorizes
 * with the challenge's scope (the official TypeScript SDK uses it in place of the scope it asked
 * for before), and the recommended approach is to "include both existing relevant scopes and newly
 * required scopes": the token's scopes plus the one the call needs, so a step-up does not cost the
 * agent what the person already allowed.
 */
function scopeChallenge(token: VerifiedAccessToken, required: string | undefined): ResourceAccessError {
  const scope = [...new Set([...token.scopes, ...(required ?? '').split(' ')].filter(Boolean))].join(' ');
  return new ResourceAccessError('insufficient_scope', 'the access token does not carry a scope that allows this request', 'ERR_INSUFFICIENT_SCOPE', { requiredScope: scope });
}
