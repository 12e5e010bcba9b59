// The gateway's configuration (`gateway:` in the YAML): routes that put a PHI API behind token
// verification, SMART scope / patient-compartment policy, header allow-listing and the audit
// ledger. Same conventions as schema.ts: strict objects (unknown keys refused),
// defaults next to their validation, messages that name the fix.
import { z } from 'zod';
// Type-only import: schema.ts imports this module to add the `gateway` key, and a runtime import
// back would be a cycle.
import type { CaduceusConfig } from './schema.js';
import { tryParseSmartScope } from '../smart/scopes.js';

/** RFC 9700 §4.13: only these request headers reach an upstream unless configured. */
export const DEFAULT_FORWARD_HEADERS = ['accept', 'content-type', 'if-match', 'if-none-match', 'prefer'] as const;

/**
 * Never forwarded, whatever the configuration says: credentials (the bearer token, cookies),
 * hop-by-hop and framing headers (RFC 9110 §7.6.1; undici sets its own), and client-supplied
 * proxy/identity headers that an upstream might believe.
 */
export const NEVER_FORWARDED_HEADERS: ReadonlySet<string> = new Set([
  'authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'host', 'connection', 'keep-alive', 'proxy-connection',
  'te', 'trailer', 'transfer-encoding', 'upgrade', 'content-length', 'expect', 'forwarded', 'x-forwarded-for',
  'x-forwarded-host', 'x-forwarded-proto', 'x-forwarded-port', 'x-real-ip', 'x-client-ip', 'true-client-ip', 'dpop',
]);

/**
 * First path segments the server itself serves: a gateway prefix may not be one of them or start
 * with one (its routes would clash with the server's own).
 */
export const RESERVED_PREFIX_SEGMENTS: ReadonlySet<string> = new Set([
  'authorize', 'token', 'introspect', 'revoke', 'userinfo', 'jwks', '.well-known', 'interaction', 'account', 'static',
  'healthz', 'readyz', 'metrics', 'par', 'register', 'logout', 'login', 'audit', 'demo', 'admin',
]);

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);
const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;
const PREFIX = /^(\/[A-Za-z0-9._~-]+)+$/;
const RULE_PATH = /^\/$|^(\/([A-Za-z0-9._~$-]+|:[A-Za-z_][A-Za-z0-9_]*))+$/;
const MASK_PATH = /^[A-Z][A-Za-z]{0,63}(\.[a-z][A-Za-z0-9]{0,63})+$/;

const upstreamUrl = z.string().superRefine((v, ctx) => {
  if (!URL.canParse(v)) return void ctx.addIssue({ code: 'custom', message: 'must be an absolute http(s) URL' });
  const u = new URL(v);
  if (u.protocol !== 'https:' && u.protocol !== 'http:') ctx.addIssue({ code: 'custom', message: 'must use https (or http to a loopback address)' });
  else if (u.protocol === 'http:' && !LOOPBACK_HOSTS.has(u.hostname)) {
    // The identity headers travel to the upstream: plain HTTP only on the same host.
    ctx.addIssue({ code: 'custom', message: 'plain http is only allowed to a loopback upstream (127.0.0.1, localhost or [::1]); use https' });
  }
  if (u.username || u.password) ctx.addIssue({ code: 'custom', message: 'must not carry credentials' });
  if (u.search || u.hash) ctx.addIssue({ code: 'custom', message: 'must not have a query or fragment' });
});

const absoluteUrl = z.string().refine((v) => URL.canParse(v) && /^https?:$/.test(new URL(v).protocol), { message: 'must be an absolute http(s) URL' });

const scopeString = z.string().min(1).refine((s) => tryParseSmartScope(s) !== undefined, { message: 'is not a valid scope (RFC 6749 §3.3 characters; SMART scopes as level/Type.cruds)' });

