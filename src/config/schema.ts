// The configuration schema: types, secure defaults and validation in one place. Unknown keys are
// refused; every error names its path and the fix. Every weakening lives under `unsafe.*`.
import { z } from 'zod';
import { isIP } from 'node:net';
import { redirectUriProblem } from '../oauth/checks/redirect-uri.js';
import { ScopeSyntaxError, parseSmartScope } from '../smart/scopes.js';
import { gatewayConfigIssues, gatewayConfigSchema, RESERVED_PREFIX_SEGMENTS } from './gateway.js';

/** RFC 9068 / RFC 9700 §2.3: short-lived access tokens; hard cap of 15 minutes. */
export const ACCESS_TOKEN_TTL_CAP = 900;
/** FAPI 2.0 §5.3.2.1: authorization codes live at most 60 seconds. */
export const AUTHORIZATION_CODE_TTL_CAP = 60;

const seconds = (def: number, max?: number) => {
  let s = z.number().int().positive();
  if (max !== undefined) s = s.max(max, { message: `must be at most ${max} seconds` });
  return s.default(def);
};

/** A rate limit in requests per minute; 0 turns it off. */
const perMinute = (def: number) => z.number().int().min(0, { message: 'must be a whole number of requests per minute, or 0 to turn this limit off' }).default(def);

const absoluteUrl = z.string().refine((v) => URL.canParse(v), { message: 'must be an absolute URL' });

/** RFC 7518 §6.2.2, §6.3.2 (private EC/OKP/RSA parts) and §6.4.1 (`k`, a symmetric key): never registered. */
export const PRIVATE_JWK_MEMBERS: readonly string[] = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

const GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials', 'urn:ietf:params:oauth:grant-type:token-exchange'] as const;
const AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'] as const;

const redirectUri = z.string().superRefine((v, ctx) => {
  const problem = redirectUriProblem(v);
  if (problem) ctx.addIssue({ code: 'custom', message: `${problem}` });
});

const clientLimit = (example: number) => {
  const message = `must be a whole number of seconds greater than 0, e.g. ${example}; leave it out to use the global session limit`;
  return z.number({ message }).int({ message }).positive({ message }).optional();
};

/**
 * 45 CFR 164.312(a)(2)(iii) automatic logoff for one client, stricter than `session.*`: a session
 * idle or old beyond these signs in again before this client gets a code. A value above the
 * global limit is capped by it (src/interaction/client-session-policy.ts), never refused.
 */
export const clientSessionSchema = z.strictObject({
  idle_timeout: clientLimit(300),
  absolute_timeout: clientLimit(3600),
}, { message: 'must be a mapping with idle_timeout and/or absolute_timeout in seconds, e.g. {idle_timeout: 300}' }).superRefine((s, ctx) => {
  if (s.idle_timeout !== undefined && s.absolute_timeout !== undefined && s.idle_timeout > s.absolute_timeout) {
    ctx.addIssue({ code: 'custom', path: ['idle_timeout'], message: `must not exceed this client's session.absolute_timeout (${s.absolute_timeout}); lower it or raise absolute_timeout` });
  }
});

