// The one error serializer: from anything a route throws to what the client receives, in the
// format the route speaks — OAuth JSON (RFC 6749 §5.2: `error`, `error_description`), a FHIR
// OperationOutcome (the PHI gateway's fhir routes), or an HTML error page (browsers) — with the
// headers the error carries: WWW-Authenticate (RFC 6750 §3, RFC 9449 §7.1, RFC 6749 §5.2 Basic,
// through OAuthError.headers and challenge.ts), DPoP-Nonce (RFC 9449 §8, §9), Retry-After
// (RFC 9110 §10.2.3), and Cache-Control: no-store with Pragma: no-cache (RFC 6749 §5.1).
//
// The rules, in order:
//   1. Storage, the cache or the ledger out of reach (isUnavailable) is 503
//      temporarily_unavailable with Retry-After, never a 500 and never a success; one `warn` line.
//   2. An OAuthError (any subclass) is told as it is when it is exposed: 4xx, and 503
//      temporarily_unavailable (a subclass may expose more: the gateway's 502 bad_gateway).
//   3. A request Fastify could not read is 400 invalid_request (413 for a body over the limit,
//      which also closes the connection: its unread rest makes it unusable).
//   4. Anything else, and every OAuthError that is not exposed, is a generic 500 server_error
//      whose description says nothing of the failure; one `error` line.
// A log line goes to the structured logger it is given (ctx.ops.logger) and holds the request id,
// the route pattern, the error's class name and its code only: never its message, never request
// data. CADUCEUS_DEBUG_ERRORS additionally prints an unexpected error with its stack to stderr
// (development only; never to the client).
import type { ErrorCode } from './catalogue.js';
import type { ResourceChallengeParams } from './challenge.js';
import { isUnavailable, UNAVAILABLE_RETRY_AFTER_SECONDS } from './internal-error.js';
import { OAuthError, temporarilyUnavailable } from './oauth-error.js';

export type ErrorFormat = 'json' | 'fhir' | 'html';

/** The narrow shape of the structured logger (src/ops/logging.ts) this module writes to. */
export interface ErrorLogger {
  log(level: 'warn' | 'error', msg: string, fields: Readonly<Record<string, string | number | boolean | null | undefined>>): void;
}

/** The request an error is about, for its log line. */
export interface ErrorLogContext {
  logger: ErrorLogger;
  requestId: string;
  /** The route pattern, never the URL. */
  route: string | null;
  /** The part of the server that answered, when it is not the application's own routes (e.g. gateway). */
  component?: string;
}

export interface SerializeOptions {
  format: ErrorFormat;
  /** What the protected resource answering adds to its challenges (realm, scope, resource_metadata). */
  resource?: ResourceChallengeParams;
  /** The HTML page frame (errorPage of src/http/html.ts, a layer above); required for `html`. */
  page?: (title: string, message: string) => string;
  /** Where the line about an unavailable or unexpected failure goes. Without it, nothing is logged. */
  log?: ErrorLogContext;
}

export interface SerializedError {
  status: number;
  /** Lower-case names. */
  headers: Record<string, string>;
  contentType: string;
  body: string;
  /** The error as the client is told it (after the rules above). */
  told: OAuthError;
}

const SERVER_ERROR_DESCRIPTION = 'the server could not complete the request';

/** The FHIR R4 IssueType of each error code (OperationOutcome.issue.code); `exception` for the rest. */
const ISSUE_TYPE: Partial<Record<ErrorCode, string>> = {
  invalid_request: 'invalid', invalid_token: 'login', invalid_dpop_proof: 'login', use_dpop_nonce: 'login', insufficient_scope: 'forbidden',
  access_denied: 'forbidden', not_found: 'not-found', bad_gateway: 'transient', temporarily_unavailable: 'transient', server_error: 'exception',
};

export function serializeError(err: unknown, options: SerializeOptions): SerializedError {
  const headers: Record<string, string> = {};
  let told: OAuthError;
  if (isUnavailable(err)) {
    told = err instanceof OAuthError && err.error === 'temporarily_unavailable' ? err : temporarilyUnavailable();
    if (options.log) logFailure(options.log, 'warn', 'unavailable', err, deepestCode(err));
  } else if (err instanceof OAuthError) {
    told = err;
    if (!err.expose && options.log) logFailure(options.log, 'error', 'request failed', err.cause ?? err, codeOf(err.cause ?? err));
  } else if (statusCodeOf(err) === 413) {
    told = new OAuthError('invalid_request', 'the request body is too large', undefined, 413);
    headers.connection = 'close';
  } else if (statusCodeOf(err) !== undefined && statusCodeOf(err)! < 500) {
    told = new OAuthError('invalid_request', 'the request could not be read', (err as Error).message, 400);
  } else {
    told = new OAuthError('server_error', SERVER_ERROR_DESCRIPTION, undefined, 500);
    if (options.log) logFailure(options.log, 'error', 'request failed', err, codeOf(err));
  }
  if (!told.expose) told = new OAuthError('server_error', SERVER_ERROR_DESCRIPTION, undefined, 500);
  Object.assign(headers, told.headers(options.resource ?? {}));
  if (told.status === 503) headers['retry-after'] = String(UNAVAILABLE_RETRY_AFTER_SECONDS);
  headers['cache-control'] = 'no-store';
  headers.pragma = 'no-cache';
  return { status: told.status, headers, told, ...body(told, options) };
}

function body(told: OAuthError, options: SerializeOptions): { contentType: string; body: string } {
  switch (options.format) {
    case 'fhir':
      return {
        contentType: 'application/fhir+json; charset=utf-8',
        body: JSON.stringify({
          resourceType: 'OperationOutcome',
          issue: [{ severity: 'error', code: ISSUE_TYPE[told.error] ?? 'exception', details: { text: told.description }, diagnostics: told.error }],
        }),
      };
    case 'html': {
      if (!options.page) throw new TypeError('serializeError: format html needs options.page');
      return { contentType: 'text/html; charset=utf-8', body: options.page(told.status === 503 ? 'Temporarily unavailable' : 'Request failed', told.description) };
    }
    default:
      return { contentType: 'application/json; charset=utf-8', body: JSON.stringify(told.toJSON()) };
  }
}

function logFailure(log: ErrorLogContext, level: 'warn' | 'error', msg: string, err: unknown, code: string | undefined): void {
  log.logger.log(level, msg, {
    ...(log.component !== undefined ? { component: log.component } : {}),
    requestId: log.requestId, route: log.route, error: err instanceof Error ? err.name : typeof err, code,
  });
  if (level === 'error' && process.env.CADUCEUS_DEBUG_ERRORS) console.error(err);
}

/** An error's stable code: the ERR_* reason of a refusal, the `code` of an InternalError (or Node's), or the OAuth error. */
function codeOf(err: unknown): string | undefined {
  if (err === null || typeof err !== 'object') return undefined;
  const e = err as { reason?: unknown; code?: unknown; error?: unknown };
  for (const value of [e.reason, e.code, e.error]) if (typeof value === 'string') return value;
  return undefined;
}

/** The code of the innermost error that has one (the cause of an unavailability names what failed). */
function deepestCode(err: unknown): string | undefined {
  let code: string | undefined;
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) code = codeOf(e) ?? code;
  return code;
}

function statusCodeOf(err: unknown): number | undefined {
  const status = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}
