// The SSRF-hardened fetch of a Client ID Metadata Document (or of a jwks_uri named in one).
// draft-ietf-oauth-client-id-metadata-document (section numbers of -02; -03 keeps the titles):
// - §5 Client Information Discovery: "A successful response MUST use the 200 OK HTTP status code",
//   every other status is an error, and the server "MUST NOT automatically follow HTTP redirects".
//   A 3xx is an error here; nothing is ever followed.
// - §4: the document "MAY also be served with more specific content types as long as the response
//   is JSON and conforms to application/<AS-defined>+json". Accepted: application/json and
//   application/<anything>+json. Anything else, and any Content-Encoding, is refused.
// - §8.6 SSRF: no fetch from special-use addresses (RFC 6890) "after resolution". This module
//   resolves the name itself (the request's `lookup` option), checks EVERY address the name has,
//   and connects only to the addresses it checked (no second resolution, so no DNS-rebinding
//   window). IP literals are checked before any socket exists. See address-policy.ts.
// - §8.7 Maximum Response Size: "SHOULD limit the amount of data they read ... The recommended
//   maximum size to read is 5 kilobytes." The limit is counted while streaming and the connection
//   is cut as soon as it is passed; a larger Content-Length is refused before reading.
// Also: one deadline (default 3 s) covers DNS, connect, TLS, headers and body, so a server that
// never answers or drips its body is cut; TLS is verified (extra roots only through `ca`); a fresh
// connection per fetch (no agent pool), no cookies, no Authorization header, nothing from the
// incoming request is forwarded.
//
// Port policy: the URL may name no port or 443. Another port needs `allowedPorts`, or
// `allowLoopback` and then only for loopback destinations.
//
// Deliberately not here: caching, the meaning of the document (validate-document.ts), and the
// Client Identifier URL rules of §3 (client-id-url.ts; the caller checks them first).
import https from 'node:https';
import { rootCertificates } from 'node:tls';
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP, type LookupFunction } from 'node:net';
import type { ClientRequest, IncomingMessage } from 'node:http';
import { ClientMetadataError } from './errors.js';
import { LOOPBACK_LABELS, addressProblem, specialUseLabel } from './address-policy.js';
import { fetchableUrlProblem } from './client-id-url.js';

