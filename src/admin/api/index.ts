// The admin API (/admin/api/…): the console's operations as JSON for automation. Callers are
// service clients of this server (src/oauth/resource-server/service-client.ts): a client_credentials
// access token (client_secret_* or private_key_jwt; Bearer or DPoP) for the resource
// `${issuer}/admin/api` with the scope caduceus:admin. A person's token is refused: people use the
// console, with its second factor. Each operation uses the same service as the console
// (src/admin/*.ts) and records the same ledger events, with the client as actor.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AppContext } from '../../context/app-context.js';
import { requireServiceClient } from '../../oauth/resource-server/service-client.js';
import type { AdminConsoleOptions } from '../console/services.js';
import { ADMIN_API_PREFIX, AdminApiRouter, type ApiCaller } from './router.js';
import { API_SECTIONS } from './sections.js';
import { registerStatusRoutes } from './status.js';

export const ADMIN_API_SCOPE = 'caduceus:admin';

/** The resource indicator (RFC 8707) an admin API token must be issued for. */
export function adminApiAudience(issuer: string): string {
  return `${issuer}${ADMIN_API_PREFIX}`;
}

export async function registerAdminApi(app: FastifyInstance, ctx: AppContext, options: AdminConsoleOptions): Promise<void> {
  await app.register(async (scope) => {
    // JSON bodies here only (the application parses urlencoded forms and nothing else).
    scope.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: 256 * 1024 }, (_req, body, done) => {
      try {
        done(null, JSON.parse(body as string));
      } catch {
        done(Object.assign(new Error('the body is not valid JSON'), { statusCode: 400 }), undefined);
      }
    });
    const guard = requireServiceClient(ctx, {
      audience: adminApiAudience(ctx.config.issuer), scope: ADMIN_API_SCOPE, apiName: 'the admin API',
      onRefused: (req, token, refusal) => ctx.audit.record({
        type: 'authz.denied', actor: { clientId: token.clientId, ...(token.subject !== token.clientId ? { userId: token.subject } : {}) }, outcome: 'denied',
        reason: refusal.error, action: 'admin_api', resource: req.routeOptions.url ?? ADMIN_API_PREFIX, jti: token.jti,
        requestId: String(req.id), sourceAddress: req.ip,
      }),
    });
    const callerOf = (req: FastifyRequest): ApiCaller => {
      const token = guard.tokenOf(req);
      return { clientId: token.clientId, actor: `client:${token.clientId}`, jti: token.jti, meta: { requestId: String(req.id), sourceAddress: req.ip } };
    };
    let router: AdminApiRouter | undefined;
    // The document is public within the allow-list: it describes the API, nothing stored.
    scope.get(`${ADMIN_API_PREFIX}/openapi.json`, async (_req, reply) => {
      reply.header('cache-control', 'no-store');
      return router!.openApi(ctx.config.issuer, ADMIN_API_SCOPE);
    });
    await scope.register(async (guarded) => {
      guarded.addHook('preHandler', guard);
      router = new AdminApiRouter(guarded, callerOf);
      // Every API route is declared through the router, so the OpenAPI document lists it: a route
      // added any other way stops the server from starting.
      const declared = router;
      guarded.addHook('onRoute', (route) => {
        const methods = ([] as string[]).concat(route.method);
        const listed = declared.routes.some((r) => `${ADMIN_API_PREFIX}${r.path}` === route.url && methods.includes(r.method));
        if (!listed && !methods.every((m) => m === 'HEAD')) throw new TypeError(`admin API route ${methods.join(',')} ${route.url} is not declared through AdminApiRouter.route`);
      });
      registerStatusRoutes(router, ctx, options);
      for (const register of API_SECTIONS) register(router, ctx, options);
    });
  });
}
