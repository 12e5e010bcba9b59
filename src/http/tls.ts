// TLS listener options: Mozilla Server Side TLS "intermediate" v6.0 (ssl-config-generator
// guidelines/6.0.json), mapped onto Node 20 `tls.createServer` options (minVersion, ciphers,
// honorCipherOrder, ecdhCurve; OpenSSL 3.0 has no X25519MLKEM768). The lists below are exported so
// the compliance check probes exactly what the server offers. Plain HTTP is a loopback-only
// development escape hatch (unsafe.allow_plain_http).
//
// Deliberately not handled here: OCSP stapling (the 'OCSPRequest' server event; Mozilla
// `ocsp_staple`), the HSTS header (security-headers.ts) and certificate lifetime (checked by the
// compliance rules).

import type https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { InternalError } from '../errors/internal-error.js';

export const MOZILLA_GUIDELINES_VERSION = '6.0';

/** Mozilla intermediate `tls_versions`: TLS 1.2 and 1.3 only; TLS 1.0/1.1 are refused. */
export const TLS_MIN_VERSION = 'TLSv1.2' satisfies tls.SecureVersion;
export const TLS_MAX_VERSION = 'TLSv1.3' satisfies tls.SecureVersion;

/** Mozilla intermediate TLS 1.3 `ciphersuites` (no CCM suites). */
export const TLS13_CIPHERSUITES = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
] as const;

/**
 * Mozilla intermediate v6.0 TLS 1.2 `ciphers`, OpenSSL names, in Mozilla's order: ECDHE key
 * exchange with an AEAD only. No static-RSA key exchange, no CBC, no DHE (v5.8 had DHE; 6.0 has not).
 */
export const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
] as const;

/** IANA names of TLS12_CIPHERS (what `TLSSocket.getCipher().standardName` reports), same order. */
export const TLS12_CIPHERS_IANA = [
  'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256',
  'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
  'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384',
  'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384',
  'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256',
  'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256',
] as const;

/**
 * The `ciphers` string for Node: Node hands names starting with `TLS_` to OpenSSL's TLS 1.3
 * ciphersuite list and the rest to the TLS 1.2 cipher list, so one string sets both exactly.
 */
export const TLS_CIPHERS = [...TLS13_CIPHERSUITES, ...TLS12_CIPHERS].join(':');

/**
 * Mozilla intermediate v6.0 `tls_curves` (X25519MLKEM768, X25519, prime256v1, secp384r1) in
 * OpenSSL group names. X25519MLKEM768 needs OpenSSL >= 3.5; Node 20 ships 3.0.x, which rejects it.
 */
export const ECDH_CURVES_PREFERRED = 'X25519MLKEM768:X25519:P-256:P-384';
/** The v6.0 list without the post-quantum hybrid, for OpenSSL builds that lack it. */
export const ECDH_CURVES_FALLBACK = 'X25519:P-256:P-384';

let detectedCurves: string | undefined;

/**
 * The first curve list this Node/OpenSSL accepts: ECDH_CURVES_PREFERRED, else ECDH_CURVES_FALLBACK
 * (X25519MLKEM768 needs OpenSSL 3.5 or later). Detected once per process by building a throwaway
 * secure context.
 */
export function supportedEcdhCurves(): string {
  if (detectedCurves === undefined) {
    try {
      tls.createSecureContext({ ecdhCurve: ECDH_CURVES_PREFERRED });
      detectedCurves = ECDH_CURVES_PREFERRED;
    } catch {
      detectedCurves = ECDH_CURVES_FALLBACK;
    }
  }
  return detectedCurves;
}

type Pem = string | Buffer;

export interface TlsMaterial {
  /** Server certificate chain, PEM (leaf first). */
  cert: Pem | Pem[];
  /** Private key of the leaf, PEM. */
  key: Pem;
  /** Extra trust anchors; only used to verify client certificates, which this server does not request. */
  ca?: Pem | Pem[];
}

