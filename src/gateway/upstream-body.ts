// What goes to the upstream and what comes back: allow-listed and identity headers, the re-serialised
// body, the upstream JSON, and upstream URLs rewritten to the route's public base.
import type { IncomingHttpHeaders } from 'node:http';
import type { VerifiedAccessToken } from '../oauth/resource-server/verify-access-token.js';
import type { ForwardBody } from './fhir-policy.js';
import { forEachResource } from './mask.js';
import { allowListedHeaders, type UpstreamResponse } from './forward.js';
import { identityHeaders } from './identity.js';
import { badGateway } from './errors.js';
import { type RouteEnv, isObject } from './exchange.js';

export function upstreamHeaders(env: RouteEnv, client: { headers: IncomingHttpHeaders; requestId: string }, token: VerifiedAccessToken | undefined, method: string, pathAndQuery: string, fhir: boolean, clientHeaders = true): Record<string, string> {
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

export function encodeBody(body: ForwardBody | undefined, headers: Record<string, string>): string | undefined {
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

export function parseUpstreamJson(res: UpstreamResponse): unknown {
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
export function rewriteUrl(value: unknown, env: RouteEnv): unknown {
  if (typeof value !== 'string') return value;
  return value === env.upstream.base || value.startsWith(`${env.upstream.base}/`) || value.startsWith(`${env.upstream.base}?`)
    ? `${env.publicBase}${value.slice(env.upstream.base.length)}`
    : value;
}

export function rewriteBundleUrls(body: unknown, env: RouteEnv): void {
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
