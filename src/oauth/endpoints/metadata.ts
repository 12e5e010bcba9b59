// Authorization server metadata (RFC 8414) and OpenID Connect Discovery 1.0. Only what is really
// allowed is advertised: code flow only, S256 only (RFC 9700 §2.1.1), the RFC 9207 iss parameter.
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../../context/app-context.js';
import { SUPPORTED_GRANT_TYPES } from './token.js';
import { ASSERTION_ALGORITHMS } from '../client-auth/private-key-jwt.js';
import { DPOP_ALGORITHMS } from '../dpop/proof.js';

/** RFC 8414 metadata: read from the configuration only (the compliance check calls it without a server). */
export function authorizationServerMetadata(ctx: Pick<AppContext, 'config'>): Record<string, unknown> {
  const iss = ctx.config.issuer;
  const scopes = new Set<string>(['openid', 'offline_access']);
  for (const r of ctx.config.resources) for (const s of r.scopes) scopes.add(s);
  return {
    issuer: iss,
    authorization_endpoint: `${iss}/authorize`,
    token_endpoint: `${iss}/token`,
    jwks_uri: `${iss}/jwks`,
    userinfo_endpoint: `${iss}/userinfo`,
    introspection_endpoint: `${iss}/introspect`,
    revocation_endpoint: `${iss}/revoke`,
    end_session_endpoint: `${iss}/logout`,
    scopes_supported: [...scopes],
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: SUPPORTED_GRANT_TYPES,
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
    token_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGORITHMS,
    introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['ES256'],
    claims_supported: ['iss', 'sub', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'amr', 'acr', 'fhirUser'],
    authorization_response_iss_parameter_supported: true,
    prompt_values_supported: ['none', 'login', 'consent'],
    request_parameter_supported: false,
    // request_uri values are accepted only as PAR handles (RFC 9126), never fetched from a URL.
    request_uri_parameter_supported: false,
    pushed_authorization_request_endpoint: `${iss}/par`,
    // RFC 8414 §2, RFC 7591 §3: only when agents may register themselves.
    ...(ctx.config.agents.dynamic_registration.enabled ? { registration_endpoint: `${iss}/register` } : {}),
    require_pushed_authorization_requests: ctx.config.par.require_pushed_authorization_requests,
    dpop_signing_alg_values_supported: [...DPOP_ALGORITHMS],
    // draft-ietf-oauth-client-id-metadata-document: an https client_id names its metadata document.
    client_id_metadata_document_supported: ctx.config.agents.client_id_metadata_documents,
  };
}

export function registerMetadataEndpoints(app: FastifyInstance, ctx: AppContext): void {
  const send = async () => authorizationServerMetadata(ctx);
  app.get('/.well-known/oauth-authorization-server', send);
  app.get('/.well-known/openid-configuration', send);
  // RFC 7517: public keys only; retired keys stay until every token they signed has expired.
  app.get('/jwks', async (_req, reply) => {
    reply.header('cache-control', 'public, max-age=60');
    return ctx.keys.jwks(ctx.now());
  });
}
