// The one catalogue of this server's error codes (STYLE.md habit 3). Two vocabularies, and only
// these two:
//
// - `error`: what a client reads in the `error` member of a JSON error, in a WWW-Authenticate
//   challenge or in an OperationOutcome's diagnostics. The OAuth codes as their RFCs define them,
//   each with its default HTTP status, plus the two codes this server answers where no OAuth code
//   fits (`not_found`, `bad_gateway`). OAuthError (oauth-error.ts) and its subclasses carry one.
// - `reason` / `code`: a stable ERR_* name of why something failed, for the logs, the audit ledger
//   and operators; never sent as an `error`. InternalError (internal-error.ts) and its subclasses
//   carry one as `code`, a refusal at a protected resource as `reason`.
//
// Messages and descriptions never hold a value: no PHI, token, secret or username. The one
// serializer (serializer.ts) decides what of an error a client sees.

/**
 * OAuth error codes and their default status: RFC 6749 §4.1.2.1 and §5.2; RFC 6750 §3.1; RFC 7009
 * §2.2.1; RFC 7591 §3.2.2; RFC 8707 §2; RFC 9449 §5, §7.1 (invalid_dpop_proof) and §8, §9
 * (use_dpop_nonce: 400 at the token endpoint, 401 at a protected resource); OpenID Connect Core
 * §3.1.2.6.
 */
export const OAUTH_ERROR_STATUS = {
  invalid_request: 400,
  invalid_client: 401,
  invalid_grant: 400,
  unauthorized_client: 400,
  unsupported_grant_type: 400,
  unsupported_response_type: 400,
  invalid_scope: 400,
  invalid_target: 400,
  access_denied: 403,
  server_error: 500,
  temporarily_unavailable: 503,
  unsupported_token_type: 400,
  invalid_token: 401,
  insufficient_scope: 403,
  invalid_dpop_proof: 400,
  use_dpop_nonce: 400,
  login_required: 400,
  consent_required: 400,
  interaction_required: 400,
  invalid_redirect_uri: 400,
  invalid_client_metadata: 400,
} as const satisfies Record<string, number>;

export type OAuthErrorCode = keyof typeof OAUTH_ERROR_STATUS;

/** The codes of this server's answers that are not OAuth errors: an unknown path, and the gateway's upstream failing. */
export const SERVER_ERROR_STATUS = {
  not_found: 404,
  bad_gateway: 502,
} as const satisfies Record<string, number>;

/** Every `error` this server sends. */
export type ErrorCode = OAuthErrorCode | keyof typeof SERVER_ERROR_STATUS;

export const ERROR_STATUS: Readonly<Record<ErrorCode, number>> = { ...OAUTH_ERROR_STATUS, ...SERVER_ERROR_STATUS };

/** Storage, the cache and the ledger's sink (InternalError). ERR_*_UNAVAILABLE is answered 503 with Retry-After. */
export type StorageReason = 'ERR_CONFLICT' | 'ERR_NOT_FOUND' | 'ERR_STORAGE' | 'ERR_STORAGE_UNAVAILABLE' | 'ERR_AUDIT_UNAVAILABLE';

/** Deployment and key material (InternalError, CryptoError): what an operator must fix, or a sealed value that failed. */
export type ConfigReason =
  /** A deployment problem: a missing, malformed or exposed master key, a bad setting. */
  | 'ERR_CONFIG'
  /** A sealed value or key that failed authentication or parsing, or no usable signing key. */
  | 'ERR_CRYPTO'
  /** A claim outside the access-token allow-list, or a value it may not hold (src/oauth/tokens/access-token.ts). */
  | 'ERR_CLAIM_NOT_ALLOWED'
  /** The dev CA's folder is not a folder (src/crypto/dev-ca.ts). */
  | 'ERR_DEV_CERT_DIR'
  /** Plain HTTP asked for on a non-loopback address (src/http/tls.ts). */
  | 'ERR_PLAIN_HTTP_NOT_LOOPBACK'
  /** The compliance probe was sent to another origin than the one it checks (src/compliance/probe/http.ts). */
  | 'ERR_PROBE_OFF_ORIGIN';

export type InternalReason = StorageReason | ConfigReason;

