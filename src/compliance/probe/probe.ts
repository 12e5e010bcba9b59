// `caduceus probe`: black-box tests of a running authorization server (ours or anyone's) from the
// outside (docs/compliance.md "Live probe checks"). Every request goes to the issuer's origin only
// (ProbeHttp refuses anything else); redirects to the client's redirect URI are read, never
// followed.
//
// Order: TLS handshakes, discovery, metadata, JWKS, error responses, authorization-endpoint
// behaviour (PKCE, redirect URI matching), and, with credentials, a real login through the HTML
// forms followed by the token checks (lifetime, claims, caching, code replay, refresh rotation
// and reuse detection). A step that cannot run is reported as CAD-PRB-021 (note) with the reason.
//
// Deliberately not done: anything that would lock out or alter real accounts beyond one login and
// one grant (no password guessing), DPoP/mTLS, PAR, dynamic registration, and certificate
// validation details beyond what Node's TLS stack checks (use --ca for a private CA).
import { createHash, randomBytes } from 'node:crypto';
import { makeReport } from '../check.js';
import { HSTS_MIN_ACCEPTED } from '../rules/hsts.js';
import type { Finding, Report, RuleDescriptor, Severity } from '../types.js';
import { driveInteraction, findConsentForm, findLoginForm, parseForms } from './html-forms.js';
import { CookieJar, headerValue, ProbeHttp, type ProbeResponse } from './http.js';
import { decodeJwtPayload, phiLookingClaims } from './jwt-claims.js';
import { PRB, PROBE_RULES } from './rules.js';
import { ANY_SUITE, CBC_SUITES, handshake, STATIC_RSA_SUITES } from './tls-handshake.js';

export interface ProbeOptions {
  issuer: string;
  clientId?: string;
  clientSecret?: string;
  redirectUri?: string;
  username?: string;
  password?: string;
  resource?: string;
  scope?: string;
  /** Extra trust anchor (PEM) for the server certificate. */
  ca?: string;
  timeoutMs?: number;
  now?: () => number;
}