export const clientSchema = z.strictObject({
  client_id: z.string().regex(/^[A-Za-z0-9._~-]{3,128}$/, { message: 'use 3-128 letters, digits, ".", "_", "~" or "-"' }),
  name: z.string().min(1).max(200),
  grant_types: z.array(z.enum(GRANT_TYPES)).min(1).default(['authorization_code', 'refresh_token']),
  redirect_uris: z.array(redirectUri).default([]),
  scope: z.string().default(''),
  resources: z.array(absoluteUrl).default([]),
  token_endpoint_auth_method: z.enum(AUTH_METHODS).default('client_secret_basic'),
  /** Name of the environment variable holding the client secret (GitOps: secrets stay out of the file). */
  client_secret_env: z.string().regex(/^[A-Z_][A-Z0-9_]*$/).optional(),
  jwks_uri: z.string().url().refine((v) => v.startsWith('https://'), { message: 'must use https' }).optional(),
  jwks: z.strictObject({
    keys: z.array(z.record(z.string(), z.unknown()).refine((k) => !PRIVATE_JWK_MEMBERS.some((m) => m in k), {
      message: 'holds private key material (d, p, q, dp, dq, qi, oth or k); register the public key only',
    })),
  }).optional(),
  /** RFC 9449 §5.2: every token request of this client must carry a DPoP proof. */
  dpop_bound_access_tokens: z.boolean().default(false),
  /** RFC 9126 §6: this client's authorization requests must come through PAR. */
  require_pushed_authorization_requests: z.boolean().default(false),
  /** Per-client automatic logoff, capped by the global `session.*` limits. */
  session: clientSessionSchema.optional(),
}).superRefine((c, ctx) => {
  if (c.grant_types.includes('authorization_code') && c.redirect_uris.length === 0) {
    ctx.addIssue({ code: 'custom', path: ['redirect_uris'], message: 'authorization_code clients need at least one redirect URI' });
  }
  const secretMethod = c.token_endpoint_auth_method.startsWith('client_secret');
  if (secretMethod && !c.client_secret_env) {
    ctx.addIssue({ code: 'custom', path: ['client_secret_env'], message: `${c.token_endpoint_auth_method} needs client_secret_env (the environment variable holding the secret)` });
  }
  if (c.token_endpoint_auth_method === 'private_key_jwt' && !c.jwks_uri && !c.jwks) {
    ctx.addIssue({ code: 'custom', path: ['jwks_uri'], message: 'private_key_jwt needs jwks_uri or jwks' });
  }
  if (c.token_endpoint_auth_method === 'none' && c.grant_types.includes('client_credentials')) {
    ctx.addIssue({ code: 'custom', path: ['grant_types'], message: 'public clients (auth method none) cannot use client_credentials' });
  }
  // RFC 8693 §2.1 leaves client authentication to the server: an agent that acts for a person is a confidential client here.
  if (c.token_endpoint_auth_method === 'none' && c.grant_types.includes('urn:ietf:params:oauth:grant-type:token-exchange')) {
    ctx.addIssue({ code: 'custom', path: ['grant_types'], message: 'public clients (auth method none) cannot use token exchange; use client_secret_basic or private_key_jwt' });
  }
});

/** "10.1.2.3", "::1", "10.0.0.0/8" or "fd00::/8". */
function isAddressOrCidr(text: string): boolean {
  const [address, bits, extra] = text.split('/');
  const family = isIP(address ?? '');
  if (family === 0 || extra !== undefined) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128);
}

export const resourceSchema = z.strictObject({
  uri: absoluteUrl,
  name: z.string().min(1).default('Resource server'),
  /** Scopes this resource server accepts; tokens for it carry only these. */
  scopes: z.array(z.string().min(1)).default([]),
});

/**
 * An administrator's approval of one self-registered AI agent (src/oauth/agent-policy.ts): by the
 * client_id its dynamic registration got, or by its client ID metadata document URL. `scope` widens
 * what the agent may be granted beyond the default (read-only patient/ scopes); without it the
 * approval only lets the agent in when agents.require_approval is on.
 */
export const agentApprovalSchema = z.strictObject({
  client_id: z.string().regex(/^[A-Za-z0-9._~-]{3,128}$/, { message: 'use the client_id the dynamic registration returned (e.g. agent_…)' }).optional(),
  metadata_url: z.string().refine((v) => URL.canParse(v) && new URL(v).protocol === 'https:', { message: 'must be the agent\'s https client_id (its client ID metadata document URL)' }).optional(),
  scope: z.string().optional(),
}).superRefine((a, ctx) => {
  if ((a.client_id === undefined) === (a.metadata_url === undefined)) {
    ctx.addIssue({ code: 'custom', path: [], message: 'needs exactly one of client_id (a dynamic registration) or metadata_url (a client ID metadata document)' });
  }
  for (const s of (a.scope ?? '').split(' ').filter(Boolean)) {
    try {
      const parsed = parseSmartScope(s);
      // SMART backend services only: an agent acts for a person through the authorization code flow.
      if (parsed.kind === 'resource' && parsed.level === 'system') {
        ctx.addIssue({ code: 'custom', path: ['scope'], message: `"${s}": system/ scopes are for backend services; an agent acts for a signed-in person (use patient/ or user/)` });
      }
    } catch (err) {
      if (!(err instanceof ScopeSyntaxError)) throw err;
      ctx.addIssue({ code: 'custom', path: ['scope'], message: `"${s.slice(0, 60)}" is not a valid scope: ${err.message}` });
    }
  }
});

