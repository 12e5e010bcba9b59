// The probe's HTTP client: node:http/https with no dependency, redirects never followed
// automatically, and one hard rule: it refuses every URL whose origin is not the probed issuer's
// (docs/compliance.md: the probe sends "traffic only to that URL's origin"). Redirects to a
// client's redirect URI are read from the Location header, never requested.
import http from 'node:http';
import https from 'node:https';
import { InternalError } from '../../errors/internal-error.js';

export const MAX_BODY_BYTES = 1024 * 1024;

export interface ProbeResponse {
  url: string;
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** Absolute Location, when the response has one. */
  location?: string;
}

export class OffOriginError extends InternalError<'ERR_PROBE_OFF_ORIGIN'> {
  override readonly name: string = 'OffOriginError';
  constructor(message: string) {
    super('ERR_PROBE_OFF_ORIGIN', message);
  }
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  /** An application/x-www-form-urlencoded body; repeated values for arrays. */
  form?: Record<string, string | readonly string[]>;
  /** A raw body (with its content-type in headers). */
  body?: string;
}

/** Cookies of the probed origin (one origin only, so Domain and Path are not needed). */
export class CookieJar {
  readonly #cookies = new Map<string, string>();

  store(setCookie: string | string[] | undefined): void {
    for (const line of [setCookie ?? []].flat()) {
      const [pair = '', ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const expired = attrs.some((a) => /^\s*max-age\s*=\s*(0|-\d+)\s*$/i.test(a))
        || attrs.some((a) => /^\s*expires\s*=/i.test(a) && Date.parse(a.split('=').slice(1).join('=')) < Date.now());
      if (expired) this.#cookies.delete(name);
      else this.#cookies.set(name, pair.slice(eq + 1).trim());
    }
  }

  header(): string {
    return [...this.#cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

export function headerValue(res: ProbeResponse, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v.join(', ') : v;
}

export class ProbeHttp {
  readonly origin: string;
  readonly #ca: string | undefined;
  readonly #timeoutMs: number;
  /** Every URL requested, in order (tests assert the origin rule with it). */
  readonly requested: string[] = [];

  constructor(origin: string, options: { ca?: string; timeoutMs?: number } = {}) {
    this.origin = new URL(origin).origin;
    this.#ca = options.ca;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
  }

  allowed(url: string): boolean {
    try {
      return new URL(url).origin === this.origin;
    } catch {
      return false;
    }
  }

  async request(url: string, options: RequestOptions = {}, jar?: CookieJar): Promise<ProbeResponse> {
    if (!this.allowed(url)) throw new OffOriginError(`refusing to contact ${safeOrigin(url)}: the probe only talks to ${this.origin}`);
    const target = new URL(url);
    const headers: Record<string, string> = { 'user-agent': 'caduceus-probe', accept: 'application/json, text/html;q=0.9', ...options.headers };
    let body = options.body;
    if (options.form) {
      const p = new URLSearchParams();
      for (const [k, v] of Object.entries(options.form)) for (const x of [v].flat()) p.append(k, x);
      body = p.toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    }
    if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
    const cookie = jar?.header();
    if (cookie) headers.cookie = cookie;
    this.requested.push(url);
    const mod = target.protocol === 'https:' ? https : http;
    const res = await new Promise<ProbeResponse>((resolve, reject) => {
      const req = mod.request(target, {
        method: options.method ?? (body !== undefined ? 'POST' : 'GET'),
        headers,
        agent: false,
        timeout: this.#timeoutMs,
        ...(target.protocol === 'https:' && this.#ca !== undefined ? { ca: this.#ca } : {}),
      }, (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (c: Buffer) => {
          size += c.length;
          if (size <= MAX_BODY_BYTES) chunks.push(c);
        });
        response.on('end', () => {
          const location = response.headers.location;
          resolve({
            url,
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: Buffer.concat(chunks).toString('utf8'),
            ...(location ? { location: new URL(location, url).href } : {}),
          });
        });
        response.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`no response from ${this.origin} within ${this.#timeoutMs} ms`)));
      req.on('error', reject);
      if (body !== undefined) req.write(body);
      req.end();
    });
    jar?.store(res.headers['set-cookie']);
    return res;
  }
}

function safeOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(an invalid URL)';
  }
}