export const MAX_ACCESS_TOKEN_TTL = 900;
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
const STACK_TRACE_PATTERNS: Array<[RegExp, string]> = [
  [/\n\s*at (?:async )?[\w$.<>[\] ]*\(?(?:file:\/\/|\/|[A-Za-z]:\\|node:)[^()\n]*:\d+:\d+\)?/, 'a Node.js stack frame'],
  [/Traceback \(most recent call last\)/, 'a Python traceback'],
  [/\bat [\w$.]+\([\w$]+\.(?:java|kt|scala):\d+\)/, 'a JVM stack frame'],
  [/Exception in thread "|java\.lang\.[A-Z]\w+(?:Exception|Error)/, 'a Java exception'],
  [/goroutine \d+ \[running\]/, 'a Go panic'],
  [/node_modules[\\/]/, 'a node_modules path'],
  [/(?:\/[\w.-]+)+\.(?:js|mjs|cjs|ts|py|rb|php|go|cs):\d+/, 'a source file path with a line number'],
  [/System\.[A-Z]\w+Exception:.*\n\s+at /, 'a .NET stack trace'],
];

export function stackTraceEvidence(body: string): string | undefined {
  for (const [re, what] of STACK_TRACE_PATTERNS) if (re.test(body)) return what;
  return undefined;
}

function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/** Alterations of a registered redirect URI that exact matching must refuse (RFC 9700 §4.1.3). */
export function redirectVariants(registered: string): Array<{ kind: string; uri: string }> {
  const u = new URL(registered);
  const out: Array<{ kind: string; uri: string }> = [];
  const path = new URL(u.href);
  path.pathname = `${u.pathname.replace(/\/$/, '')}/probe`;
  out.push({ kind: 'added path', uri: path.href });
  const query = new URL(u.href);
  query.searchParams.append('probe', '1');
  out.push({ kind: 'added query', uri: query.href });
  // Loopback http redirect URIs may legitimately vary the port (RFC 8252 §7.3, RFC 9700 §2.1).
  const loopback = u.protocol === 'http:' && ['127.0.0.1', '[::1]', 'localhost'].includes(u.hostname);
  if (!loopback && (u.protocol === 'https:' || u.protocol === 'http:')) {
    const port = new URL(u.href);
    port.port = String(((Number(u.port) || (u.protocol === 'https:' ? 443 : 80)) % 60000) + 1000);
    out.push({ kind: 'changed port', uri: port.href });
  }
  const caseChanged = /[a-z]/.test(u.pathname) ? registered.replace(u.pathname, u.pathname.toUpperCase()) : registered.replace(u.host, u.host.toUpperCase());
  if (caseChanged !== registered) out.push({ kind: 'changed case', uri: caseChanged });
  return out;
}

type AuthzOutcome =
  | { kind: 'rejected'; detail: string }
  | { kind: 'proceeds'; detail: string }
  | { kind: 'redirected'; location: URL; code?: string; error?: string }
  /** Sent to another origin that is not the client (e.g. an upstream identity provider): inconclusive. */
  | { kind: 'offsite'; origin: string };

interface TokenResult {
  res: ProbeResponse;
  json?: Record<string, unknown>;
}

class Probe {
  readonly findings: Finding[] = [];
  readonly #hstsChecked = new Set<string>();
  readonly http: ProbeHttp;
  readonly issuer: URL;
  metadata: Record<string, unknown> | undefined;

  constructor(readonly options: ProbeOptions) {
    this.issuer = new URL(options.issuer);
    this.http = new ProbeHttp(this.issuer.origin, { ...(options.ca !== undefined ? { ca: options.ca } : {}), ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}) });
  }

  add(rule: RuleDescriptor, severity: Severity, location: string, message: string, fix: string): void {
    this.findings.push({ ruleId: rule.id, severity, location, message, fix });
  }

  skip(step: string, why: string): void {
    this.add(PRB.coverage, 'note', this.issuer.href, `Not run: ${step.charAt(0).toLowerCase()}${step.slice(1)}, because ${why}.`, 'Provide what is missing and probe again.');
  }

  endpoint(name: string): string | undefined {
    const v = this.metadata?.[name];
    return typeof v === 'string' ? v : undefined;
  }

  /** The endpoint URL when it is on the probed origin; otherwise records why a step is skipped. */
  sameOriginEndpoint(name: string, step: string): string | undefined {
    const url = this.endpoint(name);
    if (!url) {
      this.skip(step, `the metadata has no ${name}`);
      return undefined;
    }
    if (!this.http.allowed(url)) {
      this.skip(step, `${name} ${url} is not on ${this.http.origin}, and the probe only contacts the given origin`);
      return undefined;
    }
    return url;
  }

  checkHsts(res: ProbeResponse, what: string): void {
    if (this.issuer.protocol !== 'https:') return;
    const value = headerValue(res, 'strict-transport-security');
    const maxAge = value ? Number(/max-age\s*=\s*"?(\d+)/i.exec(value)?.[1]) : undefined;
    if (this.#hstsChecked.has(what)) return;
    this.#hstsChecked.add(what);
    if (!value || maxAge === undefined || Number.isNaN(maxAge)) {
      this.add(PRB.hsts, 'error', res.url, `The ${what} response has no Strict-Transport-Security header.`, 'Send Strict-Transport-Security: max-age=63072000; includeSubDomains on every response.');
    } else if (maxAge < HSTS_MIN_ACCEPTED) {
      this.add(PRB.hsts, 'warning', res.url, `The ${what} response has HSTS max-age=${maxAge}, below ${HSTS_MIN_ACCEPTED}.`, 'Use max-age=63072000 (two years).');
    }
  }

  checkStackTrace(res: ProbeResponse, what: string): void {
    const evidence = stackTraceEvidence(res.body);
    if (evidence) {
      this.add(PRB.stackTraces, 'error', res.url, `The response to ${what} (HTTP ${res.status}) contains ${evidence}.`, 'Return RFC 6749 §5.2 errors with a generic description; log the details server-side only.');
    }
  }

  // ---- TLS ------------------------------------------------------------------------------------

  async tls(): Promise<void> {
    if (this.issuer.protocol !== 'https:') {
      this.add(PRB.plainIssuer, 'error', this.issuer.href, 'The issuer is not an https URL: authorization responses and tokens travel unencrypted.', 'Serve the authorization server over TLS 1.2+ only.');
      return;
    }
    const target = { host: this.issuer.hostname, port: Number(this.issuer.port) || 443 };
    const modern = await handshake(target, { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3', ciphers: 'DEFAULT' });
    if (!modern.ok) this.skip('A TLS 1.2/1.3 handshake', `it failed (${modern.error})`);
    for (const version of ['TLSv1', 'TLSv1.1'] as const) {
      const r = await handshake(target, { minVersion: version, maxVersion: version, ciphers: ANY_SUITE });
      if (r.ok) this.add(PRB.legacyTls, 'error', `${this.issuer.origin} (TLS)`, `The server accepts ${version === 'TLSv1' ? 'TLS 1.0' : 'TLS 1.1'} (negotiated ${r.standardName}).`, 'Allow TLS 1.2 and 1.3 only (Mozilla intermediate).');
    }
    const cbc = await handshake(target, { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', ciphers: `${CBC_SUITES.join(':')}:@SECLEVEL=0` });
    if (cbc.ok) this.add(PRB.cbcSuites, 'error', `${this.issuer.origin} (TLS)`, `The server accepts the CBC suite ${cbc.standardName} over TLS 1.2.`, 'Offer AEAD suites only (ECDHE with AES-GCM or ChaCha20-Poly1305).');
    const rsa = await handshake(target, { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', ciphers: `${STATIC_RSA_SUITES.join(':')}:@SECLEVEL=0` });
    if (rsa.ok) this.add(PRB.staticRsa, 'error', `${this.issuer.origin} (TLS)`, `The server accepts static RSA key exchange (${rsa.standardName}).`, 'Offer ECDHE suites only.');
  }

  // ---- discovery and metadata -------------------------------------------------------------------

  async discover(): Promise<boolean> {
    const base = this.issuer.href.replace(/\/$/, '');
    const path = this.issuer.pathname === '/' ? '' : this.issuer.pathname.replace(/\/$/, '');
    const candidates = [...new Set([
      `${this.issuer.origin}/.well-known/oauth-authorization-server${path}`,
      `${base}/.well-known/openid-configuration`,
    ])];
    for (const url of candidates) {
      let res: ProbeResponse;
      try {
        res = await this.http.request(url);
      } catch (err) {
        this.add(PRB.metadata, 'error', url, `The metadata could not be fetched: ${(err as Error).message}.`, 'Check the URL, the certificate (--ca for a private CA) and that the server is running.');
        return false;
      }
      this.checkHsts(res, 'metadata');
      if (res.status !== 200) continue;
      try {
        const json = JSON.parse(res.body) as unknown;
        if (json && typeof json === 'object' && !Array.isArray(json)) {
          this.metadata = json as Record<string, unknown>;
          break;
        }
      } catch {
        // not JSON: try the next location
      }
    }
    if (!this.metadata) {
      this.add(PRB.metadata, 'error', this.issuer.href, 'Neither /.well-known/oauth-authorization-server nor /.well-known/openid-configuration returned JSON metadata.', 'Publish RFC 8414 metadata.');
      return false;
    }
    if (this.metadata.issuer !== this.options.issuer) {
      this.add(PRB.metadata, 'error', this.issuer.href, `The metadata issuer ${JSON.stringify(this.metadata.issuer)} differs from the probed issuer ${this.options.issuer}.`, 'Make the issuer identical to the URL the metadata is served under (RFC 8414 §3.3).');
    }
    return true;
  }

  checkMetadata(): void {
    const m = this.metadata!;
    const list = (k: string): string[] | undefined => (Array.isArray(m[k]) ? (m[k] as unknown[]).map(String) : undefined);
    const where = `${this.issuer.href} metadata`;
    const methods = list('code_challenge_methods_supported');
    if (!methods) this.add(PRB.pkceMetadata, 'error', where, 'code_challenge_methods_supported is missing: clients cannot detect PKCE support.', 'Publish code_challenge_methods_supported: ["S256"].');
    else {
      if (!methods.includes('S256')) this.add(PRB.pkceMetadata, 'error', where, 'code_challenge_methods_supported does not include S256.', 'Support and advertise S256.');
      if (methods.includes('plain')) this.add(PRB.pkceMetadata, 'error', where, 'code_challenge_methods_supported includes plain.', 'Refuse plain and advertise S256 only.');
    }
    for (const r of (list('response_types_supported') ?? []).filter((x) => x !== 'code')) {
      this.add(PRB.legacyGrants, 'error', where, `response_types_supported includes "${r}" (tokens in the front channel).`, 'Support response_type=code only.');
    }
    for (const g of (list('grant_types_supported') ?? []).filter((x) => x === 'password' || x === 'implicit')) {
      this.add(PRB.legacyGrants, 'error', where, `grant_types_supported includes ${g}.`, `Disable the ${g} grant.`);
    }
    if (m.authorization_response_iss_parameter_supported !== true) {
      this.add(PRB.issParameter, 'warning', where, 'authorization_response_iss_parameter_supported is not true.', 'Return iss in every authorization response and advertise it (RFC 9207).');
    }
  }

  async jwks(): Promise<void> {
    const url = this.sameOriginEndpoint('jwks_uri', 'The JWKS check');
    if (!url) return;
    const res = await this.http.request(url);
    this.checkHsts(res, 'JWKS');
    let keys: unknown[] = [];
    try {
      keys = ((JSON.parse(res.body) as { keys?: unknown[] }).keys ?? []);
    } catch {
      this.skip('The JWKS check', `${url} did not return JSON (HTTP ${res.status})`);
      return;
    }
    keys.forEach((k, i) => {
      if (!k || typeof k !== 'object') return;
      const members = PRIVATE_JWK_MEMBERS.filter((m) => m in (k as object));
      if (members.length) {
        const kid = (k as { kid?: unknown }).kid;
        this.add(PRB.jwksPrivate, 'error', url, `Key ${typeof kid === 'string' ? kid : `#${i}`} in the JWKS has private members (${members.join(', ')}).`, 'Publish public keys only and rotate the exposed key immediately.');
      }
    });
  }

  async errorResponses(): Promise<void> {
    const token = this.endpoint('token_endpoint');
    const authz = this.endpoint('authorization_endpoint');
    const cases: Array<{ what: string; url: string; options: Parameters<ProbeHttp['request']>[1] }> = [];
    if (token && this.http.allowed(token)) {
      cases.push(
        { what: 'a token request with malformed percent-encoding', url: token, options: { method: 'POST', body: 'grant_type=%ZZ&code=%', headers: { 'content-type': 'application/x-www-form-urlencoded' } } },
        { what: 'a token request with a malformed JSON body', url: token, options: { method: 'POST', body: '{"grant_type":', headers: { 'content-type': 'application/json' } } },
        { what: 'a token request with an unknown grant_type', url: token, options: { form: { grant_type: 'urn:caduceus:probe:unknown' } } },
      );
    }
    if (authz && this.http.allowed(authz)) {
      cases.push({ what: 'an authorization request with malformed parameters', url: `${authz}${authz.includes('?') ? '&' : '?'}client_id=%00&response_type=%FF&redirect_uri=%`, options: {} });
    }
    cases.push({ what: 'an unknown path', url: `${this.issuer.origin}/.well-known/caduceus-probe-${randomBytes(4).toString('hex')}/%ZZ`, options: {} });
    for (const c of cases) {
      try {
        const res = await this.http.request(c.url, c.options);
        this.checkStackTrace(res, c.what);
        if (res.status >= 400) this.checkHsts(res, 'error');
      } catch (err) {
        this.skip(`The error-response check (${c.what})`, (err as Error).message);
      }
    }
  }

  // ---- authorization endpoint -----------------------------------------------------------------

  authorizeUrl(params: Record<string, string | undefined>): string {
    const url = new URL(this.endpoint('authorization_endpoint')!);
    for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, v);
    return url.href;
  }

  baseParams(redirectUri: string, challenge: { challenge?: string; method?: string }): Record<string, string | undefined> {
    return {
      response_type: 'code',
      client_id: this.options.clientId,
      redirect_uri: redirectUri,
      scope: this.options.scope ?? 'openid',
      state: randomBytes(16).toString('base64url'),
      nonce: randomBytes(16).toString('base64url'),
      code_challenge: challenge.challenge,
      code_challenge_method: challenge.method,
      resource: this.options.resource,
    };
  }

  /** Sends an authorization request and classifies what the server does with it. */
  async authorize(params: Record<string, string | undefined>, drive: boolean): Promise<AuthzOutcome & { jar: CookieJar }> {
    const jar = new CookieJar();
    const redirectUri = params.redirect_uri!;
    const toClient = (loc: string) => loc.split(/[?#]/)[0] === redirectUri.split(/[?#]/)[0];
    const isClientRedirect = (loc: string) => toClient(loc) || !this.http.allowed(loc);
    const first = await this.http.request(this.authorizeUrl(params), { headers: { accept: 'text/html' } }, jar);
    const result = await driveInteraction(this.http, jar, first, {
      isClientRedirect,
      ...(drive && this.options.username !== undefined && this.options.password !== undefined ? { username: this.options.username, password: this.options.password } : {}),
      maxSteps: drive ? 12 : 6,
    });
    const final = result.final;
    if (final.status >= 300 && final.status < 400 && final.location && !toClient(final.location) && !this.http.allowed(final.location)) {
      return { kind: 'offsite', origin: new URL(final.location).origin, jar };
    }
    if (final.status >= 300 && final.status < 400 && final.location && isClientRedirect(final.location)) {
      const location = new URL(final.location);
      const q = new URLSearchParams(location.search || location.hash.slice(1));
      return { kind: 'redirected', location, jar, ...(q.get('code') ? { code: q.get('code')! } : {}), ...(q.get('error') ? { error: q.get('error')! } : {}) };
    }
    if (final.status === 200) {
      const forms = parseForms(final.body, final.url);
      if (findLoginForm(forms) || findConsentForm(forms)) return { kind: 'proceeds', detail: `it showed a ${findLoginForm(forms) ? 'login' : 'consent'} page`, jar };
    }
    return { kind: 'rejected', detail: `HTTP ${final.status}`, jar };
  }

  async authorizationEndpoint(): Promise<{ baselineOk: boolean }> {
    const { clientId, redirectUri } = this.options;
    if (!clientId || !redirectUri) {
      this.skip('The PKCE and redirect URI checks', 'they need --client-id and --redirect-uri');
      return { baselineOk: false };
    }
    if (!this.sameOriginEndpoint('authorization_endpoint', 'The PKCE and redirect URI checks')) return { baselineOk: false };
    const pair = pkcePair();
    const baseline = await this.authorize(this.baseParams(redirectUri, { challenge: pair.challenge, method: 'S256' }), false);
    if (baseline.kind === 'offsite') {
      this.skip('The PKCE and redirect URI checks', `a correct authorization request was sent on to ${baseline.origin}, which the probe does not contact`);
      return { baselineOk: false };
    }
    if (baseline.kind === 'rejected' || (baseline.kind === 'redirected' && baseline.error)) {
      this.skip('The PKCE and redirect URI checks', `a correct authorization request was refused (${baseline.kind === 'redirected' ? `error=${baseline.error}` : baseline.detail}); check --client-id, --redirect-uri, --scope and --resource`);
      return { baselineOk: false };
    }
    const where = this.endpoint('authorization_endpoint')!;
    const weakly = async (params: Record<string, string | undefined>, step: string): Promise<string | undefined> => {
      const r = await this.authorize(params, true);
      if (r.kind === 'offsite') this.skip(step, `the server sent the request on to ${r.origin}, so the outcome is unknown`);
      if (r.kind === 'proceeds') return r.detail;
      if (r.kind === 'redirected' && r.code) return 'it issued an authorization code';
      return undefined;
    };
    const noPkce = await weakly(this.baseParams(redirectUri, {}), 'The request-without-PKCE check');
    if (noPkce) this.add(PRB.noPkce, 'error', where, `An authorization request without code_challenge was accepted: ${noPkce}.`, 'Refuse authorization requests without an S256 code_challenge (invalid_request).');
    const plain = pkcePair();
    const plainAccepted = await weakly(this.baseParams(redirectUri, { challenge: plain.verifier, method: 'plain' }), 'The plain-PKCE check');
    if (plainAccepted) this.add(PRB.plainPkce, 'error', where, `An authorization request with code_challenge_method=plain was accepted: ${plainAccepted}.`, 'Refuse plain (invalid_request); accept S256 only.');
    for (const variant of redirectVariants(redirectUri)) {
      const r = await this.authorize(this.baseParams(variant.uri, { challenge: pair.challenge, method: 'S256' }), false);
      let how: string | undefined;
      if (r.kind === 'offsite') this.skip(`The redirect URI check (${variant.kind})`, `the server sent the request on to ${r.origin}, so the outcome is unknown`);
      if (r.kind === 'proceeds') how = r.detail;
      else if (r.kind === 'redirected') how = `it redirected to the altered URI${r.error ? ` (with error=${r.error}: an open redirector)` : ''}`;
      if (how) this.add(PRB.redirectVariants, 'error', where, `The redirect URI with ${variant.kind} (${variant.uri}) was accepted: ${how}.`, 'Compare redirect URIs by exact string match (RFC 9700 §4.1.3) and show an error page on mismatch.');
    }
    return { baselineOk: true };
  }

  // ---- token endpoint, with credentials -------------------------------------------------------

  clientAuth(form: Record<string, string>): { headers: Record<string, string>; form: Record<string, string> } {
    const { clientId, clientSecret } = this.options;
    if (clientSecret !== undefined) {
      const basic = Buffer.from(`${encodeURIComponent(clientId!)}:${encodeURIComponent(clientSecret)}`).toString('base64');
      return { headers: { authorization: `Basic ${basic}` }, form };
    }
    return { headers: {}, form: { ...form, client_id: clientId! } };
  }

  async tokenRequest(form: Record<string, string>): Promise<TokenResult> {
    const auth = this.clientAuth(form);
    const res = await this.http.request(this.endpoint('token_endpoint')!, { form: auth.form, headers: { ...auth.headers, accept: 'application/json' } });
    let json: Record<string, unknown> | undefined;
    try {
      const parsed = JSON.parse(res.body) as unknown;
      if (parsed && typeof parsed === 'object') json = parsed as Record<string, unknown>;
    } catch {
      // not JSON
    }
    return { res, ...(json ? { json } : {}) };
  }

  issued(t: TokenResult): boolean {
    return t.res.status === 200 && typeof t.json?.access_token === 'string';
  }

  inspectTokenResponse(t: TokenResult, what: string): void {
    const url = t.res.url;
    const cache = headerValue(t.res, 'cache-control') ?? '';
    if (!/no-store/i.test(cache)) {
      this.add(PRB.tokenCaching, 'error', url, `The ${what} token response has ${cache ? `Cache-Control: ${cache}` : 'no Cache-Control header'}.`, 'Send Cache-Control: no-store and Pragma: no-cache with every token response.');
    }
    this.checkHsts(t.res, 'token');
    this.checkStackTrace(t.res, `the ${what} token request`);
    const expiresIn = Number(t.json?.expires_in);
    if (Number.isFinite(expiresIn) && expiresIn > MAX_ACCESS_TOKEN_TTL) {
      this.add(PRB.tokenLifetime, 'error', url, `The ${what} access token lives ${expiresIn} s (expires_in).`, `Issue access tokens for at most ${MAX_ACCESS_TOKEN_TTL} s and use refresh tokens.`);
    }
    for (const kind of ['access_token', 'id_token'] as const) {
      const token = t.json?.[kind];
      if (typeof token !== 'string') continue;
      const payload = decodeJwtPayload(token);
      if (!payload) continue;
      if (kind === 'access_token' && typeof payload.exp === 'number' && typeof payload.iat === 'number' && payload.exp - payload.iat > MAX_ACCESS_TOKEN_TTL
        && !(Number.isFinite(expiresIn) && expiresIn > MAX_ACCESS_TOKEN_TTL)) {
        this.add(PRB.tokenLifetime, 'error', url, `The ${what} access token is valid for ${payload.exp - payload.iat} s (exp - iat).`, `Issue access tokens for at most ${MAX_ACCESS_TOKEN_TTL} s.`);
      }
      const phi = phiLookingClaims(payload);
      if (phi.length) {
        this.add(PRB.phiClaims, 'error', url, `The ${kind.replace('_', ' ')} carries PHI-looking claims: ${phi.join(', ')}.`, 'Keep tokens to identifiers (sub, patient id, fhirUser reference); serve demographics from the FHIR API under its own access control.');
      }
    }
  }

  async credentialedFlow(): Promise<void> {
    const { clientId, redirectUri, username, password } = this.options;
    if (!clientId || !redirectUri || username === undefined || password === undefined) {
      this.skip('The login, token, code-replay and refresh checks', 'they need --client-id, --redirect-uri, --username and --password (and --client-secret for a confidential client)');
      return;
    }
    if (!this.sameOriginEndpoint('authorization_endpoint', 'The login flow') || !this.sameOriginEndpoint('token_endpoint', 'The token checks')) return;
    const pair = pkcePair();
    const params = this.baseParams(redirectUri, { challenge: pair.challenge, method: 'S256' });
    const r = await this.authorize(params, true);
    if (r.kind !== 'redirected' || !r.code) {
      const why = r.kind === 'redirected' ? `the server redirected with error=${r.error ?? '(none)'}`
        : r.kind === 'offsite' ? `the login continues at ${r.origin}, which the probe does not contact` : `the flow stopped: ${r.detail}`;
      this.skip('The login, token, code-replay and refresh checks', `the login through the HTML forms did not yield a code (${why}); check the credentials, --scope and --resource`);
      return;
    }
    const iss = new URLSearchParams(r.location.search).get('iss');
    if (iss === null) this.add(PRB.issParameter, 'warning', this.endpoint('authorization_endpoint')!, 'The authorization response has no iss parameter.', 'Add iss to every authorization response (RFC 9207).');
    else if (iss !== this.options.issuer) this.add(PRB.issParameter, 'error', this.endpoint('authorization_endpoint')!, `The authorization response has iss=${iss}, not the issuer.`, 'Send the exact issuer identifier as iss.');

    const form: Record<string, string> = { grant_type: 'authorization_code', code: r.code, redirect_uri: redirectUri, code_verifier: pair.verifier };
    if (this.options.resource) form.resource = this.options.resource;
    const first = await this.tokenRequest(form);
    if (!this.issued(first)) {
      this.skip('The token, code-replay and refresh checks', `the code exchange failed (HTTP ${first.res.status}${typeof first.json?.error === 'string' ? `, error=${first.json.error}` : ''}); check --client-secret`);
      return;
    }
    this.inspectTokenResponse(first, 'authorization_code');

    // Refresh checks first: a correct server revokes the whole grant when the code is replayed
    // (RFC 9700 §4.2.4), which would end the refresh token family before it could be tested.
    await this.refreshChecks(first);
    // Checked last: a replayed code may revoke the grant.
    const replay = await this.tokenRequest(form);
    if (this.issued(replay)) {
      this.add(PRB.codeReplay, 'error', replay.res.url, 'The same authorization code was exchanged twice and both times tokens were issued.', 'Consume codes atomically on first use and revoke the grant when one is replayed (RFC 9700 §4.2.4).');
    }
  }

  async refreshChecks(first: TokenResult): Promise<void> {
    const rt1 = first.json?.refresh_token;
    if (typeof rt1 !== 'string') {
      this.skip('The refresh rotation and reuse checks', 'no refresh token was issued (ask for offline_access with --scope)');
      return;
    }
    const extra: Record<string, string> = this.options.resource ? { resource: this.options.resource } : {};
    const second = await this.tokenRequest({ grant_type: 'refresh_token', refresh_token: rt1, ...extra });
    if (!this.issued(second)) {
      this.skip('The refresh rotation and reuse checks', `the refresh request failed (HTTP ${second.res.status}${typeof second.json?.error === 'string' ? `, error=${second.json.error}` : ''})`);
      return;
    }
    this.inspectTokenResponse(second, 'refresh_token');
    const rt2 = second.json?.refresh_token;
    if (typeof rt2 !== 'string' || rt2 === rt1) {
      this.add(PRB.refreshRotation, 'warning', second.res.url, typeof rt2 === 'string' ? 'The refresh response returned the same refresh token.' : 'The refresh response returned no new refresh token, so the old one stays in use.', 'Rotate refresh tokens on every use (or sender-constrain them with DPoP or mTLS).');
      this.skip('The refresh reuse check', 'refresh tokens are not rotated, so there is no old token to reuse');
      return;
    }
    const reuse = await this.tokenRequest({ grant_type: 'refresh_token', refresh_token: rt1, ...extra });
    if (this.issued(reuse)) {
      this.add(PRB.refreshReuse, 'error', reuse.res.url, 'A rotated-out refresh token was accepted again.', 'Refuse a refresh token once it was used, and revoke its family (RFC 9700 §4.14.2).');
      return;
    }
    const after = await this.tokenRequest({ grant_type: 'refresh_token', refresh_token: rt2, ...extra });
    if (this.issued(after)) {
      this.add(PRB.refreshReuse, 'warning', after.res.url, 'After a rotated-out refresh token was replayed, the newest refresh token of the family still worked.', 'Revoke the whole token family when a used refresh token is presented again.');
    }
  }
}

export interface ProbeRun {
  report: Report;
  /** Every URL the probe requested (all on the issuer's origin). */
  requested: string[];
}

export async function runProbe(options: ProbeOptions): Promise<ProbeRun> {
  const now = options.now ?? Date.now;
  const probe = new Probe(options);
  const steps: Array<[string, () => Promise<unknown>]> = [
    ['The TLS checks', () => probe.tls()],
  ];
  for (const [step, fn] of steps) {
    try {
      await fn();
    } catch (err) {
      probe.skip(step, `it failed: ${(err as Error).message}`);
    }
  }
  let discovered = false;
  try {
    discovered = await probe.discover();
  } catch (err) {
    probe.add(PRB.metadata, 'error', probe.issuer.href, `The metadata could not be fetched: ${(err as Error).message}.`, 'Check the URL and the certificate (--ca).');
  }
  if (discovered) {
    probe.checkMetadata();
    const later: Array<[string, () => Promise<unknown>]> = [
      ['The JWKS check', () => probe.jwks()],
      ['The error-response checks', () => probe.errorResponses()],
      ['The PKCE and redirect URI checks', () => probe.authorizationEndpoint()],
      ['The login and token checks', () => probe.credentialedFlow()],
    ];
    for (const [step, fn] of later) {
      try {
        await fn();
      } catch (err) {
        probe.skip(step, `it failed: ${(err as Error).message}`);
      }
    }
  }
  return { report: makeReport('probe', options.issuer, PROBE_RULES, probe.findings, now()), requested: [...probe.http.requested] };
}

