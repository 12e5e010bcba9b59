// The hop to the upstream (undici). Only allow-listed request headers are copied (RFC 9700
// §4.13 / requirements R-5; the list comes from the route and never holds credentials or proxy
// headers, see config.ts); identity headers are added by the caller. Responses are read fully,
// up to a size limit, so the gateway can check them before releasing anything; only an
// allow-list of response headers is passed back.
import type { IncomingHttpHeaders } from 'node:http';
import { Agent, type Dispatcher } from 'undici';
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
    this.#dispatcher = options.dispatcher ?? new Agent({ connections: 256, keepAliveTimeout: 10_000, headersTimeout: options.timeoutMs, bodyTimeout: options.timeoutMs });
  }

  /** Throws GatewayDenial('bad_gateway') when the upstream cannot be reached, times out or answers too much. */
  async send(req: UpstreamRequest): Promise<UpstreamResponse> {
    let res: Dispatcher.ResponseData;
    try {
      res = await this.#dispatcher.request({
        origin: this.#origin,
        path: this.wirePath(req.pathAndQuery),
        method: req.method as Dispatcher.HttpMethod,
        headers: req.headers,
        ...(req.body !== undefined ? { body: req.body } : {}),
        headersTimeout: this.options.timeoutMs,
        bodyTimeout: this.options.timeoutMs,
      });
    } catch (err) {
      throw upstreamError(err);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of res.body) {
        size += (chunk as Buffer).length;
        if (size > this.options.maxResponseBytes) {
          res.body.destroy();
          throw new GatewayDenial('bad_gateway', 'the upstream answer is too large', 'ERR_UPSTREAM_TOO_LARGE');
        }
        chunks.push(chunk as Buffer);
      }
    } catch (err) {
      throw err instanceof GatewayDenial ? err : upstreamError(err);
    }
    const headers: Record<string, string> = {};
    for (const name of RESPONSE_HEADERS) {
      const v = res.headers[name];
      if (typeof v === 'string') headers[name] = v;
    }
    const encoding = res.headers['content-encoding'];
    if (typeof encoding === 'string' && encoding !== 'identity') headers['content-encoding'] = encoding;
    return { status: res.statusCode, headers, body: Buffer.concat(chunks) };
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