/** §8.7: "The recommended maximum size to read is 5 kilobytes." */
export const MAX_DOCUMENT_BYTES = 5 * 1024;
const MAX_HEADER_BYTES = 8 * 1024;
const USER_AGENT = 'Caduceus-client-metadata-fetch';
const JSON_TYPE = /^application\/(?:json|[a-z0-9!#$&^_.+-]+\+json)$/;

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

export interface FetchDocumentOptions {
  /** One deadline for DNS, connect, TLS, headers and body. */
  timeoutMs: number;
  /** Most body bytes read; more is an error. */
  maxBytes: number;
  /**
   * unsafe.allow_loopback_client_metadata: loopback destinations (127.0.0.0/8, ::1) are allowed, on
   * any port. Private, link-local and every other special-use address stay refused.
   */
  allowLoopback: boolean;
  /** Ports besides 443 a URL may name (for any public destination). Default none. */
  allowedPorts?: readonly number[];
  /** Trust anchors added to Node's default (Mozilla) roots: the dev CA, tests. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Resolves a host name to every address it has. Default: the system resolver (getaddrinfo). */
  resolveHost?: (hostname: string) => Promise<ResolvedAddress[]>;
}

export interface FetchedDocument {
  /** The parsed JSON body; its shape is not checked here. */
  json: unknown;
  /** Response headers that caching reads (cache.ts). */
  cacheControl: string | undefined;
  age: string | undefined;
}

const NOT_PUBLIC = 'the client metadata document URL does not resolve to a public internet address';

async function systemResolve(hostname: string): Promise<ResolvedAddress[]> {
  const found = await dnsLookup(hostname, { all: true, verbatim: true });
  return found.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
}

/** Fetches `url` (https, normalized, see client-id-url.ts) and parses its JSON body, under every rule above. */
export function fetchJsonDocument(url: string, options: FetchDocumentOptions): Promise<FetchedDocument> {
  const urlProblem = fetchableUrlProblem(url);
  if (urlProblem !== undefined) {
    return Promise.reject(new ClientMetadataError('invalid_url', `the client metadata URL ${urlProblem}`));
  }
  const target = new URL(url);
  const port = target.port === '' ? 443 : Number(target.port);
  const portAllowed = port === 443 || (options.allowedPorts ?? []).includes(port);
  if (!portAllowed && !options.allowLoopback) {
    return Promise.reject(new ClientMetadataError('port_not_allowed', 'the client metadata URL must use the default https port (443)', `port ${port}`));
  }

  /** Why this server must not connect to `address` for this URL, or undefined. */
  const destinationProblem = (address: string): ClientMetadataError | undefined => {
    const label = addressProblem(address, { allowLoopback: options.allowLoopback });
    if (label !== undefined) return new ClientMetadataError('address_not_public', NOT_PUBLIC, `${address}: ${label}`);
    if (!portAllowed && !LOOPBACK_LABELS.has(specialUseLabel(address) ?? '')) {
      return new ClientMetadataError('port_not_allowed', 'the client metadata URL must use the default https port (443)', `port ${port} to ${address}`);
    }
    return undefined;
  };

  const host = target.hostname.startsWith('[') ? target.hostname.slice(1, -1) : target.hostname;
  if (isIP(host) !== 0) {
    // Node connects to a literal without calling `lookup`: check it here, before any socket.
    const refused = destinationProblem(host);
    if (refused) return Promise.reject(refused);
  }

  const resolve = options.resolveHost ?? systemResolve;
  const lookup: LookupFunction = (hostname, lookupOptions, callback) => {
    resolve(hostname).then((all) => {
      if (all.length === 0) throw new ClientMetadataError('address_not_public', NOT_PUBLIC, `${hostname}: no address`);
      // Every address of the name is checked, not only the one a connection would try first.
      for (const a of all) {
        const refused = destinationProblem(a.address);
        if (refused) throw refused;
      }
      const family = lookupOptions.family === 4 || lookupOptions.family === 6 ? lookupOptions.family : undefined;
      const usable = family === undefined ? all : all.filter((a) => a.family === family);
      if (usable.length === 0) throw new ClientMetadataError('address_not_public', NOT_PUBLIC, `${hostname}: no IPv${family} address`);
      if (lookupOptions.all) callback(null, usable.map((a) => ({ address: a.address, family: a.family })));
      else callback(null, usable[0]!.address, usable[0]!.family);
    }).catch((err: unknown) => {
      callback(err instanceof ClientMetadataError ? err
        : new ClientMetadataError('address_not_public', NOT_PUBLIC, `${hostname}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`), '');
    });
  };

  return new Promise<FetchedDocument>((resolvePromise, reject) => {
    let settled = false;
    let req: ClientRequest | undefined;
    const finish = (err: ClientMetadataError | undefined, value?: FetchedDocument) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req?.destroy();
      if (err) reject(err);
      else resolvePromise(value!);
    };
    const timer = setTimeout(() => {
      finish(new ClientMetadataError('timeout', `the client metadata document could not be fetched within ${options.timeoutMs} ms`, url));
    }, options.timeoutMs);

    try {
      req = https.request({
        host,
        port,
        path: `${target.pathname}${target.search}`,
        method: 'GET',
        headers: { accept: 'application/json', 'accept-encoding': 'identity', 'user-agent': USER_AGENT, connection: 'close' },
        lookup,
        agent: false,
        // Node's `ca` replaces the default roots; keep them and add the extra ones.
        ...(options.ca !== undefined ? { ca: [...rootCertificates, ...(Array.isArray(options.ca) ? options.ca : [options.ca])] } : {}),
        rejectUnauthorized: true,
        minVersion: 'TLSv1.2',
        maxHeaderSize: MAX_HEADER_BYTES,
      });
    } catch (err) {
      finish(new ClientMetadataError('connect_failed', 'the client metadata document could not be fetched: the connection or the TLS handshake failed', `${url}: ${(err as Error).message}`));
      return;
    }
    req.on('error', (err: NodeJS.ErrnoException) => {
      finish(err instanceof ClientMetadataError ? err
        : new ClientMetadataError('connect_failed', 'the client metadata document could not be fetched: the connection or the TLS handshake failed', `${url}: ${err.code ?? ''} ${err.message}`));
    });
    req.on('response', (res: IncomingMessage) => readResponse(res, url, options.maxBytes, finish));
    req.end();
  });
}

function readResponse(res: IncomingMessage, url: string, maxBytes: number, finish: (err: ClientMetadataError | undefined, value?: FetchedDocument) => void): void {
  const status = res.statusCode ?? 0;
  if (status >= 300 && status < 400) {
    finish(new ClientMetadataError('redirect', `the client metadata document URL answered with a redirect (HTTP ${status}); redirects are not followed`, url));
    return;
  }
  if (status !== 200) {
    finish(new ClientMetadataError('http_status', `the client metadata document URL answered HTTP ${status}, not 200`, url));
    return;
  }
  const mediaType = (res.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (!JSON_TYPE.test(mediaType)) {
    finish(new ClientMetadataError('content_type', 'the client metadata document is not served as application/json', `${url}: content-type ${mediaType || '(none)'}`));
    return;
  }
  const encoding = (res.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (encoding !== 'identity') {
    finish(new ClientMetadataError('content_type', 'the client metadata document must be sent without content encoding', `${url}: content-encoding ${encoding}`));
    return;
  }
  const tooLarge = () => new ClientMetadataError('too_large', `the client metadata document is larger than ${maxBytes} bytes`, url);
  const announced = Number(res.headers['content-length'] ?? '0');
  if (announced > maxBytes) {
    finish(tooLarge());
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  res.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > maxBytes) finish(tooLarge());
    else chunks.push(chunk);
  });
  res.on('error', (err) => finish(new ClientMetadataError('connect_failed', 'the client metadata document could not be fetched: the connection failed', `${url}: ${err.message}`)));
  res.on('end', () => {
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks)));
    } catch {
      finish(new ClientMetadataError('not_json', 'the client metadata document is not valid JSON', url));
      return;
    }
    finish(undefined, { json, cacheControl: header(res, 'cache-control'), age: header(res, 'age') });
  });
}

function header(res: IncomingMessage, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}
