// The FHIR route pipeline: plan (SMART scopes, patient compartment, user reach) → pre-read → forward →
// release (compartment, masking, link rewriting) → audit. `runFhirRequest` is transport-free: the
// Fastify handler and the FHIR MCP server (src/agents/mcp/, through FhirGatewayRoute) both call it.
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isUnavailable } from '../errors/internal-error.js';
import { ResourceAccessError } from '../oauth/resource-server/errors.js';
import { presentedToken } from '../oauth/resource-server/presentation.js';
import type { VerifiedAccessToken } from '../oauth/resource-server/verify-access-token.js';
import { classifyFhirRequest, describeFhirRequest } from './fhir-request.js';
import { planFhirRequest, type FhirPlan } from './fhir-policy.js';
import { releaseFhirBody } from './fhir-release.js';
import { inPatientCompartment, singlePatientOf, withinPatients } from './compartment.js';
import { userReach } from './user-reach.js';
import { withSmartSecurity } from '../smart/configuration.js';
import { applyMasks } from './mask.js';
import { accessDenied, badGateway, GatewayDenial, notOnPanel } from './errors.js';
import { recordGatewayDecision } from '../ops/metrics.js';
import { authenticate } from './authenticate-request.js';
import { record, recordDenial } from './denials.js';
import { type Exchange, FHIR_JSON, type RouteEnv, STRIPPED_FHIR_PARAMS, type Target, isObject } from './exchange.js';
import { readBody } from './request-body.js';
import { encodeBody, parseUpstreamJson, rewriteBundleUrls, rewriteUrl, upstreamHeaders } from './upstream-body.js';

/** A FHIR interaction handed to the core without HTTP: the MCP server's tool calls. */
export interface FhirGatewayCall {
  method: 'GET' | 'POST';
  /** Below the route prefix: "/Patient/123", "/Observation". */
  path: string;
  query: URLSearchParams;
  /** Already verified by the caller's authenticator (its own audience); never sent upstream. */
  token: VerifiedAccessToken;
  requestId: string;
  sourceAddress: string;
  /** The MCP tool that asked, recorded on the ledger event (details.tool). */
  tool?: string;
}

/** The answer of the core, or the refusal already recorded as phi.denied. */
export type FhirGatewayResult = { ok: true; response: FhirResponse } | { ok: false; denial: ResourceAccessError<string> };

/** One fhir gateway route, callable without Fastify: the same plan, checks, masking and ledger event. */
export interface FhirGatewayRoute {
  prefix: string;
  audience: string;
  /**
   * Runs the call through the route's pipeline. A refusal is recorded (phi.denied) and returned;
   * a ledger or storage failure is thrown (the caller answers 503: nothing is released).
   */
  run(call: FhirGatewayCall): Promise<FhirGatewayResult>;
}

/** What runFhirRequest reads: the request as the gateway sees it, minus HTTP. */
export interface FhirRequestInput {
  method: string;
  /** Below the prefix: "" or "/…". */
  path: string;
  query: URLSearchParams;
  /** Parsed body: JSON, a form (URLSearchParams) or undefined. */
  body: unknown;
  /** The client's headers: only the route's forward_headers allow-list of them goes upstream. */
  forwardHeaders: IncomingHttpHeaders;
  requestId: string;
  /** The verified token, or how to get it (the HTTP handler authenticates only when the request needs it). */
  token: VerifiedAccessToken | (() => Promise<VerifiedAccessToken>);
  /** HTTP only: a public CapabilityStatement (public_metadata) is served after this check instead of authentication. */
  publicMetadata?: () => void;
}

