// The one error catalogue and the one serializer (src/errors/): the same error written as OAuth
// JSON (RFC 6749 §5.2), a FHIR OperationOutcome, an HTML page, with its RFC 6750 / RFC 9449
// challenge; only exposed errors are told, 5xx become a generic server_error except 503
// temporarily_unavailable (with Retry-After); every failure is one structured log line with the
// request id, the route, the error's class and code, and nothing of the request.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, test } from 'vitest';
import { ERROR_STATUS, OAUTH_ERROR_STATUS } from '../../src/errors/catalogue.js';
import { InternalError } from '../../src/errors/internal-error.js';
import { OAuthError } from '../../src/errors/oauth-error.js';
import { serializeError, type ErrorLogger, type SerializeOptions } from '../../src/errors/serializer.js';
import { ClientAuthError, CLIENT_AUTH_CHALLENGE } from '../../src/oauth/client-auth/client-auth-error.js';
import { DpopError } from '../../src/oauth/dpop/errors.js';
import { DpopResourceError } from '../../src/oauth/dpop/resource.js';
import { ResourceAccessError } from '../../src/oauth/resource-server/errors.js';
import { GatewayDenial } from '../../src/gateway/errors.js';
import { CryptoError } from '../../src/crypto/errors.js';
import { AuditError } from '../../src/audit/errors.js';

type Line = { level: string; msg: string; fields: Record<string, unknown> };

function capture(): { logger: ErrorLogger; lines: Line[] } {
  const lines: Line[] = [];
  return { lines, logger: { log: (level, msg, fields) => void lines.push({ level, msg, fields: { ...fields } }) } };
}

const page = (title: string, message: string) => `<title>${title}</title><p>${message}</p>`;
const serialize = (err: unknown, options: Partial<SerializeOptions> = {}) => serializeError(err, { format: 'json', page, ...options });

describe('the error catalogue', () => {
  test('holds the OAuth codes of RFC 6749, 6750, 7009, 7591, 8707, 9449 and OpenID Connect with their default status', () => {
    expect(OAUTH_ERROR_STATUS).toMatchObject({
      invalid_request: 400, invalid_client: 401, invalid_grant: 400, unauthorized_client: 400, unsupported_grant_type: 400, invalid_scope: 400,
      access_denied: 403, server_error: 500, temporarily_unavailable: 503, unsupported_token_type: 400, invalid_target: 400,
      invalid_token: 401, insufficient_scope: 403, invalid_dpop_proof: 400, use_dpop_nonce: 400, login_required: 400,
    });
    expect(ERROR_STATUS).toMatchObject({ not_found: 404, bad_gateway: 502 });
  });

  test('the DPoP codes are catalogue codes: a DpopError is an OAuthError with its own code, no cast', () => {
    const err = new DpopError('use_dpop_nonce', 'a DPoP nonce is required', undefined, 'n-1');
    expect(err).toBeInstanceOf(OAuthError);
    expect([err.error, err.status]).toEqual(['use_dpop_nonce', 400]);
  });

  test('coded internal errors share one base and keep their class names', () => {
    for (const err of [new CryptoError('ERR_CRYPTO', 'sealed value failed'), new AuditError('ERR_NOTE_KEY', 'bad key'), new InternalError('ERR_CLAIM_NOT_ALLOWED', 'x')]) {
      expect(err).toBeInstanceOf(InternalError);
      expect(err.message).not.toMatch(/ERR_/);
    }
    expect(new CryptoError('ERR_CRYPTO', 'x').name).toBe('CryptoError');
  });
});

