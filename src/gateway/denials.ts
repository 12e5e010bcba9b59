// Refusals and their ledger events: a denial is recorded (phi.denied) before it is answered, and a
// ledger that cannot write turns any answer into 503 with nothing released ("no audit, no access").
import type { FastifyReply } from 'fastify';
import { ResourceAccessError } from '../oauth/resource-server/errors.js';
import { gatewayEvent } from './audit-event.js';
import { GatewayDenial } from './errors.js';
import { sendError } from '../http/error-reply.js';
import { recordGatewayDecision, type GatewayOutcome } from '../ops/metrics.js';
import type { Exchange, RouteEnv } from './exchange.js';

export async function record(env: RouteEnv, ex: Exchange, result: { accessed: boolean; outcome: 'success' | 'denied' | 'error'; reason?: string; status: number }): Promise<void> {
  await env.ctx.audit.record(gatewayEvent({ ...ex.draft, ...(ex.token ? { token: ex.token } : {}) }, result));
}

/** caduceus_gateway_decisions_total: counted once per request, after its ledger event is written (or failed). */
export function denialOutcome(d: ResourceAccessError<string>): GatewayOutcome {
  if (d.error === 'invalid_token' || d.error === 'invalid_dpop_proof' || d.error === 'use_dpop_nonce') return 'invalid_token';
  if (d.error === 'insufficient_scope') return 'insufficient_scope';
  if (d.error === 'bad_gateway') return 'upstream_error';
  return d.status >= 500 ? 'error' : 'denied';
}

/** The one serializer (src/errors/serializer.ts): an OperationOutcome on fhir routes, OAuth JSON on http routes. */
export function sendDenial(env: RouteEnv, reply: FastifyReply, d: ResourceAccessError<string>): FastifyReply {
  return sendError(reply, d, { format: env.route.type === 'fhir' ? 'fhir' : 'json', resource: { realm: env.route.audience, resourceMetadata: env.resourceMetadata }, logger: env.ctx.ops.logger, component: 'gateway' });
}

/** Records a refusal (phi.denied) and counts it; throws when the ledger cannot take it. Any transport. */
export async function recordDenial(env: RouteEnv, ex: Exchange, d: ResourceAccessError<string>): Promise<void> {
  if (d instanceof GatewayDenial && typeof d.details?.entry === 'number') ex.draft.entry = d.details.entry;
  const upstreamFailure = d.error === 'bad_gateway';
  await record(env, ex, { accessed: false, outcome: upstreamFailure || d.status >= 500 ? 'error' : 'denied', reason: d.reason, status: d.status });
  recordGatewayDecision(denialOutcome(d));
}

/** Records the denial, then answers it; a ledger failure turns any answer into 503. */
export async function deny(ex: Exchange, env: RouteEnv, reply: FastifyReply, d: ResourceAccessError<string>): Promise<FastifyReply> {
  try {
    await recordDenial(env, ex, d);
  } catch (err) {
    return unavailable(env, reply, err);
  }
  return sendDenial(env, reply, d);
}

/** "No audit, no access" (src/audit/events.ts AuditSink contract): nothing of the upstream answer leaves. */
export function unavailable(env: RouteEnv, reply: FastifyReply, cause: unknown): FastifyReply {
  recordGatewayDecision('error');
  reply.removeHeader('location');
  reply.removeHeader('content-location');
  reply.removeHeader('etag');
  reply.removeHeader('last-modified');
  return sendDenial(env, reply, new GatewayDenial('temporarily_unavailable', 'the request cannot be recorded right now; try again later', 'ERR_AUDIT_UNAVAILABLE', { cause }));
}
