// The FHIR MCP server: MCP over Streamable HTTP (MCP specification 2025-11-25 basic/transports
// "Streamable HTTP"), stateless (no Mcp-Session-Id), one JSON-RPC message per POST answered with
// one application/json response. GET (the server-to-client stream) is 405, which the transport
// allows ("or else return HTTP 405 Method Not Allowed").
//
// MCP authorization (2025-11-25 basic/authorization): the endpoint is an OAuth 2.1 resource server
// whose tokens are audience-bound to its own resource identifier (RFC 8707; issuer + path), checked
// by the one protected-resource authenticator (src/oauth/resource-server/authenticator.ts); every
// 401 and 403 names its RFC 9728 metadata (§5.1). A token for the FHIR route is refused here, and
// this server's token is refused at the FHIR route (each checks its own audience).
//
// Steps of a POST: checkOrigin → authenticate → protocol version header → parse → dispatch →
// (tools/call) the gateway core → answer.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../../context/app-context.js';
import type { FhirGatewayRoute } from '../../gateway/index.js';
import { gatewayEvent } from '../../gateway/audit-event.js';
import { ResourceAuthenticator } from '../../oauth/resource-server/authenticator.js';
import { ResourceAccessError } from '../../oauth/resource-server/errors.js';
import { mcpResource, resourceMetadataUrl } from '../../oauth/endpoints/protected-resource-metadata.js';
import { sendError } from '../../http/error-reply.js';
import { requestMeta } from '../../http/request-info.js';
import {
  errorMessage, INVALID_REQUEST, McpProtocolError, METHOD_NOT_FOUND, negotiateVersion, parseMessage, resultMessage, supportsVersion,
  DEFAULT_PROTOCOL_VERSION, INVALID_PARAMS,
} from './protocol.js';
import { callTool, TOOLS } from './tools.js';

/** One JSON-RPC message: tool calls are small. */
const BODY_LIMIT_BYTES = 64 * 1024;
const SERVER_INFO = { name: 'caduceus-fhir-mcp', title: 'Caduceus FHIR MCP server', version: '0.1.0' };
const INSTRUCTIONS = 'Read-only access to FHIR R4 records through the Caduceus gateway. Call whoami to see the patient in context and the scopes granted; every read is recorded in an audit ledger.';

interface McpEnv {
  ctx: AppContext;
  route: FhirGatewayRoute;
  authenticator: ResourceAuthenticator;
  path: string;
  /** The resource identifier and token audience: issuer + path. */
  resource: string;
  /** RFC 9728 §3.1: where its metadata is. */
  resourceMetadata: string;
  issuerOrigin: string;
}

export interface McpServer {
  /** Forgets remembered token verifications (none unless a cache is configured). */
  clearTokenCache(): void;
}

/** Registers POST {agents.mcp.path} in its own encapsulated scope (its own body parser). */
export async function registerMcpServer(app: FastifyInstance, ctx: AppContext, route: FhirGatewayRoute): Promise<McpServer> {
  const resource = mcpResource(ctx.config);
  // No token cache: every call verifies the token and reads its revocation status, so a revoked
  // agent's next call is refused at once.
  const authenticator = new ResourceAuthenticator(ctx, { audience: { audience: resource } });
  const env: McpEnv = {
    ctx, route, authenticator, path: ctx.config.agents.mcp.path, resource, resourceMetadata: resourceMetadataUrl(resource),
    issuerOrigin: new URL(ctx.config.issuer).origin,
  };
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: BODY_LIMIT_BYTES }, (_req, body, done) => done(null, body));
    scope.setErrorHandler(async (err, _req, reply) => sendRefusal(env, reply, err));
    scope.all(env.path, { bodyLimit: BODY_LIMIT_BYTES, exposeHeadRoute: false }, (req, reply) => handle(env, req, reply));
  });
  return { clearTokenCache: () => authenticator.clearCache() };
}

function sendRefusal(env: McpEnv, reply: FastifyReply, err: unknown): FastifyReply {
  return sendError(reply, err, { format: 'json', resource: { realm: env.resource, resourceMetadata: env.resourceMetadata }, logger: env.ctx.ops.logger, component: 'mcp' });
}

async function handle(env: McpEnv, req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  let token;
  try {
    checkOrigin(env, req);
    if (req.method !== 'POST') return reply.code(405).header('allow', 'POST').send();
    ({ token } = await env.authenticator.authenticate({
      method: req.method, headers: req.headers, ...(req.raw.headersDistinct ? { headersDistinct: req.raw.headersDistinct } : {}),
      publicUrl: () => env.resource, query: new URLSearchParams(req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : ''),
    }));
  } catch (err) {
    return refuseAtTheDoor(env, req, reply, err);
  }
  try {
    return await dispatch(env, req, reply, Buffer.isBuffer(req.body) ? req.body : undefined, token);
  } catch (err) {
    return sendRefusal(env, reply, err);
  }
}