describe('the one serializer', () => {
  test('an exposed OAuth error is told as it is, as RFC 6749 §5.2 JSON with no-store', () => {
    const out = serialize(new OAuthError('invalid_grant', 'the code has expired', 'code row 12 consumed'));
    expect(out.status).toBe(400);
    expect(out.contentType).toBe('application/json; charset=utf-8');
    expect(JSON.parse(out.body)).toEqual({ error: 'invalid_grant', error_description: 'the code has expired' });
    expect(out.body).not.toContain('row 12');
    expect(out.headers).toMatchObject({ 'cache-control': 'no-store', pragma: 'no-cache' });
  });

  test('the same error as a FHIR OperationOutcome and as an HTML page', () => {
    const err = new ResourceAccessError('insufficient_scope', 'the access token does not carry a scope that allows this request', 'ERR_INSUFFICIENT_SCOPE', { requiredScope: 'patient/Condition.r' });
    const fhir = serialize(err, { format: 'fhir', resource: { realm: 'https://as.example/fhir' } });
    expect(fhir.status).toBe(403);
    expect(fhir.contentType).toBe('application/fhir+json; charset=utf-8');
    expect(JSON.parse(fhir.body)).toEqual({
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code: 'forbidden', details: { text: 'the access token does not carry a scope that allows this request' }, diagnostics: 'insufficient_scope' }],
    });
    expect(fhir.headers['www-authenticate']).toBe('Bearer realm="https://as.example/fhir", error="insufficient_scope", error_description="the access token does not carry a scope that allows this request", scope="patient/Condition.r"');
    const html = serialize(err, { format: 'html' });
    expect(html.contentType).toBe('text/html; charset=utf-8');
    expect(html.body).toBe('<title>Request failed</title><p>the access token does not carry a scope that allows this request</p>');
  });

  test('errors that carry headers add them: Basic for client authentication, DPoP challenge and DPoP-Nonce', () => {
    expect(serialize(new ClientAuthError(new OAuthError('invalid_client', 'client authentication failed'), CLIENT_AUTH_CHALLENGE)).headers['www-authenticate']).toBe('Basic realm="caduceus"');
    expect(serialize(new DpopError('use_dpop_nonce', 'a DPoP nonce is required', undefined, 'n-1')).headers['dpop-nonce']).toBe('n-1');
    const resource = serialize(new DpopResourceError('use_dpop_nonce', 'a DPoP nonce is required', 'n-2'), { resource: { realm: 'r', resourceMetadata: 'https://as.example/.well-known/oauth-protected-resource/fhir' } });
    expect(resource.status).toBe(401);
    expect(resource.headers).toMatchObject({
      'dpop-nonce': 'n-2',
      'www-authenticate': 'DPoP error="use_dpop_nonce", error_description="a DPoP nonce is required", algs="ES256 ES384 PS256 EdDSA RS256", resource_metadata="https://as.example/.well-known/oauth-protected-resource/fhir"',
    });
  });

  test('an unexpected failure is a generic 500 server_error, logged once with the request id, route, class and code only', () => {
    const { logger, lines } = capture();
    const err = Object.assign(new TypeError('cannot read secret-value of undefined for patient Jane'), { code: 'ERR_SOMETHING' });
    for (const format of ['json', 'fhir', 'html'] as const) {
      const out = serialize(err, { format, log: { logger, requestId: 'req-1', route: '/token' } });
      expect(out.status).toBe(500);
      expect(out.body).toContain('the server could not complete the request');
      expect(out.body).not.toMatch(/secret|Jane|TypeError/);
    }
    expect(lines).toHaveLength(3);
    expect(lines[0]).toEqual({ level: 'error', msg: 'request failed', fields: { requestId: 'req-1', route: '/token', error: 'TypeError', code: 'ERR_SOMETHING' } });
    expect(JSON.stringify(lines)).not.toMatch(/secret|Jane/);
  });

  test('an OAuth error that is not exposed (5xx) is told as a generic server_error and logged with its code, or its cause\'s', () => {
    const { logger, lines } = capture();
    const out = serialize(new OAuthError('server_error', 'the audit reader is missing', 'detail', 500), { log: { logger, requestId: 'r', route: null } });
    expect(JSON.parse(out.body)).toEqual({ error: 'server_error', error_description: 'the server could not complete the request' });
    const wrapped = new GatewayDenial('server_error', 'the gateway could not complete the request', 'ERR_GATEWAY_INTERNAL', { cause: new RangeError('x') });
    const gateway = serialize(wrapped, { format: 'fhir', log: { logger, requestId: 'r2', route: '/fhir/*', component: 'gateway' } });
    expect(JSON.parse(gateway.body).issue[0]).toMatchObject({ code: 'exception', diagnostics: 'server_error', details: { text: 'the server could not complete the request' } });
    expect(lines.map((l) => l.fields)).toEqual([
      { requestId: 'r', route: null, error: 'OAuthError', code: 'server_error' },
      { component: 'gateway', requestId: 'r2', route: '/fhir/*', error: 'RangeError', code: undefined },
    ]);
  });

  test('storage, cache or ledger out of reach is 503 temporarily_unavailable with Retry-After, and one warn line with the failing code', () => {
    const { logger, lines } = capture();
    const down = new Error('query failed', { cause: new InternalError('ERR_STORAGE_UNAVAILABLE', 'the database cannot be reached') });
    const out = serialize(down, { format: 'html', log: { logger, requestId: 'r', route: '/authorize' } });
    expect(out.status).toBe(503);
    expect(out.headers['retry-after']).toBe('5');
    expect(out.body).toBe('<title>Temporarily unavailable</title><p>the service cannot record this request right now; try again later</p>');
    expect(lines).toEqual([{ level: 'warn', msg: 'unavailable', fields: { requestId: 'r', route: '/authorize', error: 'Error', code: 'ERR_STORAGE_UNAVAILABLE' } }]);
    // A refusal that is itself 503 temporarily_unavailable keeps its own description.
    const status = serialize(new ResourceAccessError('temporarily_unavailable', 'the token status cannot be checked right now; try again later', 'ERR_STATUS_UNAVAILABLE'));
    expect([status.status, status.headers['retry-after'], JSON.parse(status.body).error_description]).toEqual([503, '5', 'the token status cannot be checked right now; try again later']);
  });

  test('a request Fastify could not read is 400 invalid_request, and 413 closes the connection', () => {
    const tooLarge = serialize(Object.assign(new Error('Request body is too large'), { statusCode: 413, code: 'FST_ERR_CTP_BODY_TOO_LARGE' }));
    expect([tooLarge.status, JSON.parse(tooLarge.body).error, tooLarge.headers.connection]).toEqual([413, 'invalid_request', 'close']);
    const unreadable = serialize(Object.assign(new Error('Unexpected token } in JSON at position 7'), { statusCode: 400 }));
    expect(JSON.parse(unreadable.body)).toEqual({ error: 'invalid_request', error_description: 'the request could not be read' });
  });

  test('the gateway\'s 502 bad_gateway is a decision told as it is; other 5xx are not', () => {
    const out = serialize(new GatewayDenial('bad_gateway', 'the upstream server is not reachable', 'ERR_UPSTREAM_UNAVAILABLE'), { format: 'fhir' });
    expect(out.status).toBe(502);
    expect(JSON.parse(out.body).issue[0]).toMatchObject({ code: 'transient', diagnostics: 'bad_gateway', details: { text: 'the upstream server is not reachable' } });
  });
});

describe('the sources keep to the catalogue', () => {
  const root = join(import.meta.dirname, '../../src');
  const files = (dir: string): string[] => readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : [];
  });
  const sources = files(root).map((path) => ({ path: relative(root, path), text: readFileSync(path, 'utf8') }));

  test('no error carries its code inside its message text', () => {
    const offenders = sources.filter((f) => /new \w*Error\(\s*[`'"]ERR_[A-Z_]+:/.test(f.text)).map((f) => f.path);
    expect(offenders).toEqual([]);
  });

  test('no error line is written to stderr by hand: the structured logger writes them', () => {
    const offenders = sources.filter((f) => f.text.includes('process.stderr.write') && !['ops/logging.ts', 'cli/main.ts'].includes(f.path)).map((f) => f.path);
    expect(offenders).toEqual([]);
  });
});
