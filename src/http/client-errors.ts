// Answers for requests that Node's HTTP parser refuses before any route sees them (the node:http
// 'clientError' event, Fastify's `clientErrorHandler` option): a header block over the limit
// (RFC 6585 §5: 431), a malformed request line or header field (RFC 9112 §2.2, §5: 400), chunk
// extensions over the limit (413), a request not received in time (RFC 9110 §15.5.9: 408).
//
// Each gets a complete HTTP/1.1 response with the API security headers and `Connection: close`
// (RFC 9112 §9.6), and the connection is ended once those bytes are flushed, not reset: a
// keep-alive client, or a proxy that reuses the connection for another client, reads the answer
// and opens a new connection instead of losing its next request. One 'warn' line per refusal
// holds the status and the parser's error code only.
//
// Deliberately not done: echoing or logging any part of the request (`err.rawPacket`, headers,
// the client address are never read), and answering on a connection where an earlier request's
// response is still due (RFC 9112 §9.3.2: responses go out in request order, so ours would be read
// as that one's); such a connection is destroyed, like a reset one.
import type { Socket } from 'node:net';
import { STATUS_CODES } from 'node:http';
import type { Logger } from '../ops/logging.js';
import { OAuthError } from '../errors/oauth-error.js';
import { serializeError } from '../errors/serializer.js';
import { securityHeaders } from './security-headers.js';

export type ClientErrorStatus = 400 | 408 | 413 | 431;

export interface ClientErrorOptions {
  /** HSTS max-age of the API security headers (config tls.hsts_max_age). */
  hstsMaxAge: number;
  /** Receives one line per refusal; without one, refusals are answered but not logged. */
  logger?: Logger;
}

/** How long an ended connection may stay half-open while the client finishes sending. */
export const CLIENT_ERROR_LINGER_MS = 5_000;

const DESCRIPTIONS: Readonly<Record<ClientErrorStatus, string>> = {
  400: 'the request could not be parsed',
  408: 'the request was not received in time',
  413: 'the request is too large',
  431: 'the request header fields are too large',
};

/** The status for a parser error code from node:http (llhttp `HPE_*` or `ERR_HTTP_*`). */
export function statusOfClientError(code: string | undefined): ClientErrorStatus {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return 431;
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return 413;
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return 408;
    default:
      return 400;
  }
}

/** The whole response, status line to body; its content never depends on the request. */
export function clientErrorResponse(status: ClientErrorStatus, hstsMaxAge: number, date: Date = new Date()): string {
  // The one serializer's JSON error (src/errors/serializer.ts); its no-store and no-cache come with the API headers below.
  const { body, contentType } = serializeError(new OAuthError('invalid_request', DESCRIPTIONS[status], undefined, status), { format: 'json' });
  const headers: Record<string, string> = {
    Date: date.toUTCString(),
    'Content-Type': contentType,
    'Content-Length': String(Buffer.byteLength(body)),
    Connection: 'close',
    // Cache-Control: no-store and Pragma come with the API headers (RFC 6749 §5.1).
    ...securityHeaders('api', hstsMaxAge),
  };
  const fields = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('');
  return `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${fields}\r\n${body}`;
}

/** node:http's response in progress on a socket (not part of its typed API). */
interface PendingResponse {
  headersSent?: boolean;
  req?: { complete?: boolean };
}

/** A Fastify `clientErrorHandler`: answers, logs and ends the connection as described above. */
export function createClientErrorHandler(options: ClientErrorOptions): (err: Error & { code?: string }, socket: Socket) => void {
  // Checked now, so a bad max-age fails at start rather than on the first refused request.
  clientErrorResponse(400, options.hstsMaxAge);
  // node:http feeds every later chunk of the connection to the failed parser and reports the
  // error again each time: one answer and one log line per connection.
  const handled = new WeakSet<Socket>();

  return function onClientError(err, socket) {
    if (handled.has(socket)) return;
    handled.add(socket);
    if (err.code === 'ECONNRESET' || socket.destroyed) {
      socket.destroy();
      return;
    }
    const status = statusOfClientError(err.code);
    options.logger?.log('warn', 'client error', { status, code: codeField(err.code) });

    const pending = (socket as Socket & { _httpMessage?: PendingResponse | null })._httpMessage;
    // Answerable: nothing in progress, or the response of this very request (its body failed to
    // parse) before anything of it was written.
    const answerable = !pending || (pending.headersSent !== true && pending.req?.complete === false);
    if (!socket.writable || !answerable) {
      socket.destroy();
      return;
    }
    // end() flushes the response, then sends FIN (and the TLS close_notify); the client's
    // remaining bytes are read and dropped until it closes, so no reset overtakes the answer.
    socket.end(clientErrorResponse(status, options.hstsMaxAge));
    const linger = setTimeout(() => socket.destroy(), CLIENT_ERROR_LINGER_MS);
    linger.unref();
    socket.once('close', () => clearTimeout(linger));
  };
}

/** Node's own codes are short upper-case names; anything else is not written to the log. */
function codeField(code: string | undefined): string | null {
  return typeof code === 'string' && /^[A-Z][A-Z0-9_]{0,63}$/.test(code) ? code : null;
}
