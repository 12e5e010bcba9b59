// The MCP base protocol as this server speaks it: JSON-RPC 2.0 messages (MCP specification
// 2025-11-25, basic/index: requests, notifications, responses), the protocol revisions it accepts
// (basic/lifecycle "Version Negotiation"), and the JSON-RPC error codes. Pure: no HTTP, no policy.
//
// Deliberately not supported: JSON-RPC batches (2025-03-26 allowed them; 2025-06-18 removed them),
// server-to-client requests and SSE streams (every answer is one application/json response).

/** Newest first. The current revision and the two before it share everything this server offers. */
export const SUPPORTED_PROTOCOL_VERSIONS = ['2025-11-25', '2025-06-18', '2025-03-26'] as const;
export const LATEST_PROTOCOL_VERSION = SUPPORTED_PROTOCOL_VERSIONS[0];
/** basic/transports (2025-06-18) "Protocol Version Header": without the header, the server assumes 2025-03-26. */
export const DEFAULT_PROTOCOL_VERSION = '2025-03-26';

/** JSON-RPC 2.0 §5.1 codes. */
export const PARSE_ERROR = -32700;
export const INVALID_REQUEST = -32600;
export const METHOD_NOT_FOUND = -32601;
export const INVALID_PARAMS = -32602;

export type JsonRpcId = string | number;

export type McpMessage =
  | { kind: 'request'; id: JsonRpcId; method: string; params: Record<string, unknown> }
  | { kind: 'notification'; method: string }
  /** A client's answer to a server request: this server sends none, so it is acknowledged and dropped. */
  | { kind: 'response' };

export interface JsonRpcError {
  jsonrpc: '2.0';
  id: JsonRpcId | null;
  error: { code: number; message: string };
}

export class McpProtocolError extends Error {
  override name = 'McpProtocolError';
  constructor(readonly code: number, message: string, readonly id: JsonRpcId | null = null) {
    super(message);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function supportsVersion(version: string): boolean {
  return (SUPPORTED_PROTOCOL_VERSIONS as readonly string[]).includes(version);
}

/** basic/lifecycle: the client's version when supported, otherwise the latest this server supports. */
export function negotiateVersion(requested: unknown): string {
  return typeof requested === 'string' && supportsVersion(requested) ? requested : LATEST_PROTOCOL_VERSION;
}

/** structuredContent in tool results exists from 2025-06-18 on (server/tools "Structured Content"). */
export function hasStructuredContent(version: string): boolean {
  return version >= '2025-06-18';
}

/** Reads one JSON-RPC message from a request body; throws McpProtocolError for what is not one. */
export function parseMessage(raw: string): McpMessage {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new McpProtocolError(PARSE_ERROR, 'the body is not valid JSON');
  }
  if (Array.isArray(value)) throw new McpProtocolError(INVALID_REQUEST, 'JSON-RPC batches are not supported: send one message per request');
  if (!isObject(value) || value.jsonrpc !== '2.0') throw new McpProtocolError(INVALID_REQUEST, 'not a JSON-RPC 2.0 message');
  const id = value.id;
  const hasId = id !== undefined;
  // MCP basic/index: a request id MUST be a string or integer and MUST NOT be null.
  if (hasId && typeof id !== 'string' && !(typeof id === 'number' && Number.isInteger(id))) {
    throw new McpProtocolError(INVALID_REQUEST, 'the id must be a string or an integer');
  }
  if (value.method === undefined) {
    if (hasId && (value.result !== undefined || value.error !== undefined)) return { kind: 'response' };
    throw new McpProtocolError(INVALID_REQUEST, 'a request needs a method', hasId ? (id as JsonRpcId) : null);
  }
  if (typeof value.method !== 'string') throw new McpProtocolError(INVALID_REQUEST, 'the method must be a string', hasId ? (id as JsonRpcId) : null);
  if (value.params !== undefined && !isObject(value.params)) throw new McpProtocolError(INVALID_PARAMS, 'params must be an object', hasId ? (id as JsonRpcId) : null);
  if (!hasId) return { kind: 'notification', method: value.method };
  return { kind: 'request', id: id as JsonRpcId, method: value.method, params: (value.params as Record<string, unknown> | undefined) ?? {} };
}

export function resultMessage(id: JsonRpcId, result: Record<string, unknown>): Record<string, unknown> {
  return { jsonrpc: '2.0', id, result };
}

export function errorMessage(err: McpProtocolError): JsonRpcError {
  return { jsonrpc: '2.0', id: err.id, error: { code: err.code, message: err.message } };
}