/** The core's answer: status, upstream headers to pass on (links rewritten), the released JSON body. */
export interface FhirResponse {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

export function fhirGatewayRoute(env: RouteEnv): FhirGatewayRoute {
  const { route } = env;
  return {
    prefix: route.prefix,
    audience: route.audience,
    async run(call) {
      const ex: Exchange = {
        route, token: call.token,
        draft: { route: route.prefix, action: 'unknown', resource: route.prefix, requestId: call.requestId, sourceAddress: call.sourceAddress, ...(call.tool ? { tool: call.tool } : {}) },
      };
      try {
        // No client header is forwarded: the caller is not an HTTP client of this route.
        return { ok: true, response: await runFhirRequest(env, ex, { method: call.method, path: call.path, query: call.query, body: undefined, forwardHeaders: {}, requestId: call.requestId, token: call.token }) };
      } catch (err) {
        if (isUnavailable(err)) {
          recordGatewayDecision('error');
          throw err;
        }
        const denial = err instanceof ResourceAccessError ? err : new GatewayDenial('server_error', 'the gateway could not complete the request', 'ERR_GATEWAY_INTERNAL', { cause: err });
        try {
          await recordDenial(env, ex, denial);
        } catch (auditErr) {
          recordGatewayDecision('error');
          throw auditErr;
        }
        return { ok: false, denial };
      }
    },
  };
}

/** The HTTP side of a fhir route: reads the body, hands the request to the core, writes its answer. */
export async function handleFhir(env: RouteEnv, ex: Exchange, req: FastifyRequest, reply: FastifyReply, target: Target): Promise<FastifyReply> {
  const body = readBody(req, true);
  const form = body instanceof URLSearchParams ? body : undefined;
  const res = await runFhirRequest(env, ex, {
    method: req.method, path: target.path, query: target.query, body, forwardHeaders: req.headers, requestId: String(req.id),
    token: () => authenticate(env, ex, req, target, form),
    // A token, if sent, is ignored, but one in the query string is still refused.
    publicMetadata: () => void presentedToken(req.headers, target.query, form),
  });
  for (const [name, value] of Object.entries(res.headers)) reply.header(name, value);
  reply.code(res.status);
  if (res.body === undefined) return reply.send();
  return reply.type(FHIR_JSON).send(JSON.stringify(res.body));
}

/**
 * The transport-free core of a fhir route: plan (SMART scopes, patient compartment, user reach),
 * pre-read, forward with the gateway's identity headers (never the client's token), release
 * checks, masking, link rewriting, and the phi.accessed event before anything is returned.
 * Refusals are thrown (ResourceAccessError); the caller records them with recordDenial.
 */
export async function runFhirRequest(env: RouteEnv, ex: Exchange, input: FhirRequestInput): Promise<FhirResponse> {
  const { route, upstream } = env;
  const { body } = input;
  const client = { headers: input.forwardHeaders, requestId: input.requestId };
  const classified = classifyFhirRequest({ method: input.method, path: input.path, query: input.query, body });
  Object.assign(ex.draft, describeFhirRequest(classified));

  let plan: FhirPlan;
  let token: VerifiedAccessToken | undefined;
  let reach: ReadonlySet<string> | undefined;
  if (classified.kind === 'capabilities' && route.public_metadata && input.publicMetadata) {
    // SMART App Launch 2.2 app-launch.md (CORS: `metadata` is open to any origin) and
    // docs/configuration.md `gateway.routes[].public_metadata`: the CapabilityStatement may be
    // public.
    input.publicMetadata();
    plan = { action: 'capabilities', resource: 'CapabilityStatement', forward: { method: 'GET', path: '/metadata', query: new URLSearchParams() }, release: { kind: 'capabilities' } };
  } else {
    token = typeof input.token === 'function' ? await input.token() : input.token;
    ex.token = token;
    ex.draft.patient ??= token.patient;
    reach = await userReach(env.ctx, token);
    plan = planFhirRequest(classified, token, input.method, { bases: env.bases, ...(reach ? { userReach: reach } : {}) });
  }
  Object.assign(ex.draft, { action: plan.action, resource: plan.resource, ...(plan.scopeUsed ? { scopeUsed: plan.scopeUsed } : {}) });
  const planned = plan.patientHint ?? plan.compartment;
  if (planned) ex.draft.patient = planned;

  let checkedVersion: string | undefined;
  if (plan.preRead) {
    // Writes under a patient/ scope or a panel-limited user/ scope: the current version must be theirs. The client's
    // conditional headers are not sent with this read.
    const current = await upstream.send({ method: 'GET', pathAndQuery: plan.preRead.path, headers: upstreamHeaders(env, client, token, 'GET', plan.preRead.path, true, false) });
    if (current.status !== 404 && current.status !== 410) {
      if (current.status !== 200) throw badGateway('ERR_UPSTREAM_UNAVAILABLE');
      const existing = parseUpstreamJson(current);
      if (!isObject(existing) || existing.resourceType !== plan.preRead.resourceType || existing.id !== plan.preRead.id) throw badGateway('ERR_UPSTREAM_MISMATCH');
      if (plan.compartment !== undefined && !inPatientCompartment(existing, plan.compartment, env.bases)) throw accessDenied('patient scopes can only write resources of the patient in context', 'ERR_PATIENT_COMPARTMENT');
      if (plan.reach !== undefined && !withinPatients(existing, plan.reach, env.bases)) throw notOnPanel();
      // The write applies only to the version that was checked (FHIR version-aware update,
      // If-Match): a concurrent change in between makes the upstream refuse it (412).
      checkedVersion = current.headers.etag;
    }
  }

  const query = new URLSearchParams(plan.forward.query);
  for (const p of STRIPPED_FHIR_PARAMS) query.delete(p);
  const qs = query.toString();
  const pathAndQuery = `${plan.forward.path}${qs ? `?${qs}` : ''}`;
  const headers = upstreamHeaders(env, client, token, plan.forward.method, pathAndQuery, true);
  if (checkedVersion) headers['if-match'] = checkedVersion;
  const payload = encodeBody(plan.forward.body, headers);
  const res = await upstream.send({ method: plan.forward.method, pathAndQuery, headers, ...(payload !== undefined ? { body: payload } : {}) });
  ex.draft.upstreamStatus = res.status;

  const parsed = parseUpstreamJson(res);
  // The patient whose record the answer is (also when it is withheld: a guessed id is recorded
  // against the patient it belongs to).
  const owner = isObject(parsed) && parsed.resourceType !== 'Bundle' ? singlePatientOf(parsed, env.bases) : undefined;
  if (owner) ex.draft.patient = owner;
  const released = releaseFhirBody(parsed, plan.release, { scopes: token?.scopes ?? [], bases: env.bases, ...(token?.patient ? { patient: token.patient } : {}), ...(reach ? { userReach: reach } : {}) });
  ex.draft.filtered = released.filtered;
  ex.draft.masked = token ? applyMasks(parsed, route.mask, token.scopes) : applyMasks(parsed, route.mask, []);
  rewriteBundleUrls(parsed, env);
  if (plan.release.kind === 'capabilities' && isObject(parsed)) withSmartSecurity(parsed, env.ctx.config.issuer);

  await record(env, ex, { accessed: true, outcome: res.status < 400 ? 'success' : 'error', ...(res.status >= 400 ? { reason: `upstream_${res.status}` } : {}), status: res.status });
  recordGatewayDecision('allowed');
  const headersOut: Record<string, string> = {};
  for (const [name, value] of Object.entries(res.headers)) {
    if (name === 'content-type' || name === 'content-encoding') continue;
    headersOut[name] = name === 'location' || name === 'content-location' ? String(rewriteUrl(value, env)) : value;
  }
  return { status: res.status, headers: headersOut, body: parsed };
}
