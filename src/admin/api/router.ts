// How admin API routes are declared: one definition gives the route, its input checking (zod) and
// its entry in the OpenAPI 3.1 document (/admin/api/openapi.json), so the document cannot drift
// from the routes. Every route sits behind the service-client guard (src/admin/api/index.ts).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { OAuthError } from '../../errors/oauth-error.js';
import { isInternalError } from '../../errors/internal-error.js';
import type { AuditEventInput } from '../../audit/events.js';
import { ConfigError } from '../../config/schema.js';
import type { AppContext } from '../../context/app-context.js';
import { configProblems, type AdminDeps } from '../clients.js';

/** Who called: the API client, as the ledger names it. */
export interface ApiCaller {
  clientId: string;
  /** The actor id for src/admin services (`client:<client_id>`). */
  actor: string;
  jti: string;
  meta: { requestId: string; sourceAddress: string };
}

export interface ApiRouteDefinition<Body extends z.ZodType | undefined = undefined, Query extends z.ZodType | undefined = undefined> {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Under /admin/api, Fastify syntax for parameters (`/clients/:clientId`). */
  path: string;
  /** One OpenAPI tag, e.g. "clients". */
  tag: string;
  summary: string;
  description?: string;
  query?: Query;
  body?: Body;
  /** Status codes of success this route answers, with what each carries. */
  responses: Record<number, string>;
  handler: (input: {
    req: FastifyRequest;
    reply: FastifyReply;
    caller: ApiCaller;
    params: Record<string, string>;
    query: Query extends z.ZodType ? z.infer<Query> : undefined;
    body: Body extends z.ZodType ? z.infer<Body> : undefined;
  }) => Promise<unknown>;
}

type AnyRoute = ApiRouteDefinition<z.ZodType | undefined, z.ZodType | undefined>;

export const ADMIN_API_PREFIX = '/admin/api';

/** The src/admin services' dependencies for one API call: the client as actor, its token's jti and details.api on every event. */
export function apiDeps(ctx: AppContext, caller: ApiCaller): AdminDeps {
  return {
    storage: ctx.storage, masterKey: ctx.masterKey, now: () => ctx.now(), actor: caller.actor,
    audit: {
      record: (event: AuditEventInput) => ctx.audit.record({
        jti: caller.jti, requestId: caller.meta.requestId, sourceAddress: caller.meta.sourceAddress, ...event, details: { ...event.details, api: 'admin' },
      }),
    },
  };
}

/**
 * A service's refusal as the API answers it: a ConfigError is 400 invalid_request naming the field
 * and the problem (the CLI's "--" before a field name dropped), ERR_NOT_FOUND is 404; anything else
 * is left to the one serializer.
 */
export function apiInputError(err: unknown): unknown {
  if (err instanceof ConfigError) {
    const [first] = configProblems(err);
    const description = first?.path ? `${first.path}: ${first.message}` : (first?.message ?? 'invalid input').replace(/^--/, '');
    return new OAuthError('invalid_request', description, undefined, 400);
  }
  if (isInternalError(err, 'ERR_NOT_FOUND')) return new OAuthError('not_found', err.message, undefined, 404);
  return err;
}

/** Runs a service call, answering its refusal as apiInputError says. */
export async function refusalsAsInvalidRequest<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw apiInputError(err);
  }
}

/** invalid_request naming the field and the problem (never the value). */
export function invalidInput(error: z.ZodError): OAuthError {
  const first = error.issues[0];
  const field = first?.path.length ? first.path.join('.') : 'body';
  return new OAuthError('invalid_request', `${field}: ${first?.message ?? 'invalid'}`, undefined, 400);
}

function parseWith<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw invalidInput(result.error);
  return result.data;
}

export class AdminApiRouter {
  readonly routes: AnyRoute[] = [];

  constructor(private readonly app: FastifyInstance, private readonly callerOf: (req: FastifyRequest) => ApiCaller) {}

  route<Body extends z.ZodType | undefined = undefined, Query extends z.ZodType | undefined = undefined>(def: ApiRouteDefinition<Body, Query>): void {
    this.routes.push(def as unknown as AnyRoute);
    this.app.route({
      method: def.method,
      url: `${ADMIN_API_PREFIX}${def.path}`,
      handler: async (req, reply) => {
        const query = def.query ? parseWith(def.query, Object.fromEntries(new URLSearchParams(req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : ''))) : undefined;
        if (def.body && req.body === undefined) throw new OAuthError('invalid_request', 'the body must be a JSON object (Content-Type: application/json)', undefined, 400);
        const body = def.body ? parseWith(def.body, req.body) : undefined;
        reply.header('cache-control', 'no-store');
        return def.handler({
          req, reply, caller: this.callerOf(req), params: req.params as Record<string, string>,
          query: query as never, body: body as never,
        });
      },
    });
  }

  /** The OpenAPI 3.1 document of every declared route. */
  openApi(issuer: string, scope: string): Record<string, unknown> {
    const paths: Record<string, Record<string, unknown>> = {};
    for (const r of this.routes) {
      const path = `${ADMIN_API_PREFIX}${r.path}`.replace(/:([A-Za-z]+)/g, '{$1}');
      const params = [...r.path.matchAll(/:([A-Za-z]+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
      const queryParams = r.query ? queryParameters(r.query) : [];
      (paths[path] ??= {})[r.method.toLowerCase()] = {
        tags: [r.tag],
        summary: r.summary,
        ...(r.description ? { description: r.description } : {}),
        operationId: `${r.method.toLowerCase()}${path.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ?? '').toUpperCase())}`,
        ...(params.length + queryParams.length ? { parameters: [...params, ...queryParams] } : {}),
        ...(r.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(r.body) } } } } : {}),
        responses: {
          ...Object.fromEntries(Object.entries(r.responses).map(([status, description]) => [status, { description }])),
          400: { description: 'invalid_request: the field and the problem are named', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
          401: { description: 'invalid_token: no token, or not active, or not for this API' },
          403: { description: 'insufficient_scope: not a client_credentials token with the caduceus:admin scope' },
          503: { description: 'temporarily_unavailable: storage or the ledger cannot be reached; retry after Retry-After' },
        },
      };
    }
    return {
      openapi: '3.1.0',
      info: { title: 'Caduceus admin API', version: '1', description: 'The admin console\'s operations for automation. Every call is recorded in the audit ledger with the calling client as actor.' },
      servers: [{ url: issuer }],
      security: [{ oauth2: [scope] }],
      components: {
        securitySchemes: {
          oauth2: { type: 'oauth2', description: 'A client_credentials access token of this server for the admin API resource, with the caduceus:admin scope (Bearer or DPoP).', flows: { clientCredentials: { tokenUrl: `${issuer}/token`, scopes: { [scope]: 'administer this server' } } } },
        },
        schemas: { Error: { type: 'object', properties: { error: { type: 'string' }, error_description: { type: 'string' } }, required: ['error'] } },
      },
      paths,
    };
  }
}

function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

function queryParameters(schema: z.ZodType): Record<string, unknown>[] {
  const js = jsonSchema(schema) as { properties?: Record<string, Record<string, unknown>>; required?: string[] };
  return Object.entries(js.properties ?? {}).map(([name, s]) => ({ name, in: 'query', required: js.required?.includes(name) ?? false, schema: s, ...(typeof s.description === 'string' ? { description: s.description } : {}) }));
}