/**
 * A request refused before any tool runs (a foreign Origin, no token or one that is not active or
 * not for /mcp) is recorded as phi.denied like the gateway's refusals, before the answer leaves
 * (45 CFR 164.312(b)); a ledger that cannot record it turns the answer into 503.
 */
async function refuseAtTheDoor(env: McpEnv, req: FastifyRequest, reply: FastifyReply, err: unknown): Promise<FastifyReply> {
  if (err instanceof ResourceAccessError && err.status < 500) {
    const meta = requestMeta(req);
    try {
      await env.ctx.audit.record(gatewayEvent(
        { route: env.path, action: req.method.toLowerCase(), resource: env.path, requestId: meta.requestId, sourceAddress: meta.sourceAddress },
        { accessed: false, outcome: 'denied', reason: err.reason, status: err.status },
      ));
    } catch (auditErr) {
      return sendRefusal(env, reply, auditErr);
    }
  }
  return sendRefusal(env, reply, err);
}

/**
 * basic/transports, Security Warning: "Servers MUST validate the Origin header on all incoming
 * connections to prevent DNS rebinding attacks … If the Origin header is present and invalid,
 * servers MUST respond with HTTP 403 Forbidden." Only this server's own origin is valid; a request
 * without Origin (not from a browser) is not refused for it.
 */
function checkOrigin(env: McpEnv, req: FastifyRequest): void {
  const origin = req.headers.origin;
  if (origin === undefined || origin === env.issuerOrigin) return;
  throw new ResourceAccessError('access_denied', 'requests from this origin are not allowed', 'ERR_ORIGIN_NOT_ALLOWED', { status: 403 });
}

function sendJson(reply: FastifyReply, status: number, message: unknown): FastifyReply {
  return reply.code(status).header('cache-control', 'no-store').type('application/json; charset=utf-8').send(JSON.stringify(message));
}

async function dispatch(env: McpEnv, req: FastifyRequest, reply: FastifyReply, body: Buffer | undefined, token: Awaited<ReturnType<ResourceAuthenticator['authenticate']>>['token']): Promise<FastifyReply> {
  const type = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') return sendJson(reply, 415, errorMessage(new McpProtocolError(INVALID_REQUEST, 'the body must be application/json')));
  // basic/transports "Protocol Version Header": an invalid or unsupported value is 400 Bad Request.
  const header = req.headers['mcp-protocol-version'];
  if (header !== undefined && (typeof header !== 'string' || !supportsVersion(header))) {
    return sendJson(reply, 400, errorMessage(new McpProtocolError(INVALID_REQUEST, 'unsupported MCP-Protocol-Version')));
  }
  let message;
  try {
    message = parseMessage(body?.toString('utf8') ?? '');
  } catch (err) {
    if (err instanceof McpProtocolError) return sendJson(reply, 400, errorMessage(err));
    throw err;
  }
  // Notifications (notifications/initialized, cancellations) and responses: 202 Accepted, no body.
  if (message.kind !== 'request') return reply.code(202).send();
  const { id, method, params } = message;
  const version = typeof header === 'string' ? header : DEFAULT_PROTOCOL_VERSION;
  try {
    switch (method) {
      case 'initialize':
        if (typeof params.protocolVersion !== 'string') throw new McpProtocolError(INVALID_PARAMS, 'protocolVersion is required', id);
        return sendJson(reply, 200, resultMessage(id, {
          protocolVersion: negotiateVersion(params.protocolVersion),
          capabilities: { tools: { listChanged: false } },
          serverInfo: SERVER_INFO,
          instructions: INSTRUCTIONS,
        }));
      case 'ping':
        return sendJson(reply, 200, resultMessage(id, {}));
      case 'tools/list':
        return sendJson(reply, 200, resultMessage(id, { tools: TOOLS }));
      case 'tools/call': {
        const meta = requestMeta(req);
        const result = await callTool(params.name, params.arguments, {
          route: env.route, audit: env.ctx.audit, token, requestId: meta.requestId, sourceAddress: meta.sourceAddress, protocolVersion: version,
          log: { logger: env.ctx.ops.logger, requestId: meta.requestId, route: env.path, component: 'mcp' },
        }, id);
        return sendJson(reply, 200, resultMessage(id, result));
      }
      default:
        throw new McpProtocolError(METHOD_NOT_FOUND, 'method not found', id);
    }
  } catch (err) {
    if (err instanceof McpProtocolError) return sendJson(reply, 200, errorMessage(err));
    throw err;
  }
}
