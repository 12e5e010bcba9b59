// The operational hooks of the public HTTP application: one request log line and the request
// metrics per response, tokens issued by grant type, and the /readyz route. Registered by
// buildApp (src/server/app.ts) before the routes, so every route is covered.
//
// Only the route PATTERN is used (req.routeOptions.url, e.g. /interaction/:id), never req.url,
// so neither the log nor a metric label can carry a query string, a code or a path identifier.
import type { FastifyInstance } from 'fastify';
import { logRequest, type Logger } from './logging.js';
import { methodLabel, observeRequest, recordTokenIssued } from './metrics.js';
import { registerReadinessRoute, type ReadinessTarget } from './health.js';

/** `ctx` is the application context (src/context/app-context.ts); this is what the hooks read of it. */
export function registerOps(app: FastifyInstance, ctx: ReadinessTarget & { ops: { logger: Logger } }): void {
  const { logger } = ctx.ops;
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions?.url ?? null;
    const status = reply.statusCode;
    const elapsedMs = reply.elapsedTime;
    observeRequest(req.method, route, status, elapsedMs / 1000);
    // grant_type is checked against the closed set of grant labels before it becomes a label.
    if (route === '/token' && req.method === 'POST' && status === 200 && req.body instanceof URLSearchParams) {
      recordTokenIssued(req.body.get('grant_type') ?? '');
    }
    logRequest(logger, { requestId: String(req.id), method: methodLabel(req.method), route, status, durationMs: elapsedMs });
  });
  registerReadinessRoute(app, ctx);
}
