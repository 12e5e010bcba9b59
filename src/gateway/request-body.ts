// The request body a gateway route accepts: form bodies, JSON (FHIR routes: JSON only), nothing else.
import type { FastifyRequest } from 'fastify';
import { GatewayDenial } from './errors.js';


export function readBody(req: FastifyRequest, jsonOnly: boolean): unknown {
  const buf = req.body;
  if (!Buffer.isBuffer(buf) || buf.length === 0) return undefined;
  const type = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/x-www-form-urlencoded') return new URLSearchParams(buf.toString('utf8'));
  if (!jsonOnly) return buf;
  if (type === 'application/json' || type.endsWith('+json')) {
    try {
      return JSON.parse(buf.toString('utf8'));
    } catch {
      throw new GatewayDenial('invalid_request', 'the request body is not valid JSON', 'ERR_BODY_INVALID');
    }
  }
  throw new GatewayDenial('invalid_request', 'FHIR requests through this gateway use JSON bodies', 'ERR_BODY_INVALID', { status: 415 });
}
