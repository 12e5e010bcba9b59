// The headers that tell an upstream who is calling (subject, client, patient, scopes), signed or
// sent over a trusted link as configured, replacing the bearer token (docs/SECURITY.md "PHI
// gateway: allow-listed headers, identity headers, minimum necessary"). RFC 9700 §4.9.3: the
// access token itself never leaves the gateway.
//
// Signed mode: `<prefix>signature: v1=<base64url HMAC-SHA-256>` over a canonical text binding the
// identity to this request (method, path with query, timestamp, request id). The key is derived
// (HKDF-SHA-256) from the master key's "access-token" digest key under its own label, so it is
// never a key used for anything else. An upstream checks it with verifyIdentityHeaders.
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { MasterKey } from '../crypto/master-key.js';

export interface CallerIdentity {
  subject: string;
  clientId: string;
  patient?: string;
  /** Granted scopes (space-separated on the wire). */
  scopes: readonly string[];
  requestId: string;
}

export interface SignedRequest {
  method: string;
  /** Path and query exactly as sent upstream, e.g. /Observation?patient=demo-1. */
  pathAndQuery: string;
  /** Epoch seconds. */
  timestamp: number;
}

const CANONICAL_VERSION = 'caduceus-identity-v1';
const IDENTITY_KEY_INFO = 'caduceus/v1/gateway/identity-hmac';

/** The HMAC key shared with upstreams that verify identity headers. */
export function gatewayIdentityKey(masterKey: MasterKey): Buffer {
  const ikm = masterKey.digestKey('access-token');
  try {
    return Buffer.from(hkdfSync('sha256', ikm, Buffer.from('caduceus/gateway', 'utf8'), IDENTITY_KEY_INFO, 32));
  } finally {
    ikm.fill(0);
  }
}

function canonical(identity: CallerIdentity, request: SignedRequest): string {
  return [
    CANONICAL_VERSION, request.method, request.pathAndQuery, String(request.timestamp), identity.subject, identity.clientId,
    identity.patient ?? '', identity.scopes.join(' '), identity.requestId,
  ].join('\n');
}

const sign = (key: Buffer, text: string) => createHmac('sha256', key).update(text, 'utf8').digest('base64url');

type HeaderNames = Readonly<Record<'subject' | 'clientId' | 'patient' | 'scope' | 'requestId' | 'timestamp' | 'signature', string>>;
const NAMES = new Map<string, HeaderNames>();

/** Header names under a prefix, e.g. x-caduceus-subject. */
export function identityHeaderNames(prefix: string): HeaderNames {
  let names = NAMES.get(prefix);
  if (!names) {
    names = Object.freeze({
      subject: `${prefix}subject`,
      clientId: `${prefix}client-id`,
      patient: `${prefix}patient`,
      scope: `${prefix}scope`,
      requestId: `${prefix}request-id`,
      timestamp: `${prefix}timestamp`,
      signature: `${prefix}signature`,
    });
    if (NAMES.size < 64) NAMES.set(prefix, names);
  }
  return names;
}

export function identityHeaders(prefix: string, identity: CallerIdentity, request: SignedRequest, key?: Buffer): Record<string, string> {
  const n = identityHeaderNames(prefix);
  const headers: Record<string, string> = {
    [n.subject]: identity.subject,
    [n.clientId]: identity.clientId,
    [n.scope]: identity.scopes.join(' '),
    [n.requestId]: identity.requestId,
  };
  if (identity.patient) headers[n.patient] = identity.patient;
  if (key) {
    headers[n.timestamp] = String(request.timestamp);
    headers[n.signature] = `v1=${sign(key, canonical(identity, request))}`;
  }
  return headers;
}

/**
 * For upstreams: checks signed identity headers against the request they arrived with. Returns
 * the identity, or undefined when the signature is missing, wrong, or older than maxAgeSeconds.
 */
export function verifyIdentityHeaders(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  request: { method: string; pathAndQuery: string },
  key: Buffer,
  options: { prefix?: string; now?: number; maxAgeSeconds?: number } = {},
): CallerIdentity | undefined {
  const n = identityHeaderNames(options.prefix ?? 'x-caduceus-');
  const get = (name: string) => (typeof headers[name] === 'string' ? (headers[name] as string) : undefined);
  const [subject, clientId, scope, requestId, timestamp, signature] = [n.subject, n.clientId, n.scope, n.requestId, n.timestamp, n.signature].map(get);
  if (!subject || !clientId || scope === undefined || !requestId || !timestamp || !signature?.startsWith('v1=')) return undefined;
  const ts = Number(timestamp);
  const now = Math.floor((options.now ?? Date.now()) / 1000);
  if (!Number.isSafeInteger(ts) || Math.abs(now - ts) > (options.maxAgeSeconds ?? 60)) return undefined;
  const patient = get(n.patient);
  const identity: CallerIdentity = { subject, clientId, scopes: scope.split(' ').filter(Boolean), requestId, ...(patient ? { patient } : {}) };
  const expected = Buffer.from(sign(key, canonical(identity, { method: request.method, pathAndQuery: request.pathAndQuery, timestamp: ts })));
  const given = Buffer.from(signature.slice(3));
  return expected.length === given.length && timingSafeEqual(expected, given) ? identity : undefined;
}
