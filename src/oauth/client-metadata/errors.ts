// The one error of Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document).
// A client whose metadata cannot be fetched or is invalid is an unknown client: `invalid_client`
// (RFC 6749 §5.2 at the token endpoint; at /authorize the caller shows the description on its own
// error page and never redirects, RFC 6749 §4.1.2.1). `problem` is a stable label for logs, audit
// events and tests; it is not sent. `description` is client-safe: it names what is wrong, never an
// address, a resolved IP, a header or a value taken from the document. `detail` (logged, never
// sent) may hold those.
import { OAuthError, type OAuthErrorCode } from '../../errors/oauth-error.js';

export type ClientMetadataProblem =
  /** Metadata documents are turned off (agents.client_id_metadata_documents: false). */
  | 'disabled'
  /** The client_id is not a valid Client Identifier URL, or a URL in the document is not fetchable. */
  | 'invalid_url'
  /** The URL names a port other than 443 that policy does not allow. */
  | 'port_not_allowed'
  /** The host is, or resolves to, an address that is not globally routable (or does not resolve). */
  | 'address_not_public'
  /** TCP connection or TLS handshake failed (including an untrusted certificate). */
  | 'connect_failed'
  /** DNS, connect, TLS, headers and body did not all finish within the time limit. */
  | 'timeout'
  /** The server answered 3xx; redirects are never followed. */
  | 'redirect'
  /** The server answered a status other than 200. */
  | 'http_status'
  /** Content-Type is not application/json or application/<x>+json, or the body is encoded. */
  | 'content_type'
  /** The body is larger than the limit (announced or counted while streaming). */
  | 'too_large'
  /** The body is not UTF-8 JSON. */
  | 'not_json'
  /** The JSON is not an acceptable Client ID Metadata Document (the description names the field). */
  | 'invalid_document'
  /** The request's redirect_uri is not one of the document's redirect_uris. */
  | 'redirect_uri_not_registered'
  /** Too many documents are being fetched at once. */
  | 'busy';

export class ClientMetadataError extends OAuthError {
  constructor(
    readonly problem: ClientMetadataProblem,
    description: string,
    detail?: string,
    code: OAuthErrorCode = 'invalid_client',
  ) {
    super(code, description, detail);
  }
}
