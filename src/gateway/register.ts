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
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Dispatcher } from 'undici';
import type { AppContext } from '../context/app-context.js';
import { requestMeta } from '../http/request-info.js';
import { isUnavailable } from '../errors/internal-error.js';
import { parseGatewayConfig, gatewayConfigProblems, GatewayConfigError, type GatewayConfig, type GatewayConfigInput, type GatewayRoute } from '../config/gateway.js';
import { ResourceAuthenticator } from '../oauth/resource-server/authenticator.js';
import { ResourceAccessError } from '../oauth/resource-server/errors.js';
import { presentedToken } from '../oauth/resource-server/presentation.js';
import type { VerifiedAccessToken } from '../oauth/resource-server/verify-access-token.js';
import { classifyFhirRequest, describeFhirRequest } from './fhir-request.js';
import { planFhirRequest, type FhirPlan, type ForwardBody } from './fhir-policy.js';
import { releaseFhirBody } from './fhir-release.js';
import { inPatientCompartment, singlePatientOf, withinPatients } from './compartment.js';
import { userReach } from './user-reach.js';
import { withSmartSecurity } from '../smart/configuration.js';
import { resourceMetadataUrl } from '../oauth/endpoints/protected-resource-metadata.js';
import { applyMasks, forEachResource } from './mask.js';
import { matchRule, pathSegments, planHttpRequest } from './http-policy.js';
import { allowListedHeaders, Upstream, type UpstreamResponse } from './forward.js';
import { gatewayIdentityKey, identityHeaders } from './identity.js';
import { gatewayEvent, type GatewayEventDraft } from './audit-event.js';
import { accessDenied, badGateway, GatewayDenial, notOnPanel } from './errors.js';
import { sendError } from '../http/error-reply.js';
import { recordGatewayDecision, type GatewayOutcome } from '../ops/metrics.js';

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
interface FhirRequestInput {
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

const FHIR_JSON = 'application/fhir+json; charset=utf-8';
/** Query parameters never forwarded on fhir routes: responses are JSON, checked by the gateway. */
const STRIPPED_FHIR_PARAMS = ['_format', '_pretty'];

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

interface Exchange {
  route: GatewayRoute;
  draft: GatewayEventDraft;
  token?: VerifiedAccessToken;
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

function fhirGatewayRoute(env: RouteEnv): FhirGatewayRoute {
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

interface RouteEnv {
  ctx: AppContext;
  route: GatewayRoute;
  upstream: Upstream;
  authenticator: ResourceAuthenticator;
  signingKey: Buffer | undefined;
  publicBase: string;
  bases: string[];
  /** The issuer's origin: the public URL of a route without public_base_url. */
  issuerOrigin: string;
  /** RFC 9728 §3.1: where this route's protected resource metadata is, named in its challenges (§5.1). */
  resourceMetadata: string;
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

interface Target {
  /** Below the prefix: "" or "/…". */
  path: string;
  rawQuery: string;
  query: URLSearchParams;
}

function readTarget(url: string, prefix: string): Target {
  const q = url.indexOf('?');
  const rawPath = q < 0 ? url : url.slice(0, q);
  const rawQuery = q < 0 ? '' : url.slice(q + 1);
  if (!rawPath.startsWith(prefix) || (rawPath.length > prefix.length && rawPath[prefix.length] !== '/')) {
    throw accessDenied('the path is not allowed', 'ERR_PATH_NOT_ALLOWED');
  }
  return { path: rawPath.slice(prefix.length), rawQuery, query: new URLSearchParams(rawQuery) };
}

function readBody(req: FastifyRequest, jsonOnly: boolean): unknown {
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

async function authenticate(env: RouteEnv, ex: Exchange, req: FastifyRequest, target: Target, form: URLSearchParams | undefined): Promise<VerifiedAccessToken> {
  const { token } = await env.authenticator.authenticate({
    method: req.method, headers: req.headers, ...(req.raw.headersDistinct ? { headersDistinct: req.raw.headersDistinct } : {}),
    publicUrl: () => publicRequestUrl(env, target), query: target.query, ...(form ? { form } : {}),
  });
  ex.token = token;
  return token;
}

/** The URL the client addressed (the DPoP proof's htu): the route's public base, or the issuer's origin, plus the path. */
function publicRequestUrl(env: RouteEnv, target: Target): string {
  if (env.route.public_base_url) return `${env.publicBase}${target.path}`;
  return `${env.issuerOrigin}${env.route.prefix}${target.path}`;
}

function upstreamHeaders(env: RouteEnv, client: { headers: IncomingHttpHeaders; requestId: string }, token: VerifiedAccessToken | undefined, method: string, pathAndQuery: string, fhir: boolean, clientHeaders = true): Record<string, string> {
  const headers = clientHeaders ? allowListedHeaders(client.headers, env.route.forward_headers) : {};
  if (fhir) {
    headers.accept = 'application/fhir+json';
    delete headers['content-type'];
  }
  if (token) {
    Object.assign(headers, identityHeaders(env.route.identity.header_prefix, {
      subject: token.subject, clientId: token.clientId, scopes: token.scopes, requestId: client.requestId, ...(token.patient ? { patient: token.patient } : {}),
    }, { method, pathAndQuery: env.upstream.wirePath(pathAndQuery), timestamp: Math.floor(env.ctx.now() / 1000) }, env.route.identity.sign ? env.signingKey : undefined));
  }
  return headers;
}

function encodeBody(body: ForwardBody | undefined, headers: Record<string, string>): string | undefined {
  if (!body) return undefined;
  if ('form' in body) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    return body.form.toString();
  }
  // What was checked is what is sent: re-serialised, so no duplicate-key or encoding trick can
  // make the upstream read something else than the gateway did.
  headers['content-type'] = body.contentType ?? 'application/fhir+json';
  return JSON.stringify(body.json);
}

function parseUpstreamJson(res: UpstreamResponse): unknown {
  if (res.body.length === 0 || res.status === 204 || res.status === 304) return undefined;
  if (res.headers['content-encoding']) throw badGateway('ERR_UPSTREAM_FORMAT');
  const type = (res.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json' && !type.endsWith('+json')) throw badGateway('ERR_UPSTREAM_FORMAT');
  try {
    return JSON.parse(res.body.toString('utf8'));
  } catch {
    throw badGateway('ERR_UPSTREAM_FORMAT');
  }
}

/** Upstream URLs in Bundle links, fullUrls and Location headers are rewritten to the public base. */
function rewriteUrl(value: unknown, env: RouteEnv): unknown {
  if (typeof value !== 'string') return value;
  return value === env.upstream.base || value.startsWith(`${env.upstream.base}/`) || value.startsWith(`${env.upstream.base}?`)
    ? `${env.publicBase}${value.slice(env.upstream.base.length)}`
    : value;
}

function rewriteBundleUrls(body: unknown, env: RouteEnv): void {
  forEachResource(body, (resource) => {
    if (resource.resourceType !== 'Bundle') return;
    if (Array.isArray(resource.link)) for (const l of resource.link) if (isObject(l)) l.url = rewriteUrl(l.url, env);
    if (Array.isArray(resource.entry)) {
      for (const e of resource.entry) {
        if (!isObject(e)) continue;
        if (e.fullUrl !== undefined) e.fullUrl = rewriteUrl(e.fullUrl, env);
        if (isObject(e.response) && e.response.location !== undefined) e.response.location = rewriteUrl(e.response.location, env);
      }
    }
  });
}

/** The HTTP side of a fhir route: reads the body, hands the request to the core, writes its answer. */
async function handleFhir(env: RouteEnv, ex: Exchange, req: FastifyRequest, reply: FastifyReply, target: Target): Promise<FastifyReply> {
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
async function runFhirRequest(env: RouteEnv, ex: Exchange, input: FhirRequestInput): Promise<FhirResponse> {
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

async function handleHttp(env: RouteEnv, ex: Exchange, req: FastifyRequest, reply: FastifyReply, target: Target): Promise<FastifyReply> {
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

async function record(env: RouteEnv, ex: Exchange, result: { accessed: boolean; outcome: 'success' | 'denied' | 'error'; reason?: string; status: number }): Promise<void> {
  await env.ctx.audit.record(gatewayEvent({ ...ex.draft, ...(ex.token ? { token: ex.token } : {}) }, result));
}

/** caduceus_gateway_decisions_total: counted once per request, after its ledger event is written (or failed). */
function denialOutcome(d: ResourceAccessError<string>): GatewayOutcome {
  if (d.error === 'invalid_token' || d.error === 'invalid_dpop_proof' || d.error === 'use_dpop_nonce') return 'invalid_token';
  if (d.error === 'insufficient_scope') return 'insufficient_scope';
  if (d.error === 'bad_gateway') return 'upstream_error';
  return d.status >= 500 ? 'error' : 'denied';
}

/** The one serializer (src/errors/serializer.ts): an OperationOutcome on fhir routes, OAuth JSON on http routes. */
function sendDenial(env: RouteEnv, reply: FastifyReply, d: ResourceAccessError<string>): FastifyReply {
  return sendError(reply, d, { format: env.route.type === 'fhir' ? 'fhir' : 'json', resource: { realm: env.route.audience, resourceMetadata: env.resourceMetadata }, logger: env.ctx.ops.logger, component: 'gateway' });
}

/** Records a refusal (phi.denied) and counts it; throws when the ledger cannot take it. Any transport. */
async function recordDenial(env: RouteEnv, ex: Exchange, d: ResourceAccessError<string>): Promise<void> {
  if (d instanceof GatewayDenial && typeof d.details?.entry === 'number') ex.draft.entry = d.details.entry;
  const upstreamFailure = d.error === 'bad_gateway';
  await record(env, ex, { accessed: false, outcome: upstreamFailure || d.status >= 500 ? 'error' : 'denied', reason: d.reason, status: d.status });
  recordGatewayDecision(denialOutcome(d));
}

/** Records the denial, then answers it; a ledger failure turns any answer into 503. */
async function deny(ex: Exchange, env: RouteEnv, reply: FastifyReply, d: ResourceAccessError<string>): Promise<FastifyReply> {
  try {
    await recordDenial(env, ex, d);
  } catch (err) {
    return unavailable(env, reply, err);
  }
  return sendDenial(env, reply, d);
}

/** "No audit, no access" (src/audit/events.ts AuditSink contract): nothing of the upstream answer leaves. */
function unavailable(env: RouteEnv, reply: FastifyReply, cause: unknown): FastifyReply {
  recordGatewayDecision('error');
  reply.removeHeader('location');
  reply.removeHeader('content-location');
  reply.removeHeader('etag');
  reply.removeHeader('last-modified');
  return sendDenial(env, reply, new GatewayDenial('temporarily_unavailable', 'the request cannot be recorded right now; try again later', 'ERR_AUDIT_UNAVAILABLE', { cause }));
}