/** The audit ledger's pure parts (AuditError, src/audit/errors.ts). */
export type AuditReason =
  /** A Ledger option, or an argument of a ledger function, is out of range. */
  | 'ERR_AUDIT_INVALID_ARGUMENT'
  /** An event handed to record() cannot be stored (a required member is missing, a value is not I-JSON). */
  | 'ERR_AUDIT_INVALID_EVENT'
  /** The stored log contradicts a signed checkpoint: it was tampered with (see verifyLedger). */
  | 'ERR_AUDIT_INTEGRITY'
  /** A value that RFC 8785 (JCS) cannot canonicalise: a non-finite number, a lone surrogate, a class instance… */
  | 'ERR_JCS_UNSUPPORTED'
  /** A key string (verifier key, signer key) is malformed. */
  | 'ERR_NOTE_KEY'
  /** A signed note or checkpoint text is malformed. */
  | 'ERR_NOTE_MALFORMED'
  /** No signature of a known key verified. */
  | 'ERR_NOTE_UNVERIFIED';

/** Why an RFC 9162 Merkle proof did not verify (ProofError, returned by src/audit/proof-verify.ts). */
export type ProofReason =
  /** A hash is not 32 bytes (or not 64 hex digits in proof JSON). */
  | 'ERR_PROOF_HASH_SIZE'
  /** leaf_index >= tree_size, or first > second: the proof cannot exist. */
  | 'ERR_PROOF_OUT_OF_RANGE'
  /** The proof has more or fewer hashes than RFC 9162 gives for these sizes. */
  | 'ERR_PROOF_LENGTH'
  /** The root computed from the proof differs from the expected root. */
  | 'ERR_PROOF_ROOT_MISMATCH'
  /** The proof JSON is not of the expected shape. */
  | 'ERR_PROOF_MALFORMED';

/** A scope string that is not SMART App Launch 2.2 scope syntax (ScopeSyntaxError, src/smart/scopes.ts). */
export type ScopeReason = 'ERR_SCOPE_CHARACTERS' | 'ERR_SCOPE_RESOURCE_TYPE' | 'ERR_SCOPE_PERMISSIONS' | 'ERR_SCOPE_QUERY' | 'ERR_SCOPE_CONTEXT';

/** Why a protected resource refused a request's credentials (ResourceAccessError, src/oauth/resource-server/). */
export type ResourceAccessReason =
  | 'ERR_TOKEN_MISSING'
  | 'ERR_TOKEN_IN_QUERY'
  | 'ERR_TOKEN_SCHEME'
  | 'ERR_TOKEN_MALFORMED'
  | 'ERR_TOKEN_ALG'
  | 'ERR_TOKEN_TYP'
  | 'ERR_TOKEN_UNKNOWN_KEY'
  | 'ERR_TOKEN_SIGNATURE'
  | 'ERR_TOKEN_EXPIRED'
  | 'ERR_TOKEN_NOT_YET_VALID'
  | 'ERR_TOKEN_ISSUER'
  | 'ERR_TOKEN_AUDIENCE'
  | 'ERR_TOKEN_CLAIMS'
  | 'ERR_TOKEN_REVOKED'
  | 'ERR_DPOP_BINDING'
  | 'ERR_DPOP_PROOF'
  | 'ERR_DPOP_NONCE'
  | 'ERR_INSUFFICIENT_SCOPE'
  | 'ERR_STATUS_UNAVAILABLE'
  /** A resource's own rule: the token's client is no longer registered (the audit API). */
  | 'ERR_CLIENT_UNREGISTERED'
  /** A resource's own rule: a browser request from a foreign Origin (the MCP server; DNS rebinding). */
  | 'ERR_ORIGIN_NOT_ALLOWED';

/** Why the PHI gateway refused or failed a request, recorded in its ledger event (GatewayDenial, src/gateway/errors.ts). */
export type GatewayReason =
  | ResourceAccessReason
  | 'ERR_NO_PATIENT_CONTEXT'
  | 'ERR_PATIENT_COMPARTMENT'
  | 'ERR_NOT_ON_PANEL'
  | 'ERR_SEARCH_PATIENT_PARAM'
  | 'ERR_NOT_IN_COMPARTMENT_TYPES'
  | 'ERR_INTERACTION_NOT_ALLOWED'
  | 'ERR_PATH_NOT_ALLOWED'
  | 'ERR_NO_RULE'
  | 'ERR_BODY_INVALID'
  | 'ERR_BODY_TOO_LARGE'
  | 'ERR_BATCH_ENTRY'
  | 'ERR_UPSTREAM_UNAVAILABLE'
  | 'ERR_UPSTREAM_TIMEOUT'
  | 'ERR_UPSTREAM_TOO_LARGE'
  | 'ERR_UPSTREAM_FORMAT'
  | 'ERR_UPSTREAM_MISMATCH'
  | 'ERR_AUDIT_UNAVAILABLE'
  | 'ERR_GATEWAY_INTERNAL';

/** Every ERR_* reason of this server. */
export type ErrorReason = InternalReason | AuditReason | ProofReason | ScopeReason | GatewayReason;
