// Facts about the code this deployment runs, read from the modules that implement them rather than
// restated here: the published metadata (src/oauth/endpoints/metadata.ts), the PKCE check itself
// (src/oauth/checks/pkce.ts, called with a missing and a plain challenge), the TLS constants
// (src/http/tls.ts) and the routes the HTTP app registers.
//
// MFA support is detected from the configuration schema: a build that can require a second factor
// has mfa.required_roles in its configuration; one without it is reported honestly by CAD-MFA-001.
//
// Deliberately not derived from code: refresh-token rotation (unconditional in
// src/oauth/grants/refresh-token.ts; `caduceus probe` checks it on a running server).
import type { CaduceusConfig } from '../config/schema.js';
import { checkCodeChallenge } from '../oauth/checks/pkce.js';
import { authorizationServerMetadata } from '../oauth/endpoints/metadata.js';
import { TLS_CIPHERS, TLS_MIN_VERSION } from '../http/tls.js';
import type { AppContext } from '../context/app-context.js';
import type { ServerFacts } from './types.js';

/** Route prefixes that are administrative (not part of the OAuth/OIDC surface or the user's account page). */
export const ADMIN_ROUTE_PREFIXES = ['/audit', '/admin'];

function refuses(fn: () => unknown): boolean {
  try {
    fn();
    return false;
  } catch {
    return true;
  }
}

/** The administrative routes registered by buildApp(ctx), from Fastify's route table. */
export async function listAdminRoutes(ctx: AppContext): Promise<string[]> {
  const { buildApp } = await import('../server/app.js');
  const app = await buildApp(ctx);
  try {
    await app.ready();
    const table = app.printRoutes({ commonPrefix: false });
    const routes = new Set<string>();
    for (const line of table.split('\n')) {
      const m = /(\/\S*)\s+\(/.exec(line);
      if (m && ADMIN_ROUTE_PREFIXES.some((p) => m[1] === p || m[1]!.startsWith(`${p}/`))) routes.add(m[1]!);
    }
    return [...routes].sort();
  } finally {
    await app.close();
  }
}

/** mfa.required_roles of this build's configuration, or undefined when the build has no MFA. */
export function mfaRequiredRoles(config: CaduceusConfig): string[] | undefined {
  const mfa = (config as unknown as { mfa?: { required_roles?: unknown } }).mfa;
  return Array.isArray(mfa?.required_roles) ? mfa.required_roles.map(String) : undefined;
}

export function serverFacts(config: CaduceusConfig, adminRoutes: string[] = []): ServerFacts {
  const mfaRoles = mfaRequiredRoles(config);
  const metadata = authorizationServerMetadata({ config });
  const list = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);
  const validChallenge = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';
  return {
    codeChallengeMethods: list(metadata.code_challenge_methods_supported),
    pkceRequired: refuses(() => checkCodeChallenge(undefined, undefined)) && refuses(() => checkCodeChallenge(undefined, 'S256')),
    plainRefused: refuses(() => checkCodeChallenge(validChallenge, 'plain')) && !refuses(() => checkCodeChallenge(validChallenge, 'S256')),
    grantTypesSupported: list(metadata.grant_types_supported),
    responseTypesSupported: list(metadata.response_types_supported),
    refreshRotation: true,
    mfaSupported: mfaRoles !== undefined,
    ...(mfaRoles !== undefined ? { mfaRequiredRoles: mfaRoles } : {}),
    adminRoutes,
    tls: { minVersion: TLS_MIN_VERSION, ciphers: TLS_CIPHERS.split(':') },
    tokenSigningAlgs: list(metadata.id_token_signing_alg_values_supported),
  };
}
