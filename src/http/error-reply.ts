// Sends an error the way the one serializer (src/errors/serializer.ts) writes it, on a Fastify
// reply: the status, the headers the error carries, the body in the route's format. Supplies
// what the serializer cannot import from below this layer: the HTML page frame (html.ts) and the
// request's id and route pattern for the log line.
import type { FastifyReply } from 'fastify';
import { serializeError, type ErrorFormat } from '../errors/serializer.js';
import type { ResourceChallengeParams } from '../errors/challenge.js';
import type { Logger } from '../ops/logging.js';
import { errorPage } from './html.js';

export interface SendErrorOptions {
  format: ErrorFormat;
  /** A protected resource's challenge parameters (realm, scope, resource_metadata). */
  resource?: ResourceChallengeParams;
  /** ctx.ops.logger: where an unavailable or unexpected failure is logged. */
  logger?: Logger;
  component?: string;
}

export function sendError(reply: FastifyReply, err: unknown, options: SendErrorOptions): FastifyReply {
  const req = reply.request;
  const out = serializeError(err, {
    format: options.format,
    page: errorPage,
    ...(options.resource ? { resource: options.resource } : {}),
    ...(options.logger ? {
      log: { logger: options.logger, requestId: String(req.id), route: req.routeOptions?.url ?? null, ...(options.component ? { component: options.component } : {}) },
    } : {}),
  });
  return reply.code(out.status).headers(out.headers).type(out.contentType).send(out.body);
}
