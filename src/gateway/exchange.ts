// What every step of a gateway request shares: the route's environment, the exchange being
// recorded (its ledger event draft), the target below the route prefix.
import type { AppContext } from '../context/app-context.js';
import { type GatewayRoute } from '../config/gateway.js';
import { ResourceAuthenticator } from '../oauth/resource-server/authenticator.js';
import type { VerifiedAccessToken } from '../oauth/resource-server/verify-access-token.js';
import { Upstream } from './forward.js';
import type { GatewayEventDraft } from './audit-event.js';
import { accessDenied } from './errors.js';


export const FHIR_JSON = 'application/fhir+json; charset=utf-8';

/** Query parameters never forwarded on fhir routes: responses are JSON, checked by the gateway. */
export const STRIPPED_FHIR_PARAMS = ['_format', '_pretty'];

export type Json = Record<string, unknown>;

export const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface Exchange {
  route: GatewayRoute;
  draft: GatewayEventDraft;
  token?: VerifiedAccessToken;
}

export interface RouteEnv {
  ctx: AppContext;
  route: GatewayRoute;
  upstream: Upstream;
  authenticator: ResourceAuthenticator;
  signingKey: Buffer | undefined;
  publicBase: string;
  bases: string[];
  /** The issuer's origin: the public URL of a route without public_base_url. */
  issuerOrigin: string;
  /** RFC 9728 §3.1: where this route's protected resource metadata is, named in its challenges (§5.1). */
  resourceMetadata: string;
}

export interface Target {
  /** Below the prefix: "" or "/…". */
  path: string;
  rawQuery: string;
  query: URLSearchParams;
}

export function readTarget(url: string, prefix: string): Target {
  const q = url.indexOf('?');
  const rawPath = q < 0 ? url : url.slice(0, q);
  const rawQuery = q < 0 ? '' : url.slice(q + 1);
  if (!rawPath.startsWith(prefix) || (rawPath.length > prefix.length && rawPath[prefix.length] !== '/')) {
    throw accessDenied('the path is not allowed', 'ERR_PATH_NOT_ALLOWED');
  }
  return { path: rawPath.slice(prefix.length), rawQuery, query: new URLSearchParams(rawQuery) };
}

/** The URL the client addressed (the DPoP proof's htu): the route's public base, or the issuer's origin, plus the path. */
export function publicRequestUrl(env: RouteEnv, target: Target): string {
  if (env.route.public_base_url) return `${env.publicBase}${target.path}`;
  return `${env.issuerOrigin}${env.route.prefix}${target.path}`;
}
