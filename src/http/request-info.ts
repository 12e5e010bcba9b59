// Request identifiers shared by handlers: a request id for correlation and the client address.
import type { FastifyRequest } from 'fastify';
import { singleValuedParams, type Params } from '../oauth/checks/duplicate-params.js';
import { invalidRequest } from '../errors/oauth-error.js';

export function requestMeta(req: FastifyRequest): { requestId: string; sourceAddress: string; userAgent: string } {
  return { requestId: String(req.id), sourceAddress: req.ip, userAgent: String(req.headers['user-agent'] ?? '').slice(0, 300) };
}

/** The form body of a POST as single-valued parameters (the form parser yields URLSearchParams). */
export function formParams(req: FastifyRequest): Params {
  if (!(req.body instanceof URLSearchParams)) {
    throw invalidRequest('the request body must be application/x-www-form-urlencoded');
  }
  return singleValuedParams(req.body);
}

/** The query string as single-valued parameters. */
export function queryParams(req: FastifyRequest): Params {
  const q = req.url.indexOf('?');
  return singleValuedParams(new URLSearchParams(q < 0 ? '' : req.url.slice(q + 1)));
}
