// Client authentication at the token, introspection and revocation endpoints: one strategy per
// method, and the method used must be the one registered for the client.
import { OAuthError, invalidClient } from '../../errors/oauth-error.js';
import { verifyClientSecret } from '../../crypto/client-secret.js';
import type { AppContext } from '../../context/app-context.js';
import type { ClientRecord } from '../../storage/types.js';
import type { Params } from '../checks/duplicate-params.js';
import { CLIENT_AUTH_CHALLENGE, ClientAuthError } from './client-auth-error.js';
import { presentedCredentials } from './presented.js';
import { findClient } from '../clients.js';
import { ClientMetadataError } from '../client-metadata/errors.js';
import { throttleClientAuthentication } from './throttle.js';
import { verifySecretCredentials } from './client-secret.js';
import { assertionIssuer, verifyClientAssertion } from './private-key-jwt.js';

export { ClientAuthError } from './client-auth-error.js';

export interface ClientAuthRequest {
  authorization: string | undefined;
  params: Params;
  /** The endpoint URL, accepted as an assertion audience. */
  endpoint: string;
  /** For the audit event of a lockout. */
  requestId?: string;
  /** The client's address (requestMeta): failures are throttled per client id and address. */
  sourceAddress: string;
}

// Spent on unknown clients so that timing does not tell which client ids exist.
const UNKNOWN_DIGEST = '0'.repeat(64);

export async function authenticateClient(ctx: AppContext, req: ClientAuthRequest): Promise<ClientRecord> {
  try {
    // A client id with repeated invalid_client failures from one address is refused from there (./throttle.ts).
    return await throttleClientAuthentication(ctx, req, () => authenticate(ctx, req));
  } catch (err) {
    if (err instanceof OAuthError && err.error === 'invalid_client' && !(err instanceof ClientAuthError)) {
      throw new ClientAuthError(err, CLIENT_AUTH_CHALLENGE);
    }
    throw err;
  }
}

async function authenticate(ctx: AppContext, req: ClientAuthRequest): Promise<ClientRecord> {
  const presented = presentedCredentials(req.authorization, req.params);
  const clientId = presented.method === 'private_key_jwt' ? presented.clientId ?? assertionIssuer(presented.assertion) : presented.clientId;
  let client: ClientRecord | undefined;
  try {
    client = await findClient(ctx, clientId);
  } catch (err) {
    if (err instanceof ClientMetadataError) throw invalidClient('client authentication failed', `metadata document: ${err.detail ?? err.description}`);
    throw err;
  }
  if (!client) {
    if (presented.method === 'client_secret_basic' || presented.method === 'client_secret_post') {
      verifyClientSecret(ctx.masterKey, presented.secret, UNKNOWN_DIGEST);
    }
    throw invalidClient('client authentication failed', 'unknown client');
  }
  // The method must be the registered one: a confidential client cannot fall back to `none`.
  const registered = client.tokenEndpointAuthMethod;
  const compatible = presented.method === registered
    || (registered === 'client_secret_basic' && presented.method === 'client_secret_post')
    || (registered === 'client_secret_post' && presented.method === 'client_secret_basic');
  if (!compatible) {
    throw invalidClient('client authentication failed', `method ${presented.method} used, ${registered} registered`);
  }
  if (presented.method === 'client_secret_basic' || presented.method === 'client_secret_post') {
    verifySecretCredentials(ctx, client, presented.secret);
  } else if (presented.method === 'private_key_jwt') {
    await verifyClientAssertion(ctx, client, presented.assertion, req.endpoint);
  }
  return client;
}
