// Reads which client authentication a token-endpoint request presents. RFC 6749 §2.3: a client
// "MUST NOT use more than one authentication method in each request".
import { invalidClient, invalidRequest } from '../../errors/oauth-error.js';
import type { Params } from '../checks/duplicate-params.js';
import type { TokenEndpointAuthMethod } from '../../storage/types.js';

export const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export type PresentedCredentials =
  | { method: 'client_secret_basic' | 'client_secret_post'; clientId: string; secret: string }
  | { method: 'private_key_jwt'; clientId: string | undefined; assertion: string }
  | { method: 'none'; clientId: string };

/** RFC 6749 §2.3.1: id and secret are form-urlencoded before base64. */
function decodeBasic(header: string): { clientId: string; secret: string } {
  const b64 = header.slice('basic '.length).trim();
  const text = Buffer.from(b64, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) throw invalidClient('malformed Basic credentials');
  const dec = (s: string) => {
    try {
      return decodeURIComponent(s.replace(/\+/g, ' '));
    } catch {
      throw invalidClient('malformed Basic credentials');
    }
  };
  return { clientId: dec(text.slice(0, colon)), secret: dec(text.slice(colon + 1)) };
}

export function presentedCredentials(authorization: string | undefined, params: Params): PresentedCredentials {
  const found: PresentedCredentials[] = [];
  if (authorization !== undefined) {
    if (!/^basic /i.test(authorization)) throw invalidClient('unsupported Authorization scheme at this endpoint');
    found.push({ method: 'client_secret_basic', ...decodeBasic(authorization) });
  }
  if (params.client_secret !== undefined) {
    if (params.client_id === undefined) throw invalidRequest('client_secret without client_id');
    found.push({ method: 'client_secret_post', clientId: params.client_id, secret: params.client_secret });
  }
  if (params.client_assertion !== undefined || params.client_assertion_type !== undefined) {
    if (params.client_assertion_type !== JWT_BEARER_ASSERTION) throw invalidClient('unsupported client_assertion_type');
    if (params.client_assertion === undefined) throw invalidRequest('client_assertion is required');
    found.push({ method: 'private_key_jwt', clientId: params.client_id, assertion: params.client_assertion });
  }
  if (found.length > 1) throw invalidRequest('more than one client authentication method used (RFC 6749 §2.3)');
  if (found.length === 1) {
    const only = found[0]!;
    if (params.client_id !== undefined && only.clientId !== undefined && params.client_id !== only.clientId) {
      throw invalidClient('client_id does not match the authenticated client');
    }
    return only;
  }
  if (params.client_id === undefined) throw invalidClient('client authentication is required');
  return { method: 'none', clientId: params.client_id };
}

export type { TokenEndpointAuthMethod };