export const maskSchema = z.strictObject({
  /** A FHIR element path, e.g. Patient.identifier or Patient.contact.telecom. */
  path: z.string().regex(MASK_PATH, { message: 'must be a FHIR element path such as Patient.identifier' }),
  /** The element is kept only for tokens carrying exactly this scope; without it, it is always removed. */
  unless_scope: scopeString.optional(),
});

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

export const ruleSchema = z.strictObject({
  method: z.enum(METHODS),
  /** Literal segments and :params, e.g. /patients/:patient/notes. */
  path: z.string().regex(RULE_PATH, { message: 'must be /segment/… with literal segments or :params' }),
  /** Any one of these scopes authorises the rule (a SMART scope also matches a broader granted one). */
  scopes: z.array(scopeString).min(1),
  /** The :param holding the patient's FHIR id; needed for patient/ scopes to reach this rule. */
  patient_param: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).optional(),
}).superRefine((r, ctx) => {
  if (r.patient_param && !r.path.split('/').includes(`:${r.patient_param}`)) {
    ctx.addIssue({ code: 'custom', path: ['patient_param'], message: `names no :${r.patient_param} in the path` });
  }
});

export const identitySchema = z.strictObject({
  header_prefix: z.string().regex(/^x-[a-z0-9-]*-$/, { message: 'must be lower-case, start with x- and end with -, e.g. x-caduceus-' }).default('x-caduceus-'),
  /** HMAC-SHA-256 over the identity headers (see src/gateway/identity.ts) so the upstream can check them. */
  sign: z.boolean().default(false),
});

export const routeSchema = z.strictObject({
  /** Path prefix on this server, e.g. /fhir (no trailing slash). */
  prefix: z.string().regex(PREFIX, { message: 'must be /segment[/segment…] without a trailing slash' }),
  upstream: upstreamUrl,
  /** The resource (RFC 8707) access tokens must name in `aud`; must be declared under resources. */
  audience: absoluteUrl,
  /** The base URL clients use (links, Location headers); default: the audience. */
  public_base_url: absoluteUrl.optional(),
  type: z.enum(['fhir', 'http']),
  /** FHIR: GET {prefix}/metadata without a token (default true for fhir routes). */
  public_metadata: z.boolean().optional(),
  forward_headers: z.array(z.string().transform((h) => h.toLowerCase()).pipe(z.string().regex(HEADER_NAME, { message: 'is not an HTTP header name' }))).default([...DEFAULT_FORWARD_HEADERS]),
  mask: z.array(maskSchema).default([]),
  rules: z.array(ruleSchema).default([]),
  identity: identitySchema.default({ header_prefix: 'x-caduceus-', sign: false }),
  timeout_ms: z.number().int().min(100).max(120_000).default(30_000),
  body_limit_bytes: z.number().int().min(1024).max(16 * 1024 * 1024).default(1024 * 1024),
  response_limit_bytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(16 * 1024 * 1024),
}).superRefine((r, ctx) => {
  const first = r.prefix.split('/')[1] ?? '';
  if (RESERVED_PREFIX_SEGMENTS.has(first)) {
    ctx.addIssue({ code: 'custom', path: ['prefix'], message: `/${first} is served by the authorization server itself${r.prefix === `/${first}` ? '' : ` (prefix ${r.prefix} starts with it)`}; choose another prefix, e.g. /fhir or /api` });
  }
  r.forward_headers.forEach((h, i) => {
    if (NEVER_FORWARDED_HEADERS.has(h)) ctx.addIssue({ code: 'custom', path: ['forward_headers', i], message: `${h} is never forwarded (credentials, hop-by-hop or proxy header)` });
    if (h.startsWith(r.identity.header_prefix)) ctx.addIssue({ code: 'custom', path: ['forward_headers', i], message: `${h} would let a caller forge the identity headers (${r.identity.header_prefix}*)` });
  });
  if (r.type === 'http') {
    if (r.rules.length === 0) ctx.addIssue({ code: 'custom', path: ['rules'], message: 'an http route needs at least one rule (everything else is denied)' });
    if (r.mask.length) ctx.addIssue({ code: 'custom', path: ['mask'], message: 'masking applies to fhir routes only' });
    if (r.public_metadata) ctx.addIssue({ code: 'custom', path: ['public_metadata'], message: 'applies to fhir routes only' });
  } else if (r.rules.length) {
    ctx.addIssue({ code: 'custom', path: ['rules'], message: 'fhir routes derive their policy from SMART scopes; rules are for http routes' });
  }
}).transform((r) => ({ ...r, public_metadata: r.public_metadata ?? r.type === 'fhir' }));