/**
 * `https.createServer` options for Mozilla intermediate v6.0. Does not read files, does not check
 * that the key matches the certificate (Node does when the context is built) and does not check the
 * certificate's lifetime or key size.
 */
export function tlsServerOptions({ cert, key, ca }: TlsMaterial): https.ServerOptions {
  if (cert === undefined || key === undefined) {
    throw new TypeError('tlsServerOptions: "cert" and "key" are required');
  }
  return {
    cert,
    key,
    ...(ca === undefined ? {} : { ca }),
    minVersion: TLS_MIN_VERSION,
    maxVersion: TLS_MAX_VERSION,
    ciphers: TLS_CIPHERS,
    // Mozilla: server_preferred_order = false. Node's createServer defaults this to true.
    honorCipherOrder: false,
    ecdhCurve: supportedEcdhCurves(),
  };
}

/**
 * Whether `host` is a loopback address: 127.0.0.0/8, ::1 (also bracketed, expanded or as
 * IPv4-mapped ::ffff:127.x.y.z) or the name `localhost`. Takes a host, not host:port. Other names
 * that merely resolve to loopback (`foo.localhost`, an /etc/hosts entry) are refused on purpose:
 * only a literal address or `localhost` is known to stay on this machine.
 */
export function isLoopbackHost(host: string): boolean {
  let h = host.trim().toLowerCase();
  if (h === 'localhost') return true;
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  const family = net.isIP(h);
  if (family === 4) return h.startsWith('127.');
  if (family !== 6) return false;
  const bytes = ipv6Bytes(h);
  if (bytes === undefined) return false;
  const isV6Loopback = bytes.slice(0, 15).every((b) => b === 0) && bytes[15] === 1;
  const isV4MappedLoopback =
    bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff && bytes[12] === 127;
  return isV6Loopback || isV4MappedLoopback;
}

/** 16 bytes of an address that net.isIP already accepted as IPv6 (zone ids are not loopback). */
function ipv6Bytes(address: string): number[] | undefined {
  if (address.includes('%')) return undefined;
  let text = address;
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  const last = text.slice(lastColon + 1);
  if (last.includes('.')) {
    tail.push(...last.split('.').map(Number));
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [left = '', right] = text.split('::');
  const leftGroups = left === '' ? [] : left.split(':');
  const rightGroups = right === undefined || right === '' ? [] : right.split(':');
  const missing = 8 - leftGroups.length - rightGroups.length;
  const groups = [...leftGroups, ...Array<string>(right === undefined ? 0 : missing).fill('0'), ...rightGroups];
  if (groups.length !== 8) return undefined;
  const bytes = groups.flatMap((g) => {
    const n = parseInt(g, 16);
    return [n >> 8, n & 0xff];
  });
  if (tail.length === 4) bytes.splice(12, 4, ...tail);
  return bytes;
}

/** A listener would serve plain HTTP on a non-loopback address. Stable code for logs and tests. */
export class PlainHttpNotAllowedError extends InternalError<'ERR_PLAIN_HTTP_NOT_LOOPBACK'> {
  override readonly name: string = 'PlainHttpNotAllowedError';
  constructor(message: string) {
    super('ERR_PLAIN_HTTP_NOT_LOOPBACK', message);
  }
}

/**
 * Throws unless `host` is a loopback address (see isLoopbackHost). This checks only the address:
 * whether unsafe.allow_plain_http is on is the caller's decision, taken before calling this. Even
 * with the switch on, the communication-security requirement of OAuth 2.1 §1.5 still holds for
 * anything that leaves the machine, so a non-loopback plain-HTTP listener is never allowed.
 */
export function assertPlainHttpAllowed(host: string): void {
  if (!isLoopbackHost(host)) {
    throw new PlainHttpNotAllowedError(
      `unsafe.allow_plain_http: plain HTTP is only allowed on a loopback address (127.0.0.0/8, ::1, localhost), not ${JSON.stringify(host)}`,
    );
  }
}
