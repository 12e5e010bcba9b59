// OAuth 2.0 Protected Resource Metadata (RFC 9728) for every protected resource this server serves
// (each gateway route and the FHIR MCP server), so that a client that met a 401 (an AI agent, MCP authorization) finds the
// authorization server and the scopes without being configured for them.
//
// RFC 9728 §3.1: the metadata of resource https://host/path is at
// https://host/.well-known/oauth-protected-resource/path; §3.3: its `resource` value MUST be
// identical to that resource identifier, which is also the token audience (RFC 8707) here.
// Deliberately not advertised: resource_signing_alg_values_supported (§2: algorithms the resource
// signs its responses with; responses are not signed here, so the list would be untrue).
import type { FastifyInstance } from 'fastify';
import type { CaduceusConfig } from '../../config/schema.js';
import { DPOP_ALGORITHMS } from '../dpop/proof.js';

const WELL_KNOWN = '/.well-known/oauth-protected-resource';

export interface ProtectedResource {
  /** The resource identifier: the token audience, and the URL clients call. */
  resource: string;
  name: string;
  scopes: readonly string[];
}

/** The MCP resource identifier (RFC 8707 audience of its tokens): the issuer plus agents.mcp.path. */
export function mcpResource(config: Pick<CaduceusConfig, 'issuer' | 'agents'>): string {
  return `${config.issuer.replace(/\/$/, '')}${config.agents.mcp.path}`;
}

/** The resources this server protects: each gateway route, by its audience, and the MCP server when enabled. */
export function protectedResources(config: Pick<CaduceusConfig, 'gateway' | 'resources' | 'issuer' | 'agents'>): ProtectedResource[] {
  const declared = new Map(config.resources.map((r) => [r.uri, r]));
  const seen = new Set<string>();
  const out: ProtectedResource[] = [];
  for (const route of config.gateway.routes) {
    if (seen.has(route.audience)) continue;
    seen.add(route.audience);
    const r = declared.get(route.audience);
    out.push({ resource: route.audience, name: r?.name ?? 'Resource server', scopes: r?.scopes ?? [] });
  }
  if (config.agents.mcp.enabled) {
    const resource = mcpResource(config);
    const r = declared.get(resource);
    if (!seen.has(resource)) out.push({ resource, name: r?.name ?? 'FHIR MCP server', scopes: r?.scopes ?? [] });
  }
  return out;
}

/** The resources a self-registered agent may ask tokens for: those this server protects, by audience. */
export function agentResources(config: Pick<CaduceusConfig, 'gateway' | 'resources' | 'issuer' | 'agents'>): string[] {
  return protectedResources(config).map((r) => r.resource);
}

/** RFC 9728 §3.1: where the metadata of `resource` is published (the well-known path inserted before the resource's path). */
export function resourceMetadataUrl(resource: string): string {
  const u = new URL(resource);
  const path = u.pathname === '/' ? '' : u.pathname.replace(/\/$/, '');
  return `${u.origin}${WELL_KNOWN}${path}`;
}

/** RFC 9728 §2 metadata of one resource. */
export function protectedResourceMetadata(config: Pick<CaduceusConfig, 'issuer'>, resource: ProtectedResource): Record<string, unknown> {
  return {
    resource: resource.resource,
    authorization_servers: [config.issuer],
    scopes_supported: [...resource.scopes],
    // RFC 6750 §2.1 only: query and form tokens are refused (RFC 9700 §4.3.2).
    bearer_methods_supported: ['header'],
    resource_name: resource.name,
    dpop_signing_alg_values_supported: [...DPOP_ALGORITHMS],
    // Bearer tokens are accepted; a DPoP-bound token must come with its proof (RFC 9449 §7.1).
    dpop_bound_access_tokens_required: false,
  };
}

/** Serves the metadata of every protected resource whose identifier is on this server's paths. */
export function registerProtectedResourceMetadata(app: FastifyInstance, config: CaduceusConfig): void {
  const registered = new Set<string>();
  for (const resource of protectedResources(config)) {
    const path = new URL(resourceMetadataUrl(resource.resource)).pathname;
    if (registered.has(path)) continue;
    registered.add(path);
    const body = protectedResourceMetadata(config, resource);
    app.get(path, async (_req, reply) => {
      // Public and cacheable, like the authorization server metadata (RFC 9728 §3.2: application/json).
      reply.type('application/json; charset=utf-8').header('cache-control', 'public, max-age=300');
      return body;
    });
  }
}