export const gatewayConfigSchema = z.strictObject({
  /**
   * How long a token's revocation status is cached. A revoked token stops working within this
   * bound (FAPI 2.0 resource servers: "revocation status"); no entry outlives its token either.
   */
  introspection_cache_seconds: z.number().int().min(0).max(300, { message: 'must be at most 300 seconds' }).default(30),
  /** Most token statuses cached at once (oldest evicted first). */
  introspection_cache_entries: z.number().int().min(1).max(1_000_000).default(10_000),
  routes: z.array(routeSchema).default([]),
}).superRefine((g, ctx) => {
  g.routes.forEach((r, i) => {
    g.routes.forEach((o, j) => {
      if (j < i && (o.prefix === r.prefix || r.prefix.startsWith(`${o.prefix}/`) || o.prefix.startsWith(`${r.prefix}/`))) {
        ctx.addIssue({ code: 'custom', path: ['routes', i, 'prefix'], message: `overlaps routes[${j}].prefix ${o.prefix}` });
      }
    });
  });
});

export type GatewayConfig = z.output<typeof gatewayConfigSchema>;
export type GatewayConfigInput = z.input<typeof gatewayConfigSchema>;
export type GatewayRoute = GatewayConfig['routes'][number];
export type GatewayRule = GatewayRoute['rules'][number];
export type MaskRule = GatewayRoute['mask'][number];

/** Parses a gateway configuration; throws a ConfigError-style message listing every problem with its path. */
export function parseGatewayConfig(raw: unknown, pathPrefix = 'gateway'): GatewayConfig {
  const result = gatewayConfigSchema.safeParse(raw);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const path = formatPath([pathPrefix, ...issue.path]);
    if (issue.code === 'unrecognized_keys') return `${path}: unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}; remove or fix the spelling`;
    return `${path}: ${issue.message}`;
  });
  throw new GatewayConfigError(problems);
}

/** Same format as src/config/schema.ts formatPath: routes[2].forward_headers[0]. */
function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)), '') || '(root)';
}

export interface GatewayConfigIssue {
  /** Path from the root of the server configuration, e.g. ['gateway', 'routes', 0, 'audience']. */
  path: Array<string | number>;
  message: string;
}

/**
 * Cross-checks against the server configuration: every route audience must be a declared
 * resource (tokens are only issued for declared resources). For the main schema's superRefine:
 *   for (const i of gatewayConfigIssues(c.gateway, c)) ctx.addIssue({ code: 'custom', ...i });
 */
export function gatewayConfigIssues(gateway: GatewayConfig, config: Pick<CaduceusConfig, 'resources'>): GatewayConfigIssue[] {
  const declared = new Set(config.resources.map((r) => r.uri));
  return gateway.routes.flatMap((r, i) => (declared.has(r.audience) ? [] : [{ path: ['gateway', 'routes', i, 'audience'], message: `"${r.audience}" is not declared under resources` }]));
}

/** gatewayConfigIssues as "path: message" lines. */
export function gatewayConfigProblems(gateway: GatewayConfig, config: Pick<CaduceusConfig, 'resources'>): string[] {
  return gatewayConfigIssues(gateway, config).map((i) => `${formatPath(i.path)}: ${i.message}`);
}

export class GatewayConfigError extends Error {
  override name = 'GatewayConfigError';
  readonly code = 'ERR_CONFIG';
  constructor(readonly problems: string[]) {
    super(`invalid gateway configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}
