// The error of a failed client authentication. RFC 6749 §5.2 (invalid_client): "If the client
// attempted to authenticate via the "Authorization" request header field, the authorization server
// MUST respond with an HTTP 401 (Unauthorized) status code and include the "WWW-Authenticate"
// response header field matching the authentication scheme used by the client."
// Its own module so that the strategies and the failure throttle can throw it without importing
// the client-auth entry point (src/oauth/client-auth/index.ts), which imports them.
import { OAuthError } from '../../errors/oauth-error.js';

/** The challenge sent with every 401 invalid_client (the serializer, src/errors/serializer.ts, writes it as WWW-Authenticate). */
export const CLIENT_AUTH_CHALLENGE = 'Basic realm="caduceus"';

/** RFC 6749 §5.2: a 401 invalid_client carries a WWW-Authenticate challenge. */
export class ClientAuthError extends OAuthError {
  constructor(base: OAuthError, readonly challenge: string) {
    super(base.error, base.description, base.detail, base.status);
  }

  override headers(): Record<string, string> {
    return { 'www-authenticate': this.challenge };
  }
}
