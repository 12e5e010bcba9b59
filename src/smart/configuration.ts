// SMART App Launch 2.2 discovery (conformance.md): `{fhirBase}/.well-known/smart-configuration`
// for every FHIR route of the gateway. JSON whatever the Accept header, absolute URLs, S256 only,
// and an honest capabilities list: only what this server does today.
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context/app-context.js';
import { authorizationServerMetadata } from '../oauth/endpoints/metadata.js';

/** Capabilities implemented now (SMART 2.2 §capabilities). */
export const SMART_CAPABILITIES = [
  'launch-ehr',
  'launch-standalone',
  'authorize-post',
  'client-public',
  'client-confidential-symmetric',
  'client-confidential-asymmetric',
  'context-ehr-patient',
  'context-ehr-encounter',
  'context-standalone-patient',
  'context-banner',
  'context-style',
  'permission-offline',
  'permission-patient',
  'permission-v1',
  'permission-v2',
  'sso-openid-connect',
] as const;

export function smartConfiguration(ctx: AppContext): Record<string, unknown> {
  const as = authorizationServerMetadata(ctx);
  const pick = (k: string) => as[k];
  return {
    issuer: as.issuer,
    jwks_uri: pick('jwks_uri'),
    authorization_endpoint: pick('authorization_endpoint'),
    token_endpoint: pick('token_endpoint'),
    introspection_endpoint: pick('introspection_endpoint'),
    revocation_endpoint: pick('revocation_endpoint'),
    management_endpoint: `${ctx.config.issuer}/account`,
    grant_types_supported: ['authorization_code', 'client_credentials'],
    token_endpoint_auth_methods_supported: pick('token_endpoint_auth_methods_supported'),
    token_endpoint_auth_signing_alg_values_supported: pick('token_endpoint_auth_signing_alg_values_supported'),
    scopes_supported: pick('scopes_supported'),
    response_types_supported: ['code'],
    code_challenge_methods_supported: ['S256'],
    capabilities: [...SMART_CAPABILITIES],
    ...(as.pushed_authorization_request_endpoint ? { pushed_authorization_request_endpoint: as.pushed_authorization_request_endpoint } : {}),
  };
}

export function registerSmartConfiguration(app: FastifyInstance, ctx: AppContext): void {
  for (const route of ctx.config.gateway.routes.filter((r) => r.type === 'fhir')) {
    // SMART App Launch 2.2 conformance.md: "SHALL be JSON, regardless of Accept headers".
    app.get(`${route.prefix}/.well-known/smart-configuration`, async (_req, reply) => {
      reply.type('application/json; charset=utf-8').header('cache-control', 'public, max-age=300');
      return smartConfiguration(ctx);
    });
  }
}
