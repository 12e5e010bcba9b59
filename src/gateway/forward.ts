// The hop to the upstream (undici). Only allow-listed request headers are copied (RFC 9700
// §4.13; the list comes from the route and never holds credentials or proxy headers, see
// src/config/gateway.ts); identity headers are added by the caller. Responses are read fully, up
// to a size limit, so the gateway can check them before releasing anything; only an allow-list of
// response headers is passed back.
import type { IncomingHttpHeaders } from 'node:http';
import { Pool, type Dispatcher } from 'undici';
import { GatewayDenial } from './errors.js';

/** Response headers passed back to the client (Location and Content-Location rewritten). */
export const RESPONSE_HEADERS = ['content-type', 'etag', 'last-modified', 'location', 'content-location', 'retry-after'] as const;

export interface UpstreamRequest {
  method: string;
  /** Path (and query) below the upstream base, starting with "/". */
  pathAndQuery: string;
  headers: Record<string, string>;
  body?: Buffer | string;
}

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export interface UpstreamOptions {
  timeoutMs: number;
  maxResponseBytes: number;
  dispatcher?: Dispatcher;
}

/** Copies the allow-listed request headers; everything else (Authorization, Cookie, X-Forwarded-*, …) is dropped. */
export function allowListedHeaders(headers: IncomingHttpHeaders, allow: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of allow) {
    const value = headers[name];
    if (typeof value === 'string') out[name] = value;
    else if (Array.isArray(value)) out[name] = value.join(', ');
  }
  return out;
}

/** The allow-listed response headers (single-valued only; a repeated header is dropped). */
function pickResponseHeaders(raw: IncomingHttpHeaders): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of RESPONSE_HEADERS) {
    const v = raw[name];
    if (typeof v === 'string') headers[name] = v;
  }
  const encoding = raw['content-encoding'];
  if (typeof encoding === 'string' && encoding !== 'identity') headers['content-encoding'] = encoding;
  return headers;
}

export class Upstream {
  /** The base URL without a trailing slash. */
  readonly base: string;
  readonly #origin: string;
  readonly #basePath: string;
  readonly #dispatcher: Dispatcher;
  readonly #owned: boolean;

  constructor(base: string, private readonly options: UpstreamOptions) {
    this.base = base.replace(/\/$/, '');
    this.#origin = new URL(this.base).origin;
    this.#basePath = new URL(this.base).pathname.replace(/\/$/, '');
    this.#owned = !options.dispatcher;
    // One keep-alive pool per route, reused by every request (an upstream is a single origin).
    this.#dispatcher = options.dispatcher ?? new Pool(this.#origin, { connections: 256, keepAliveTimeout: 10_000, headersTimeout: options.timeoutMs, bodyTimeout: options.timeoutMs });
  }

  /**
   * Throws GatewayDenial('bad_gateway') when the upstream cannot be reached, times out or answers too much.
   *
   * Uses undici's dispatch interface rather than request(): the answer is collected straight into
   * a list of chunks (it is always read whole, to be checked), without a Readable stream and an
   * async iterator per request.
   */
  send(req: UpstreamRequest): Promise<UpstreamResponse> {
    const limit = this.options.maxResponseBytes;
    return new Promise<UpstreamResponse>((resolve, reject) => {
      let status = 0;
      let headers: Record<string, string> = {};
      let chunks: Buffer[] = [];
      let size = 0;
      let settled = false;
      const fail = (err: unknown) => {
        if (settled) return;
        settled = true;
        chunks = [];
        reject(err instanceof GatewayDenial ? err : upstreamError(err));
      };
      const handler: Dispatcher.DispatchHandler = {
        onRequestStart() {},
        onResponseStart(_controller, statusCode, responseHeaders) {
          // 1xx interim answers are handled inside undici; start over anyway if one arrives.
          status = statusCode;
          headers = pickResponseHeaders(responseHeaders);
          chunks = [];
          size = 0;
        },
        onResponseData(controller, chunk) {
          if (settled) return;
          size += chunk.length;
          if (size > limit) {
            fail(new GatewayDenial('bad_gateway', 'the upstream answer is too large', 'ERR_UPSTREAM_TOO_LARGE'));
            controller.abort(new Error('upstream answer too large'));
            return;
          }
          chunks.push(chunk);
        },
        onResponseEnd() {
          if (settled) return;
          settled = true;
          resolve({ status, headers, body: Buffer.concat(chunks, size) });
        },
        onResponseError(_controller, err) {
          fail(err);
        },
      };
      try {
        this.#dispatcher.dispatch({
          origin: this.#origin,
          path: this.wirePath(req.pathAndQuery),
          method: req.method as Dispatcher.HttpMethod,
          headers: req.headers,
          ...(req.body !== undefined ? { body: req.body } : {}),
          headersTimeout: this.options.timeoutMs,
          bodyTimeout: this.options.timeoutMs,
        }, handler);
      } catch (err) {
        fail(err);
      }
    });
  }

  /** The request target as the upstream sees it (its base path + pathAndQuery). */
  wirePath(pathAndQuery: string): string {
    return `${this.#basePath}${pathAndQuery}`;
  }

  async close(): Promise<void> {
    if (this.#owned) await this.#dispatcher.close();
  }
}

function upstreamError(err: unknown): GatewayDenial {
  const code = (err as { code?: string }).code ?? '';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
    return new GatewayDenial('bad_gateway', 'the upstream server did not answer in time', 'ERR_UPSTREAM_TIMEOUT', { status: 504 });
  }
  return new GatewayDenial('bad_gateway', 'the upstream server is not reachable', 'ERR_UPSTREAM_UNAVAILABLE');
}
