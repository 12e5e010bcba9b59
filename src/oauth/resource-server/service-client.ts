// The guard of an API for services rather than people (the audit API, the admin API): an access
// token that
//   - passes the one protected-resource authenticator (signature, `iss`, `typ`, expiry, not
//     revoked, the DPoP binding; RFC 9068, RFC 9449);
//   - is for this API: RFC 9068 §4 "The resource server MUST validate that the aud claim contains a
//     resource indicator value corresponding to an identifier the resource server expects for
//     itself";
//   - was issued by the client_credentials grant (sub = client_id, no grant): a service or an
//     administrator's tool, never a person's app token;
//   - carries the API's scope;
//   - belongs to a client that is still registered and not disabled.
// Missing or bad credentials answer 401 and a good token without the right answers 403, each with
// an RFC 6750 §3 WWW-Authenticate challenge naming the realm and the scope. A refused token of an
// authenticated client is reported to `onRefused` (for the ledger) before the answer.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppContext } from '../../context/app-context.js';
import { sendError } from '../../http/error-reply.js';
import { ResourceAuthenticator } from './authenticator.js';
import { NO_CREDENTIALS, ResourceAccessError } from './errors.js';
import type { VerifiedAccessToken } from './verify-access-token.js';

export interface ServiceClientGuardOptions {
  /** The API's resource indicator, the `aud` its tokens must carry. */
  audience: string;
  scope: string;
  /** The API's name in error descriptions, e.g. "the audit API". */
  apiName: string;
  /** Called with a refused, authenticated token and the refusal before it is answered; its failure does not change the refusal. */
  onRefused?: (req: FastifyRequest, token: VerifiedAccessToken, refusal: ResourceAccessError) => Promise<void>;
}

/**
 * A Fastify preHandler admitting only service clients (see the top of this file); the admitted
 * token is kept for the request and read with `tokenOf`.
 */
export function requireServiceClient(ctx: AppContext, options: ServiceClientGuardOptions) {
  const { audience, scope, apiName } = options;
  const authenticator = new ResourceAuthenticator(ctx, { audience: { audience } });
  const tokens = new WeakMap<FastifyRequest, VerifiedAccessToken>();
  // The one serializer: the JSON error and its challenge (RFC 6750 §3). Sent before the hook
  // resolves, which stops the route (Fastify hooks: reply from an async hook).
  const deny = (reply: FastifyReply, err: ResourceAccessError) => void sendError(reply, err, { format: 'json', resource: { realm: audience, scope } });
  /** This API's words for a refused token: whether it is inactive or not for this API, nothing more. */
  const describe = (err: ResourceAccessError): ResourceAccessError => {
    if (NO_CREDENTIALS.includes(err.reason)) return new ResourceAccessError('invalid_token', `a bearer access token with the ${scope} scope is required`, err.reason);
    if (err.scheme === 'DPoP' || err.error !== 'invalid_token') return err;
    return new ResourceAccessError('invalid_token', err.reason === 'ERR_TOKEN_AUDIENCE'
      ? `the access token is not for ${apiName} (its audience must be ${audience})`
      : 'the access token is not active', err.reason);
  };

  async function guard(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    let token: VerifiedAccessToken;
    try {
      ({ token } = await authenticator.authenticate({
        method: req.method, headers: req.headers, ...(req.raw.headersDistinct ? { headersDistinct: req.raw.headersDistinct } : {}),
        publicUrl: () => `${ctx.config.issuer}${req.url.split('?')[0]}`,
      }));
    } catch (err) {
      // A status that cannot be read (503) goes to the application's error handler, with Retry-After.
      if (err instanceof ResourceAccessError && err.status < 500) {
        deny(reply, describe(err));
        return;
      }
      throw err;
    }
    const client = await ctx.storage.clients.get(token.clientId);
    if (!client || client.disabled) {
      deny(reply, new ResourceAccessError('invalid_token', `the client of this access token is no longer ${client ? 'enabled' : 'registered'}`, 'ERR_CLIENT_UNREGISTERED'));
      return;
    }
    const clientCredentials = token.grantId === null && token.subject === token.clientId;
    if (!clientCredentials || !token.scopes.includes(scope)) {
      const refusal = new ResourceAccessError('insufficient_scope', clientCredentials
        ? `the access token lacks the ${scope} scope`
        : `${apiName} accepts only client_credentials access tokens`, 'ERR_INSUFFICIENT_SCOPE', { requiredScope: scope });
      await options.onRefused?.(req, token, refusal).catch(() => undefined);
      deny(reply, refusal);
      return;
    }
    tokens.set(req, token);
  }
  return Object.assign(guard, {
    /** The admitted token of a request the guard let through. */
    tokenOf(req: FastifyRequest): VerifiedAccessToken {
      const token = tokens.get(req);
      if (!token) throw new TypeError('tokenOf: the request did not pass the service-client guard');
      return token;
    },
  });
}
