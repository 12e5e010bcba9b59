// SMART App Launch 2.2 discovery (conformance.md): `{fhirBase}/.well-known/smart-configuration`
// for every FHIR route of the gateway. JSON whatever the Accept header, absolute URLs, S256 only,
// and an honest capabilities list: only what this server does today.
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context/app-context.js';
import { authorizationServerMetadata } from '../oauth/endpoints/metadata.js';
import { SUPPORTED_GRANT_TYPES } from '../oauth/endpoints/token.js';

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
  'permission-user',
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
    grant_types_supported: SUPPORTED_GRANT_TYPES,
    token_endpoint_auth_methods_supported: pick('token_endpoint_auth_methods_supported'),
    token_endpoint_auth_signing_alg_values_supported: pick('token_endpoint_auth_signing_alg_values_supported'),
    scopes_supported: smartScopesSupported(as.scopes_supported as string[]),
    response_types_supported: ['code'],
    code_challenge_methods_supported: ['S256'],
    capabilities: [...SMART_CAPABILITIES],
    ...(as.pushed_authorization_request_endpoint ? { pushed_authorization_request_endpoint: as.pushed_authorization_request_endpoint } : {}),
  };
}

/**
 * The authorization server's scopes plus the SMART context scopes this server honours
 * (scopes-and-launch-context.md): `launch` (EHR launch), `launch/patient` (the standalone patient
 * picker), `fhirUser` (the user's FHIR resource in the ID token and introspection).
 */
export function smartScopesSupported(asScopes: readonly string[]): string[] {
  return [...new Set(['openid', 'fhirUser', 'launch', 'launch/patient', ...asScopes])];
}

/**
 * SMART App Launch 2.2 conformance.md (FHIR R4 servers): the CapabilityStatement served through the
 * gateway declares SMART-on-FHIR security and the authorization server's endpoints in the oauth-uris
 * extension, whatever the upstream wrote there (the upstream does not know this server).
 */
export function withSmartSecurity(capability: Record<string, unknown>, issuer: string): void {
  const rest = Array.isArray(capability.rest) ? capability.rest : [];
  const uri = (url: string, path: string) => ({ url, valueUri: `${issuer}${path}` });
  const security = {
    service: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' }], text: 'OAuth2 using SMART-on-FHIR profile' }],
    extension: [{
      url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
      extension: [uri('authorize', '/authorize'), uri('token', '/token'), uri('revoke', '/revoke'), uri('introspect', '/introspect'), uri('manage', '/account')],
    }],
  };
  for (const r of rest) if (r !== null && typeof r === 'object') (r as Record<string, unknown>).security = security;
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
