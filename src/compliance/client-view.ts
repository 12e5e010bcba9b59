// One view of every client a rule must look at: the clients in storage, plus configuration
// clients that were not synced to storage yet (a `caduceus check` run before the first start).
// Clients AI agents registered themselves (source 'dynamic', RFC 7591) are not among them: their
// metadata is the agent's request, what they may be granted is decided by the agent policy
// (src/oauth/agent-policy.ts), and no finding about one could be fixed in this server's settings.
// Dynamic registration itself is judged by its settings (open registration is an unsafe.* switch).
import type { ClientRecord } from '../storage/types.js';
import type { CheckInput, Finding, Severity } from './types.js';

export interface ClientView {
  clientId: string;
  name: string;
  grantTypes: string[];
  redirectUris: string[];
  scopes: string[];
  resources: string[];
  tokenEndpointAuthMethod: string;
  /** A client secret digest is stored. */
  hasStoredSecret: boolean;
  /** jwks or jwks_uri is registered (asymmetric authentication). */
  hasKeys: boolean;
  source: 'config' | 'admin';
  /** Index in config.clients, for configuration clients. */
  configIndex?: number;
  clientSecretEnv?: string;
  /** `client:<id>`. */
  location: string;
}

export function clientLocation(clientId: string): string {
  return `client:${clientId}`;
}

type ManagedClient = ClientRecord & { source: 'config' | 'admin' };

/** A client of the configuration file or the admin CLI, not one an agent registered. */
const isManaged = (c: ClientRecord): c is ManagedClient => c.source !== 'dynamic';

function fromRecord(c: ManagedClient): ClientView {
  return {
    clientId: c.clientId,
    name: c.name,
    grantTypes: [...c.grantTypes],
    redirectUris: [...c.redirectUris],
    scopes: c.scope.split(' ').filter(Boolean),
    resources: [...c.resources],
    tokenEndpointAuthMethod: c.tokenEndpointAuthMethod,
    hasStoredSecret: c.secretDigest !== null,
    hasKeys: c.jwks !== null || c.jwksUri !== null,
    source: c.source,
    location: clientLocation(c.clientId),
  };
}

/** Every client, sorted by client_id; configuration values win over a stale stored copy. */
export function clientViews(input: Pick<CheckInput, 'clients' | 'config'>): ClientView[] {
  const byId = new Map<string, ClientView>();
  for (const c of input.clients.filter(isManaged)) byId.set(c.clientId, fromRecord(c));
  input.config.clients.forEach((c, i) => {
    const stored = byId.get(c.client_id);
    byId.set(c.client_id, {
      clientId: c.client_id,
      name: c.name,
      grantTypes: [...c.grant_types],
      redirectUris: [...c.redirect_uris],
      scopes: c.scope.split(' ').filter(Boolean),
      resources: [...c.resources],
      tokenEndpointAuthMethod: c.token_endpoint_auth_method,
      hasStoredSecret: stored?.hasStoredSecret ?? false,
      hasKeys: c.jwks !== undefined || c.jwks_uri !== undefined,
      source: 'config',
      configIndex: i,
      ...(c.client_secret_env !== undefined ? { clientSecretEnv: c.client_secret_env } : {}),
      location: clientLocation(c.client_id),
    });
  });
  return [...byId.values()].sort((a, b) => (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0));
}

/** A finding factory bound to one rule id. */
export function findingsOf(ruleId: string): (severity: Severity, location: string, message: string, fix: string) => Finding {
  return (severity, location, message, fix) => ({ ruleId, severity, location, message, fix });
}

export const isBackendClient = (c: ClientView): boolean => c.grantTypes.includes('client_credentials');
