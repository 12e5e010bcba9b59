// Builds the Fastify application, part of the composition root: body parsing with limits,
// security headers on every response, the one error serializer, and every route. Listening (TLS)
// is done by src/server/start.ts.
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { OAuthError } from '../errors/oauth-error.js';
import { sendError } from '../http/error-reply.js';
import { securityHeaders } from '../http/security-headers.js';
import { createClientErrorHandler } from '../http/client-errors.js';
import { registerAuthorizationEndpoint } from '../oauth/endpoints/authorize.js';
import { registerTokenEndpoint } from '../oauth/endpoints/token.js';
import { registerIntrospectionEndpoint } from '../oauth/endpoints/introspect.js';
import { registerRevocationEndpoint } from '../oauth/endpoints/revoke.js';
import { registerMetadataEndpoints } from '../oauth/endpoints/metadata.js';
import { registerUserinfoEndpoint } from '../oauth/endpoints/userinfo.js';
import { registerParEndpoint } from '../oauth/endpoints/par.js';
import { registerRegistrationEndpoint } from '../oauth/endpoints/register.js';
import { registerInteractionRoutes } from '../interaction/routes.js';
import { registerAccountRoutes } from '../interaction/account.js';
import { registerHomePage } from '../interaction/home.js';
import { registerAuditRoutes } from '../audit-api/routes.js';
import { STYLESHEET } from '../http/html.js';
import { registerGateway } from '../gateway/index.js';
import { registerMcpServer } from '../agents/mcp/index.js';
import { InternalError } from '../errors/internal-error.js';
import { registerSmartConfiguration } from '../smart/configuration.js';
import { registerProtectedResourceMetadata } from '../oauth/endpoints/protected-resource-metadata.js';
import { registerLaunchEndpoint } from '../smart/launch-endpoint.js';
import type { AppContext } from '../context/app-context.js';
import { registerOps } from '../ops/http.js';
import { registerDemoRoutes } from '../demo/routes.js';
import { createDemoSessionStore } from '../demo/session.js';
import type { WalkthroughClient } from '../demo/registry.js';
import { registerAdminConsole, type AdminConsoleOptions } from '../admin/console/index.js';

/** Form bodies larger than this are refused (413): no OAuth request needs more. */
export const BODY_LIMIT_BYTES = 64 * 1024;

export interface AppOptions {
  https?: object | null;
  /** The /demo walkthrough's client: only the development stack has one (src/server/dev-stack.ts). */
  demo?: WalkthroughClient;
  /** What the admin console needs from the compliance layer (src/compliance/console.ts). */
  adminConsole?: AdminConsoleOptions;
}

export async function buildApp(ctx: AppContext, appOptions: FastifyServerOptions & AppOptions = {}): Promise<FastifyInstance> {
  const { demo, adminConsole, ...options } = appOptions;
  const app = Fastify({
    logger: false,
    bodyLimit: BODY_LIMIT_BYTES,
    // Headers, query strings and bodies are never logged; request ids correlate with the audit ledger.
    genReqId: () => crypto.randomUUID(),
    // Requests the HTTP parser refuses (oversized headers, malformed lines, timeouts): see src/http/client-errors.ts.
    clientErrorHandler: createClientErrorHandler({ hstsMaxAge: ctx.config.tls?.hsts_max_age ?? 63_072_000, logger: ctx.ops.logger }),
    ...options,
  } as FastifyServerOptions) as unknown as FastifyInstance;
  const hsts = ctx.config.tls?.hsts_max_age ?? 63_072_000;

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, new URLSearchParams(body as string));
  });
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, _body, done) => done(null, undefined));

  // Interaction pages POST to us and we answer 303 to the client's redirect URI: form-action is
  // left out there (see src/http/security-headers.ts); CSP still forbids scripts and framing.
  const pageHeaders = Object.entries(securityHeaders('page', hsts, { formAction: null }));
  const apiHeaders = Object.entries(securityHeaders('api', hsts));
  app.addHook('onSend', async (req, reply, payload) => {
    const isPage = String(reply.getHeader('content-type') ?? '').startsWith('text/html');
    for (const [name, value] of isPage ? pageHeaders : apiHeaders) {
      // Public, cacheable documents (JWKS, stylesheet) keep their own Cache-Control.
      if ((name === 'Cache-Control' || name === 'Pragma') && reply.hasHeader('cache-control') && !isPage) continue;
      reply.header(name, value);
    }
    void req;
    return payload;
  });

  app.setErrorHandler(async (err, req, reply) => {
    // Browser flows (GET pages and POSTed forms) get a page; API clients get the JSON of RFC 6749 §5.2.
    const wantsHtml = (req.method === 'GET' || req.method === 'POST') && String(req.headers.accept ?? '').includes('text/html');
    // The one serializer (src/errors/serializer.ts): storage, cache or ledger out of reach is 503
    // with Retry-After, never 500; only exposed errors are told; failures are logged through the
    // structured logger with the request id, the route, the error's class and code.
    return sendError(reply, err, { format: wantsHtml ? 'html' : 'json', logger: ctx.ops.logger });
  });

  app.setNotFoundHandler(async (_req, reply) => sendError(reply, new OAuthError('not_found', 'no such endpoint'), { format: 'json' }));

  app.get('/static/caduceus.css', async (_req, reply) => {
    reply.header('cache-control', 'public, max-age=3600').type('text/css; charset=utf-8');
    return STYLESHEET;
  });
  app.get('/healthz', async () => ({ status: 'ok' }));
  // Request log line and metrics for every route below, and /readyz (src/ops/).
  registerOps(app, ctx);

  registerMetadataEndpoints(app, ctx);
  registerAuthorizationEndpoint(app, ctx);
  registerTokenEndpoint(app, ctx);
  registerParEndpoint(app, ctx);
  registerRegistrationEndpoint(app, ctx);
  registerLaunchEndpoint(app, ctx);
  registerIntrospectionEndpoint(app, ctx);
  registerRevocationEndpoint(app, ctx);
  registerUserinfoEndpoint(app, ctx);
  registerInteractionRoutes(app, ctx);
  registerAccountRoutes(app, ctx);
  // The issuer's root: discovery links, the account page, and the walkthrough when there is one.
  registerHomePage(app, ctx, { demo: demo !== undefined });
  registerAuditRoutes(app, ctx);
  // The admin console and admin API (administrators with a second factor; service clients).
  await registerAdminConsole(app, ctx, adminConsole);
  // The /demo walkthrough: dev stack only; its sessions are held by this application.
  if (demo) registerDemoRoutes(app, ctx, { client: demo, sessions: createDemoSessionStore() });
  // PHI gateway routes (deny by default; each route is its own encapsulated plugin).
  registerSmartConfiguration(app, ctx);
  // RFC 9728: how a client that met a 401 finds the authorization server of each protected resource.
  registerProtectedResourceMetadata(app, ctx.config);
  const gateway = ctx.config.gateway.routes.length ? await registerGateway(app, ctx, ctx.config.gateway) : undefined;
  // The FHIR MCP server: every tool call goes through the pipeline of one fhir gateway route.
  if (ctx.config.agents.mcp.enabled) {
    const route = gateway?.fhirRoute(ctx.config.agents.mcp.fhir_route);
    if (!route) throw new InternalError('ERR_CONFIG', 'agents.mcp.fhir_route names no fhir gateway route');
    await registerMcpServer(app, ctx, route);
  }
  return app;
}

