// The http route pipeline: explicit rules (src/gateway/http-policy.ts), forward, audit.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { userReach } from './user-reach.js';
import { matchRule, pathSegments, planHttpRequest } from './http-policy.js';
import { accessDenied } from './errors.js';
import { recordGatewayDecision } from '../ops/metrics.js';
import { authenticate } from './authenticate-request.js';
import { record } from './denials.js';
import type { Exchange, RouteEnv, Target } from './exchange.js';
import { readBody } from './request-body.js';
import { rewriteUrl, upstreamHeaders } from './upstream-body.js';

export async function handleHttp(env: RouteEnv, ex: Exchange, req: FastifyRequest, reply: FastifyReply, target: Target): Promise<FastifyReply> {
  const { route, upstream } = env;
  const body = readBody(req, false);
  const form = body instanceof URLSearchParams ? body : undefined;
  const segments = pathSegments(target.path);
  if (!segments) throw accessDenied('the path is not allowed', 'ERR_PATH_NOT_ALLOWED');
  ex.draft.action = req.method;
  const token = await authenticate(env, ex, req, target, form);
  const match = matchRule(route.rules, req.method, segments);
  if (!match) throw accessDenied('no rule allows this request', 'ERR_NO_RULE');
  const plan = planHttpRequest(match, token, route.prefix, await userReach(env.ctx, token));
  Object.assign(ex.draft, { resource: plan.resource, scopeUsed: plan.scopeUsed, ...(plan.patientHint ? { patient: plan.patientHint.replace(/^Patient\//, '') } : {}) });

  const pathAndQuery = `${target.path === '' ? '/' : target.path}${target.rawQuery ? `?${target.rawQuery}` : ''}`;
  const headers = upstreamHeaders(env, { headers: req.headers, requestId: String(req.id) }, token, req.method, pathAndQuery, false);
  const raw = Buffer.isBuffer(req.body) && req.body.length > 0 ? req.body : undefined;
  const res = await upstream.send({ method: req.method, pathAndQuery, headers, ...(raw ? { body: raw } : {}) });
  ex.draft.upstreamStatus = res.status;
  await record(env, ex, { accessed: true, outcome: res.status < 400 ? 'success' : 'error', ...(res.status >= 400 ? { reason: `upstream_${res.status}` } : {}), status: res.status });
  recordGatewayDecision('allowed');
  for (const [name, value] of Object.entries(res.headers)) {
    reply.header(name, name === 'location' || name === 'content-location' ? rewriteUrl(value, env) : value);
  }
  return reply.code(res.status).send(res.body);
}
