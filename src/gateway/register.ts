// The PHI gateway as a Fastify plugin: every request under a configured prefix is authenticated
// (RFC 6750 bearer token or RFC 9449 DPoP-bound token, RFC 9068 JWT), authorised (SMART scopes and patient compartment for
// fhir routes, explicit rules for http routes), forwarded with allow-listed headers and identity
// headers, checked on the way back, and recorded in the audit ledger before the response leaves
// ("no audit, no access": a ledger failure answers 503 and releases nothing). Deny by default:
// whatever no policy step allows is refused with 403 and audited.
//
// Requests flow through named steps: readTarget → readBody → authenticate (the one
// protected-resource authenticator, src/oauth/resource-server/authenticator.ts) → plan → preRead →
// forward → release (compartment, masking, link rewriting) → audit → send.
//
// On fhir routes, everything after authentication is the transport-free core `runFhirRequest`,
// which the Fastify handler and the FHIR MCP server (src/agents/mcp/, through the route's
// FhirGatewayRoute handle) both call: one policy engine, one ledger event per request.
//
// This module registers the routes and dispatches; each concern has its own module: the shared
// exchange and route environment (exchange.ts), request bodies (request-body.ts), authentication
// (authenticate-request.ts), upstream headers, bodies and URL rewriting (upstream-body.ts), the two
// pipelines (fhir-pipeline.ts, http-pipeline.ts) and refusals with their ledger events (denials.ts).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Dispatcher } from 'undici';
import type { AppContext } from '../context/app-context.js';
import { requestMeta } from '../http/request-info.js';
import { isUnavailable } from '../errors/internal-error.js';
import { parseGatewayConfig, gatewayConfigProblems, GatewayConfigError, type GatewayConfig, type GatewayConfigInput } from '../config/gateway.js';
import { ResourceAuthenticator } from '../oauth/resource-server/authenticator.js';
import { ResourceAccessError } from '../oauth/resource-server/errors.js';
import { resourceMetadataUrl } from '../oauth/endpoints/protected-resource-metadata.js';
import { Upstream } from './forward.js';
import { gatewayIdentityKey } from './identity.js';
import { GatewayDenial } from './errors.js';
import { deny, unavailable } from './denials.js';
import { type Exchange, type RouteEnv, readTarget } from './exchange.js';
import { type FhirGatewayRoute, fhirGatewayRoute, handleFhir } from './fhir-pipeline.js';
import { handleHttp } from './http-pipeline.js';
export type { FhirGatewayCall, FhirGatewayResult, FhirGatewayRoute, FhirResponse } from './fhir-pipeline.js';

export interface GatewayDeps {
  /** undici dispatcher for upstream requests (tests, custom TLS trust); default: one Agent per route. */
  dispatcher?: Dispatcher;
}

export interface Gateway {
  config: GatewayConfig;
  /** Forgets cached token statuses (e.g. after an administrative revocation in tests). */
  clearTokenCache(): void;
  /** The handle of the fhir route with this prefix, for other transports (the MCP server). */
  fhirRoute(prefix: string): FhirGatewayRoute | undefined;
}

/**
 * Registers one encapsulated Fastify scope per configured route. Call before `listen`. Throws
 * GatewayConfigError when the configuration is invalid or names an undeclared audience.
 */
export async function registerGateway(app: FastifyInstance, ctx: AppContext, rawConfig: GatewayConfig | GatewayConfigInput, deps: GatewayDeps = {}): Promise<Gateway> {
  const config = parseGatewayConfig(rawConfig);
  const problems = gatewayConfigProblems(config, ctx.config);
  if (problems.length) throw new GatewayConfigError(problems);
  const signingKey = config.routes.some((r) => r.identity.sign) ? gatewayIdentityKey(ctx.masterKey) : undefined;
  const upstreams: Upstream[] = [];
  const authenticators: ResourceAuthenticator[] = [];
  const fhirRoutes = new Map<string, FhirGatewayRoute>();

  for (const route of config.routes) {
    const upstream = new Upstream(route.upstream, { timeoutMs: route.timeout_ms, maxResponseBytes: route.response_limit_bytes, ...(deps.dispatcher ? { dispatcher: deps.dispatcher } : {}) });
    upstreams.push(upstream);
    const publicBase = (route.public_base_url ?? route.audience).replace(/\/$/, '');
    const bases = [upstream.base, publicBase];
    const authenticator = new ResourceAuthenticator(ctx, {
      audience: { audience: route.audience }, cacheSeconds: config.introspection_cache_seconds, cacheEntries: config.introspection_cache_entries,
    });
    authenticators.push(authenticator);
    const env: RouteEnv = { ctx, route, upstream, authenticator, signingKey, publicBase, bases, issuerOrigin: new URL(ctx.config.issuer).origin, resourceMetadata: resourceMetadataUrl(route.audience) };
    if (route.type === 'fhir') fhirRoutes.set(route.prefix, fhirGatewayRoute(env));

    await app.register(async (scope) => {
      // Encapsulated: these parsers and this error handler apply to this route only.
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: route.body_limit_bytes }, (_req, body, done) => done(null, body));
      scope.setErrorHandler(async (err, req, reply) => {
        // Failures before the handler ran (body too large, unreadable body): still one event.
        const status = (err as { statusCode?: number }).statusCode;
        const denial = status === 413
          ? new GatewayDenial('invalid_request', 'the request body is too large', 'ERR_BODY_TOO_LARGE', { status: 413 })
          : status !== undefined && status < 500
            ? new GatewayDenial('invalid_request', 'the request could not be read', 'ERR_BODY_INVALID')
            : new GatewayDenial('server_error', 'the gateway could not complete the request', 'ERR_GATEWAY_INTERNAL', { cause: err });
        const meta = requestMeta(req);
        return deny({ route, draft: { route: route.prefix, action: 'unknown', resource: route.prefix, requestId: meta.requestId, sourceAddress: meta.sourceAddress } }, env, reply, denial);
      });
      const handler = (req: FastifyRequest, reply: FastifyReply) => handle(env, req, reply);
      const options = { bodyLimit: route.body_limit_bytes, exposeHeadRoute: false };
      scope.all(route.prefix, options, handler);
      scope.all(`${route.prefix}/*`, options, handler);
    });
  }
  app.addHook('onClose', async () => {
    await Promise.all(upstreams.map((u) => u.close()));
  });
  return { config, clearTokenCache: () => authenticators.forEach((a) => a.clearCache()), fhirRoute: (prefix) => fhirRoutes.get(prefix) };
}

async function handle(env: RouteEnv, req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const { route } = env;
  const meta = requestMeta(req);
  const ex: Exchange = { route, draft: { route: route.prefix, action: 'unknown', resource: route.prefix, requestId: meta.requestId, sourceAddress: meta.sourceAddress } };
  try {
    const target = readTarget(req.url, route.prefix);
    return route.type === 'fhir' ? await handleFhir(env, ex, req, reply, target) : await handleHttp(env, ex, req, reply, target);
  } catch (err) {
    // A refusal (the authenticator's or the gateway's own) is recorded and answered as it is.
    if (err instanceof ResourceAccessError) return deny(ex, env, reply, err);
    if (isUnavailable(err)) return unavailable(env, reply, err);
    // Anything else is recorded as ERR_GATEWAY_INTERNAL; the serializer logs the failure (its
    // class and code, through ctx.ops.logger) and answers a generic server_error.
    return deny(ex, env, reply, new GatewayDenial('server_error', 'the gateway could not complete the request', 'ERR_GATEWAY_INTERNAL', { cause: err }));
  }
}