export const configSchema = z.strictObject({
  issuer: z.string().refine((v) => {
    if (!URL.canParse(v)) return false;
    const u = new URL(v);
    return !u.search && !u.hash && u.pathname === '/' && !v.endsWith('/');
  }, { message: 'must be an absolute https URL with no path, query, fragment or trailing slash, e.g. https://auth.example.org (RFC 8414 §2)' }),
  listen: z.strictObject({
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(8443),
    /** Addresses of reverse proxies whose X-Forwarded-For is believed (client address for throttling and consent records). */
    trusted_proxies: z.array(z.string().min(1)).default([]),
  }).default({ host: '127.0.0.1', port: 8443, trusted_proxies: [] }),
  /** The admin listener (Prometheus /metrics, /healthz, /readyz): plain HTTP, off unless port is set. */
  admin: z.strictObject({
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).optional(),
  }).default({ host: '127.0.0.1' }),
  tls: z.strictObject({
    cert: z.string(),
    key: z.string(),
    /** RFC 6797; Mozilla recommends two years. */
    hsts_max_age: z.number().int().min(0).default(63072000),
  }).optional(),
  storage: z.string().refine((v) => v.startsWith('sqlite:') || /^postgres(ql)?:\/\//.test(v), {
    message: 'use sqlite:PATH or postgres://user@host/db (or set CADUCEUS_DATABASE_URL)',
  }),
  /**
   * PostgreSQL connections (SQLite has no network to wait on). A request waits at most about
   * connect_timeout + query_timeout for the database, then answers 503 temporarily_unavailable.
   */
  database: z.strictObject({
    pool_size: z.number().int().min(1).max(1000).default(10),
    /** Establishing a connection, or waiting for a free one in the pool. */
    connect_timeout: z.number().positive().max(600).default(3),
    /** Server-side statement_timeout (and idle_in_transaction_session_timeout twice it). */
    statement_timeout: z.number().positive().max(3600).default(5),
    /** Client-side: a query whose answer has not arrived by then fails and its connection is discarded (a partition). */
    query_timeout: z.number().positive().max(3600).default(6),
  }).superRefine((d, ctx) => {
    if (d.query_timeout < d.statement_timeout) {
      ctx.addIssue({ code: 'custom', path: ['query_timeout'], message: `must be at least database.statement_timeout (${d.statement_timeout}), so the server cancels a slow statement before the client gives up on the connection` });
    }
  }).default({ pool_size: 10, connect_timeout: 3, statement_timeout: 5, query_timeout: 6 }),
  master_key_file: z.string().optional(),
  /** Short-lived shared state (replay values, login throttling) in Redis instead of the database. */
  cache: z.string().refine((v) => /^rediss?:\/\/[^/]/.test(v) && URL.canParse(v), {
    message: 'use redis://host:6379/0 (or rediss:// for TLS); leave it out to keep this state in the database',
  }).optional(),
  tokens: z.strictObject({
    access_token_ttl: seconds(300, ACCESS_TOKEN_TTL_CAP),
    id_token_ttl: seconds(300, 3600),
    authorization_code_ttl: seconds(60, AUTHORIZATION_CODE_TTL_CAP),
    refresh_token_idle_ttl: seconds(86_400),
    refresh_token_absolute_ttl: seconds(2_592_000),
  }).default({ access_token_ttl: 300, id_token_ttl: 300, authorization_code_ttl: 60, refresh_token_idle_ttl: 86_400, refresh_token_absolute_ttl: 2_592_000 }),
  resources: z.array(resourceSchema).default([]),
  clients: z.array(clientSchema).default([]),
  session: z.strictObject({
    /** 45 CFR 164.312(a)(2)(iii) automatic logoff. */
    idle_timeout: seconds(900),
    absolute_timeout: seconds(43_200),
  }).default({ idle_timeout: 900, absolute_timeout: 43_200 }),
  login: z.strictObject({
    max_failures_per_account: z.number().int().positive().default(5),
    max_failures_per_address: z.number().int().positive().default(20),
    failure_window: seconds(900),
    /** First account lockout; each further lockout doubles it, up to lockout_max_seconds. */
    lockout_base_seconds: seconds(60, 3600),
    lockout_max_seconds: seconds(3600, 86_400),
    /** Failed client authentications of one client id from one address within failure_window before that pair is refused. */
    max_client_auth_failures: z.number().int().positive().default(20),
    /** Failed client authentications of one client id from every address within failure_window that raise one audited alert (no lockout). */
    client_auth_alert_threshold: z.number().int().positive().default(100),
  }).superRefine((l, ctx) => {
    if (l.lockout_base_seconds > l.lockout_max_seconds) {
      ctx.addIssue({ code: 'custom', path: ['lockout_base_seconds'], message: 'must not exceed login.lockout_max_seconds' });
    }
  }).default({
    max_failures_per_account: 5, max_failures_per_address: 20, failure_window: 900, lockout_base_seconds: 60, lockout_max_seconds: 3600,
    max_client_auth_failures: 20, client_auth_alert_threshold: 100,
  }),
  /**
   * Request rate limits, every request counted (src/http/request-rate-limits.ts), in requests per
   * minute across every instance (counts shared each second); 0 turns one limit off. Exceeding one
   * answers 429 with Retry-After.
   */
  rate_limits: z.strictObject({
    /** /token, /introspect, /revoke, /par and /smart/launch, counted together. */
    token_endpoints: z.strictObject({
      per_client: perMinute(600_000),
      per_address: perMinute(600_000),
    }).default({ per_client: 600_000, per_address: 600_000 }),
    /** The password forms (POST /interaction/:id/login and POST /account/login). */
    login: z.strictObject({
      per_account: perMinute(30),
      per_address: perMinute(600),
    }).default({ per_account: 30, per_address: 600 }),
    /** Dynamic client registration (POST, GET and DELETE /register), when agents.dynamic_registration is on. */
    registration: z.strictObject({
      per_address: perMinute(20),
    }).default({ per_address: 20 }),
    /** The most keys (clients, addresses, accounts) each limit holds in memory. */
    max_keys: z.number().int().min(100).max(1_000_000).default(10_000),
  }).default({ token_endpoints: { per_client: 600_000, per_address: 600_000 }, login: { per_account: 30, per_address: 600 }, registration: { per_address: 20 }, max_keys: 10_000 }),
  mfa: z.strictObject({
    /** Roles that must use a second factor (the 2025 NPRM to 45 CFR 164.312(d)); other roles may. */
    required_roles: z.array(z.enum(['patient', 'practitioner', 'administrator'])).default(['practitioner', 'administrator']),
  }).default({ required_roles: ['practitioner', 'administrator'] }),
  /** Emergency access (45 CFR 164.312(a)(2)(ii)): src/breakglass/. */
  breakglass: z.strictObject({
    /** Lifetime of a break-glass access token; no refresh token is ever issued. */
    token_ttl_seconds: seconds(900, 3600),
    /** Notified in real time of every emergency access (POST, JSON, identifiers only). https, or http on loopback. */
    webhook_url: z.string().refine((v) => {
      if (!URL.canParse(v)) return false;
      const u = new URL(v);
      return u.protocol === 'https:' || (u.protocol === 'http:' && ['127.0.0.1', '[::1]', 'localhost'].includes(u.hostname));
    }, { message: 'use an https:// URL (http:// only on 127.0.0.1, [::1] or localhost)' }).optional(),
  }).default({ token_ttl_seconds: 900 }),
  /** SMART App Launch (src/smart/). */
  smart: z.strictObject({
    /** smart_style_url returned in token responses of standalone launches (an https URL of a SMART style JSON). */
    style_url: z.string().refine((v) => URL.canParse(v) && new URL(v).protocol === 'https:', { message: 'use an absolute https:// URL' }).optional(),
  }).default({}),
  consent: z.strictObject({
    /** Version of the consent text shown; stored with every consent record. */
    text_version: z.string().default('2026-11-01'),
  }).default({ text_version: '2026-11-01' }),
  audit: z.strictObject({
    /** A file outside the database that every checkpoint is appended to. */
    witness_file: z.string().optional(),
    checkpoint_interval_ms: z.number().int().min(100).max(60_000).default(1000),
    origin: z.string().optional(),
    /** How long ledger entries are kept; 45 CFR 164.316(b)(2) asks for six years. */
    retention_years: z.number().int().min(1).default(6),
  }).default({ checkpoint_interval_ms: 1000, retention_years: 6 }),
  dpop: z.strictObject({
    /** RFC 9449 §8: refuse token-endpoint proofs without a fresh server nonce (use_dpop_nonce). */
    require_nonce: z.boolean().default(false),
    nonce_lifetime: seconds(300, 3600),
  }).default({ require_nonce: false, nonce_lifetime: 300 }),
  par: z.strictObject({
    /** RFC 9126 §6, FAPI 2.0 §5.3.2.2: every client must use PAR. */
    require_pushed_authorization_requests: z.boolean().default(false),
    /** RFC 9126 §2.2 expires_in; FAPI 2.0: less than 600 seconds. */
    request_uri_ttl: seconds(60, 599),
  }).default({ require_pushed_authorization_requests: false, request_uri_ttl: 60 }),
  /** The PHI gateway in front of FHIR and other PHI APIs (src/config/gateway.ts). */
  gateway: gatewayConfigSchema.default({ introspection_cache_seconds: 30, introspection_cache_entries: 10_000, routes: [] }),
  /** AI agents (issue 14). Client ID Metadata Documents: src/oauth/client-metadata/. */
  agents: z.strictObject({
    /** draft-ietf-oauth-client-id-metadata-document: an https client_id is fetched, validated and cached. */
    client_id_metadata_documents: z.boolean().default(true),
    /** The most documents (and key sets) kept in memory. */
    metadata_cache_entries: z.number().int().min(1).max(100_000).default(1000),
    /** Bounds on the lifetime that Cache-Control asks for (§5.2 of the draft). */
    metadata_cache_min_seconds: seconds(60, 3600),
    metadata_cache_max_seconds: seconds(86_400, 604_800),
    /** One deadline for DNS, connect, TLS, headers and body. */
    metadata_fetch_timeout_ms: z.number().int().min(100).max(10_000).default(3000),
    /** RFC 7591 / RFC 7592 at /register (src/oauth/endpoints/register.ts): off unless enabled. */
    dynamic_registration: z.strictObject({
      enabled: z.boolean().default(false),
      /** RFC 7591 §3: the environment variable holding the initial access token POST /register requires. */
      initial_access_token_env: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, { message: 'must be an environment variable name (A-Z, 0-9, _)' }).optional(),
    }).default({ enabled: false }),
    /** Access token lifetime of a self-registered agent (src/oauth/agent-policy.ts), capped by tokens.access_token_ttl. */
    access_token_ttl: seconds(300, ACCESS_TOKEN_TTL_CAP),
    /** A self-registered agent that no entry of `approved` names is refused at /authorize. */
    require_approval: z.boolean().default(false),
    /** Agents an administrator approved, by client_id (dynamic registration) or metadata_url. */
    approved: z.array(agentApprovalSchema).default([]),
    /** The FHIR MCP server (src/agents/mcp/): MCP Streamable HTTP in front of one fhir gateway route. */
    mcp: z.strictObject({
      enabled: z.boolean().default(false),
      /** Where it listens; the MCP resource (token audience, RFC 8707) is issuer + path. */
      path: z.string().regex(/^(\/[a-z0-9_-]+)+$/, { message: 'must be an absolute path of lowercase segments without a trailing slash, e.g. /mcp' }).default('/mcp'),
      /** The gateway route (its prefix) whose pipeline every tool call goes through. */
      fhir_route: z.string().default('/fhir'),
    }).default({ enabled: false, path: '/mcp', fhir_route: '/fhir' }),
  }).refine((a) => a.metadata_cache_min_seconds <= a.metadata_cache_max_seconds, {
    path: ['metadata_cache_min_seconds'], message: 'must not exceed agents.metadata_cache_max_seconds',
  }).default({
    client_id_metadata_documents: true, metadata_cache_entries: 1000, metadata_cache_min_seconds: 60, metadata_cache_max_seconds: 86_400,
    metadata_fetch_timeout_ms: 3000, dynamic_registration: { enabled: false }, access_token_ttl: 300, require_approval: false, approved: [],
    mcp: { enabled: false, path: '/mcp', fhir_route: '/fhir' },
  }),
  /**
   * The admin console (/admin) and admin API (/admin/api), src/admin/console/ and src/admin/api/.
   * Administrators only, second factor at every sign-in (45 CFR 164.308(a)(3)-(4), 164.312(d)).
   */
  admin_console: z.strictObject({
    enabled: z.boolean().default(true),
    /** Console sessions end after this long unused (45 CFR 164.312(a)(2)(iii)); shorter than users'. */
    idle_timeout: seconds(900),
    /** and this long after sign-in, whatever the use. */
    absolute_timeout: seconds(28_800),
    /** Sensitive actions ask for the second factor again when the last check is older than this (seconds). */
    step_up_max_age: z.number().int().min(30).max(3600).default(300),
    /** Addresses or CIDR blocks (IPv4 or IPv6) the console and API accept; empty: any address. */
    ip_allowlist: z.array(z.string().refine(isAddressOrCidr, { message: 'must be an IP address or a CIDR block such as 10.0.0.0/8 or fd00::/8' })).default([]),
    /** Lifetime of the one-time link by which a new user sets their password (seconds). */
    password_link_ttl: z.number().int().min(300).max(7 * 86_400).default(86_400),
  }).refine((a) => a.idle_timeout <= a.absolute_timeout, { path: ['idle_timeout'], message: 'must not exceed admin_console.absolute_timeout' })
    .default({ enabled: true, idle_timeout: 900, absolute_timeout: 28_800, step_up_max_age: 300, ip_allowlist: [], password_link_ttl: 86_400 }),
  unsafe: z.strictObject({
    /** Serve plain HTTP (loopback only). */
    allow_plain_http: z.boolean().default(false),
    /** TLS is terminated by a trusted reverse proxy in front of this process. */
    tls_terminated_by_proxy: z.boolean().default(false),
    /** Start even when the compliance check finds errors (itself a finding). */
    allow_noncompliant_start: z.boolean().default(false),
    /** Break-glass tokens keep create, update and delete (still the emergency patient only). */
    breakglass_write: z.boolean().default(false),
    /** Client ID Metadata Documents may be fetched from loopback addresses (development; loopback issuer only). */
    allow_loopback_client_metadata: z.boolean().default(false),
    /** RFC 7591 §3 open registration: POST /register without an initial access token (anyone may register an agent). */
    allow_open_client_registration: z.boolean().default(false),
  }).default({
    allow_plain_http: false, tls_terminated_by_proxy: false, allow_noncompliant_start: false, breakglass_write: false,
    allow_loopback_client_metadata: false, allow_open_client_registration: false,
  }),
}).superRefine((c, ctx) => {
  const issuer = URL.canParse(c.issuer) ? new URL(c.issuer) : undefined;
  if (issuer && issuer.protocol !== 'https:') {
    if (!c.unsafe.allow_plain_http) {
      ctx.addIssue({ code: 'custom', path: ['issuer'], message: 'must use https (plain http needs unsafe.allow_plain_http and a loopback issuer)' });
    } else if (!['127.0.0.1', 'localhost', '[::1]'].includes(issuer.hostname)) {
      ctx.addIssue({ code: 'custom', path: ['issuer'], message: 'plain http is only allowed for a loopback issuer (127.0.0.1, localhost or [::1])' });
    }
  }
  // draft-ietf-oauth-client-id-metadata-document §8.6: the loopback exception only "when the
  // authorization server itself is also running on a loopback address", never in production.
  if (c.unsafe.allow_loopback_client_metadata && issuer && !['127.0.0.1', 'localhost', '[::1]'].includes(issuer.hostname)) {
    ctx.addIssue({ code: 'custom', path: ['unsafe', 'allow_loopback_client_metadata'], message: 'is only allowed with a loopback issuer (127.0.0.1, localhost or [::1])' });
  }
  // RFC 7591 §3: without an initial access token anyone may register a client; that is a weakening.
  const registration = c.agents.dynamic_registration;
  if (registration.enabled && registration.initial_access_token_env === undefined && !c.unsafe.allow_open_client_registration) {
    ctx.addIssue({
      code: 'custom', path: ['agents', 'dynamic_registration', 'initial_access_token_env'],
      message: 'is required while dynamic registration is enabled: name the environment variable holding the initial access token (open registration needs unsafe.allow_open_client_registration)',
    });
  }
  if (c.unsafe.allow_open_client_registration && registration.initial_access_token_env !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['unsafe', 'allow_open_client_registration'], message: 'has no effect while agents.dynamic_registration.initial_access_token_env is set; remove one of them' });
  }
  const approvedAgents = new Set<string>();
  c.agents.approved.forEach((a, i) => {
    const key = a.client_id ?? a.metadata_url ?? '';
    if (approvedAgents.has(key)) ctx.addIssue({ code: 'custom', path: ['agents', 'approved', i], message: 'names an agent that an earlier entry already approves; merge the two entries' });
    approvedAgents.add(key);
  });
  if (!c.tls && !c.unsafe.allow_plain_http && !c.unsafe.tls_terminated_by_proxy) {
    ctx.addIssue({ code: 'custom', path: ['tls'], message: 'is required: set tls.cert and tls.key (or unsafe.tls_terminated_by_proxy behind a TLS proxy)' });
  }
  if (c.tokens.refresh_token_idle_ttl > c.tokens.refresh_token_absolute_ttl) {
    ctx.addIssue({ code: 'custom', path: ['tokens', 'refresh_token_idle_ttl'], message: 'must not exceed tokens.refresh_token_absolute_ttl' });
  }
  if (c.session.idle_timeout > c.session.absolute_timeout) {
    ctx.addIssue({ code: 'custom', path: ['session', 'idle_timeout'], message: 'must not exceed session.absolute_timeout' });
  }
  const resourceUris = new Set(c.resources.map((r) => r.uri));
  c.clients.forEach((client, i) => {
    client.resources.forEach((r, j) => {
      if (!resourceUris.has(r)) {
        ctx.addIssue({ code: 'custom', path: ['clients', i, 'resources', j], message: `"${r}" is not declared under resources` });
      }
    });
  });
  for (const issue of gatewayConfigIssues(c.gateway, c)) ctx.addIssue({ code: 'custom', path: issue.path, message: issue.message });
  const mcp = c.agents.mcp;
  if (mcp.enabled) {
    // RFC 8707: a token is issued for a resource only when it is declared; the MCP resource is issuer + path.
    const mcpResource = `${c.issuer.replace(/\/$/, '')}${mcp.path}`;
    if (!resourceUris.has(mcpResource)) {
      ctx.addIssue({ code: 'custom', path: ['agents', 'mcp', 'path'], message: `the MCP resource "${mcpResource}" is not declared under resources: declare it (with the scopes agents may ask for) so tokens can be issued for it` });
    }
    const route = c.gateway.routes.find((r) => r.prefix === mcp.fhir_route);
    if (!route || route.type !== 'fhir') {
      ctx.addIssue({ code: 'custom', path: ['agents', 'mcp', 'fhir_route'], message: `must name a gateway route of type fhir ("${mcp.fhir_route}" is ${route ? `of type ${route.type}` : 'not a gateway.routes[].prefix'})` });
    }
    if (c.gateway.routes.some((r) => mcp.path === r.prefix || mcp.path.startsWith(`${r.prefix}/`) || r.prefix.startsWith(`${mcp.path}/`))) {
      ctx.addIssue({ code: 'custom', path: ['agents', 'mcp', 'path'], message: 'overlaps a gateway route prefix' });
    }
    if (RESERVED_PREFIX_SEGMENTS.has(mcp.path.split('/')[1] ?? '')) {
      ctx.addIssue({ code: 'custom', path: ['agents', 'mcp', 'path'], message: 'starts with a path the authorization server itself serves; choose another, e.g. /mcp' });
    }
  }
  const ids = new Set<string>();
  c.clients.forEach((client, i) => {
    if (ids.has(client.client_id)) ctx.addIssue({ code: 'custom', path: ['clients', i, 'client_id'], message: 'is declared twice' });
    ids.add(client.client_id);
  });
});

export type CaduceusConfig = z.infer<typeof configSchema>;
export type ClientConfig = z.infer<typeof clientSchema>;
export type ResourceConfig = z.infer<typeof resourceSchema>;
export type AgentApprovalConfig = z.infer<typeof agentApprovalSchema>;

/** Formats a path like clients[2].redirect_uris[0]. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)), '') || '(root)';
}

export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly code = 'ERR_CONFIG';
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** Validates a parsed configuration object; throws ConfigError listing every problem. */
export function validateConfig(raw: unknown): CaduceusConfig {
  const result = configSchema.safeParse(raw);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const path = formatPath(issue.path);
    if (issue.code === 'unrecognized_keys') {
      return `${path}: unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}; remove or fix the spelling (see docs/configuration.md)`;
    }
    return `${path}: ${issue.message}`;
  });
  throw new ConfigError(problems);
}
