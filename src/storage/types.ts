// Storage contracts, one small interface per aggregate. Every adapter (SQLite, PostgreSQL) passes
// the same contract suite in test/storage/contract.test.ts.
//
// Conventions for every store:
// - Times are epoch milliseconds (numbers).
// - Secrets are never stored by value: tokens and codes by a keyed digest (HMAC-SHA-256 under a
//   key derived from the master key), client secrets by a keyed digest, passwords as argon2id.
//   The `digest` fields below are those digests (hex); the stores never see a raw secret.
// - Sensitive grant data is stored encrypted (`sealed`: an AES-256-GCM envelope, see
//   src/crypto/envelope.ts); the store treats it as an opaque string.
// - "Consume" operations are atomic: of any number of concurrent calls with the same digest, at
//   most one gets the record (UPDATE … WHERE consumed_at IS NULL RETURNING …).
// - create/save/add fail with an InternalError 'ERR_CONFLICT' (src/errors/internal-error.ts) when a
//   record with the same key exists; they never overwrite. Only ClientStore.upsert replaces.
// - Error messages name the table, never a value.

export type TokenEndpointAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'none';
/** RFC 6749 grant types and RFC 8693 token exchange (src/oauth/grants/token-exchange.ts). */
export type GrantType = 'authorization_code' | 'refresh_token' | 'client_credentials' | 'urn:ietf:params:oauth:grant-type:token-exchange';

export interface ClientRecord {
  clientId: string;
  name: string;
  grantTypes: GrantType[];
  redirectUris: string[];
  /** Space-separated scopes the client may request. */
  scope: string;
  /** Resource indicators (RFC 8707) the client may ask tokens for. */
  resources: string[];
  tokenEndpointAuthMethod: TokenEndpointAuthMethod;
  /** Keyed digest of the server-generated client secret (hex), for client_secret_* methods. */
  secretDigest: string | null;
  jwksUri: string | null;
  /** Inline JWKS (JSON text) for private_key_jwt. */
  jwks: string | null;
  /**
   * 'config' for clients declared in the YAML file (GitOps), 'admin' for CLI-managed ones, 'dynamic'
   * for AI agents that registered themselves (RFC 7591, src/oauth/endpoints/register.ts);
   * 'metadata_document' for an agent known by its Client ID Metadata Document (src/oauth/clients.ts),
   * which is never stored.
   */
  source: 'config' | 'admin' | 'dynamic' | 'metadata_document';
  createdAt: number;
  updatedAt: number;
  /**
   * Migration 010, dynamic clients only: keyed digest (hex) of the RFC 7592 registration access
   * token. Absent (a NULL column) for every other client, and then no token reads or deletes it.
   */
  registrationTokenDigest?: string | null;
  /** Migration 010, dynamic clients only: the RFC 7591 §2 descriptive metadata the agent registered. Absent when none. */
  registrationMetadata?: ClientRegistrationMetadata | null;
  /**
   * Migration 012: an administrator disabled the client; it is refused everywhere and kept for the
   * record. Absent when enabled; set only by ClientStore.setDisabled (upsert leaves it alone).
   */
  disabled?: boolean;
}

/** RFC 7591 §2 metadata that describes a self-registered client; shown, never trusted for a decision. */
export interface ClientRegistrationMetadata {
  clientUri?: string;
  logoUri?: string;
  softwareId?: string;
  softwareVersion?: string;
}

export interface ClientStore {
  /** Inserts or replaces the client with this clientId. */
  upsert(client: ClientRecord): Promise<void>;
  get(clientId: string): Promise<ClientRecord | undefined>;
  list(): Promise<ClientRecord[]>;
  /** Removes the client; resolves false when it did not exist. */
  remove(clientId: string): Promise<boolean>;
  /** Disables or enables the client (migration 012); resolves false when it does not exist. */
  setDisabled(clientId: string, disabled: boolean): Promise<boolean>;
}

/** What a person may do (45 CFR 164.308(a)(4) access authorization); see src/identity/role-policy.ts. */
export type UserRole = 'patient' | 'practitioner' | 'administrator';

export interface UserRecord {
  /** Opaque, random, stable subject identifier (never an e-mail, name or MRN). */
  id: string;
  username: string;
  /** argon2id hash. */
  passwordHash: string;
  disabled: boolean;
  /** Optional FHIR reference the user is linked to (e.g. Patient/123); identifiers only. */
  fhirUser: string | null;
  createdAt: number;
  /**
   * Migration 003. Absent (a NULL column) reads as 'patient': accounts created before roles existed
   * and records written without one. src/admin/users.ts always sets it.
   */
  role?: UserRole;
  /** Migration 006. FHIR Patient ids (e.g. "123") a practitioner may pick at launch; empty when none. */
  patientPanel?: string[];
  /** Migration 006. May request emergency (break-glass) access (45 CFR 164.312(a)(2)(ii)). */
  breakGlass?: boolean;
}

export interface UserStore {
  /** Fails with ERR_CONFLICT when the username is taken. */
  create(user: UserRecord): Promise<void>;
  getById(id: string): Promise<UserRecord | undefined>;
  /** Exact, case-sensitive match. */
  getByUsername(username: string): Promise<UserRecord | undefined>;
  list(): Promise<UserRecord[]>;
  setDisabled(id: string, disabled: boolean): Promise<boolean>;
  /** Resolves false when the id is unknown. */
  setRole(id: string, role: UserRole): Promise<boolean>;
  /** Replaces the practitioner's patient panel (FHIR Patient ids); resolves false when the id is unknown. */
  setPatientPanel(id: string, patients: readonly string[]): Promise<boolean>;
  /** Grants or withdraws the break-glass permission; resolves false when the id is unknown. */
  setBreakGlass(id: string, allowed: boolean): Promise<boolean>;
  /** Replaces the argon2id password hash; resolves false when the id is unknown. */
  setPasswordHash(id: string, passwordHash: string): Promise<boolean>;
  /**
   * One page of accounts by username (LIMIT/OFFSET; the accounts table is small), optionally only
   * those whose username contains `usernameContains` in any letter case (`%` and `_` match
   * themselves).
   */
  search(filter: { usernameContains?: string; limit: number; offset: number }): Promise<UserRecord[]>;
}

export interface SigningKeyRecord {
  kid: string;
  alg: 'ES256';
  /** Public JWK (JSON text). */
  publicJwk: string;
  /** Private JWK sealed under the master key. */
  privateSealed: string;
  createdAt: number;
  /** Not used for signing before this time (published first, RFC 7517 key rollover). */
  activatesAt: number;
  /** Stops signing at this time (set by rotation); null while current. */
  retiredAt: number | null;
  /** Removed from the JWKS after this time (every token it signed has expired); null while in use. */
  expiresAt: number | null;
}

export interface SigningKeyStore {
  add(key: SigningKeyRecord): Promise<void>;
  /** All keys, newest first. */
  list(): Promise<SigningKeyRecord[]>;
  /** Sets retiredAt and expiresAt of one key; fails with ERR_NOT_FOUND when the kid is unknown. */
  retire(kid: string, retiredAt: number, expiresAt: number): Promise<void>;
}

export interface AuthorizationCodeRecord {
  digest: string;
  clientId: string;
  /** The grant this code starts; tokens issued from it carry this grant id. */
  grantId: string;
  /** Sealed JSON: { userId, redirectUri, codeChallenge, scope, resource, consentId, nonce, authTime, sessionId }. */
  sealed: string;
  expiresAt: number;
  consumedAt: number | null;
}

export type ConsumeResult<T> =
  | { status: 'ok'; record: T }
  /** The value was already consumed: a replay. The record is returned so the caller can revoke its grant. */
  | { status: 'replayed'; record: T }
  | { status: 'unknown' };

export interface AuthorizationCodeStore {
  save(code: AuthorizationCodeRecord): Promise<void>;
  /** Looks a code up without consuming it (whose client it was issued to is checked first). */
  get(digest: string): Promise<AuthorizationCodeRecord | undefined>;
  /** Atomically marks the code consumed (at `now`). Expired codes are reported as they are; the caller checks expiresAt. */
  consume(digest: string, now: number): Promise<ConsumeResult<AuthorizationCodeRecord>>;
}

/**
 * SMART App Launch 2.2 launch context of a grant: identifiers only (FHIR ids and references, never
 * demographics). Returned in the token response and by introspection.
 */
export interface LaunchContext {
  /** FHIR Patient id (e.g. "123"). */
  patient?: string;
  /** FHIR Encounter id. */
  encounter?: string;
  /** SMART fhirContext: references to other resources in context (e.g. {"reference": "Appointment/5"}). */
  fhirContext?: Array<{ reference?: string; canonical?: string; type?: string; role?: string }>;
  needPatientBanner?: boolean;
  smartStyleUrl?: string;
  /** HL7 v3 PurposeOfUse code; "ETREAT" (emergency treatment) for a break-glass grant. */
  purposeOfUse?: string;
  /** The break_glass_accesses id of an emergency grant. */
  breakGlassId?: string;
  /**
   * The user id an EHR launch was made for (the launch API's `user`): only that account may
   * redeem it. Never part of a token response; not kept on the grant.
   */
  forUser?: string;
}

export interface GrantRecord {
  /** Random id; every code, refresh token and access token of one authorization links to it. */
  grantId: string;
  clientId: string;
  /** null for client_credentials. */
  userId: string | null;
  consentId: string | null;
  createdAt: number;
  revokedAt: number | null;
  /** Why it was revoked: 'revoked' (RFC 7009), 'code_replay', 'refresh_reuse', 'consent_revoked', 'user_disabled'. */
  revokedReason: string | null;
  /** Migration 006: the launch context chosen at authorization (absent or null when none). */
  launchContext?: LaunchContext | null;
  /**
   * When a token was last issued under this grant: the later of its code's redemption and its
   * newest refresh token. Filled by listByUser only (computed, so issuing a token costs no extra
   * write); null when no token was issued.
   */
  lastUsedAt?: number | null;
}

export interface GrantStore {
  create(grant: GrantRecord): Promise<void>;
  get(grantId: string): Promise<GrantRecord | undefined>;
  /**
   * Revokes the grant (first reason and time win) and, in the same transaction, every refresh token
   * and access token record issued under it (also when the grant was revoked before, and also when
   * the grant row is unknown, which resolves false).
   */
  revoke(grantId: string, now: number, reason: string): Promise<boolean>;
  /** Revokes every active grant made under this consent, and their tokens, in one transaction; resolves the grant ids it revoked. */
  revokeByConsent(consentId: string, now: number, reason: string): Promise<string[]>;
  /** Revokes every active grant of a user and their tokens (account disabled); resolves the revoked grant ids. */
  revokeByUser(userId: string, now: number, reason: string): Promise<string[]>;
  /** Revokes every active grant of a client and their tokens (client deleted); resolves the revoked grant ids. */
  revokeByClient(clientId: string, now: number, reason: string): Promise<string[]>;
  /** The user's grants, newest first (active and revoked), each with lastUsedAt. */
  listByUser(userId: string): Promise<GrantRecord[]>;
  /**
   * One page of grants matching every filter given (at least one), newest first (created_at, then
   * grant_id, descending), each with lastUsedAt; `before` continues after the last grant of the
   * previous page (keyset paging).
   */
  search(filter: GrantSearch): Promise<GrantRecord[]>;
}

/** What GrantStore.search filters on; each given filter must hold. */
export interface GrantSearch {
  userId?: string;
  clientId?: string;
  /**
   * A FHIR Patient id: grants whose launch context names this patient, and grants of accounts
   * linked to Patient/<id> (fhirUser), whose own record their scopes reach.
   */
  patient?: string;
  before?: { createdAt: number; grantId: string };
  limit: number;
}

/** An EHR launch context (SMART App Launch 2.2 EHR launch), waiting to be redeemed by one authorization request. */
export interface LaunchContextRecord {
  /** Keyed digest of the opaque `launch` value; the value itself is never stored. */
  digest: string;
  /** The client the launch is for; another client cannot redeem it. */
  clientId: string;
  context: LaunchContext;
  /** Who created it (the EHR client id). */
  createdBy: string;
  createdAt: number;
  expiresAt: number;
  consumedAt: number | null;
}

export interface LaunchContextStore {
  save(record: LaunchContextRecord): Promise<void>;
  /** Atomically marks it consumed; the caller checks expiry and client. */
  consume(digest: string, now: number): Promise<ConsumeResult<LaunchContextRecord>>;
}

/** One emergency access (45 CFR 164.312(a)(2)(ii)), open until reviewed. */
export interface BreakGlassAccessRecord {
  id: string;
  userId: string;
  clientId: string;
  grantId: string;
  /** FHIR Patient id. */
  patient: string;
  /** The practitioner's stated reason (mandatory). Kept here, not in logs. */
  reason: string;
  createdAt: number;
  expiresAt: number;
  reviewedAt: number | null;
  reviewedBy: string | null;
  reviewOutcome: 'justified' | 'unjustified' | null;
  reviewNote: string | null;
}

export interface BreakGlassStore {
  create(record: BreakGlassAccessRecord): Promise<void>;
  get(id: string): Promise<BreakGlassAccessRecord | undefined>;
  /** Accesses not yet reviewed, oldest first. */
  listOpen(): Promise<BreakGlassAccessRecord[]>;
  /** Records the review once; resolves false when unknown or already reviewed. */
  review(id: string, review: { reviewedAt: number; reviewedBy: string; outcome: 'justified' | 'unjustified'; note: string | null }): Promise<boolean>;
  /**
   * Webhook delivery (src/breakglass/notify.ts). Takes the next delivery round of an undelivered
   * access: only when `rounds` rounds were started so far (compare-and-set, so one caller of many
   * wins), counting this one and holding it until `leaseUntil`. Resolves false otherwise.
   */
  claimDelivery(id: string, rounds: number, leaseUntil: number): Promise<boolean>;
  /** Sets when the next round of an undelivered access is due. */
  deferDelivery(id: string, nextAt: number): Promise<void>;
  /** Marks the notification delivered (the first time only). */
  markDelivered(id: string, at: number): Promise<void>;
  /**
   * Undelivered accesses created at or after `since` whose next round is due at `now` (an access
   * without any round yet is due `grace` ms after its creation), oldest first, with the rounds
   * started so far.
   */
  dueDeliveries(now: number, since: number, grace: number, limit: number): Promise<Array<{ access: BreakGlassAccessRecord; rounds: number }>>;
}

export interface RefreshTokenRecord {
  digest: string;
  grantId: string;
  clientId: string;
  /** Sealed JSON: { userId, scope, resource, consentId, authTime }. */
  sealed: string;
  createdAt: number;
  /** Idle expiry of this token (each rotation moves it forward, never past absoluteExpiresAt). */
  expiresAt: number;
  /** Absolute expiry of the family, fixed when the grant started. */
  absoluteExpiresAt: number;
  consumedAt: number | null;
  revokedAt: number | null;
}

export interface RefreshTokenStore {
  save(token: RefreshTokenRecord): Promise<void>;
  /** Looks a token up without consuming it (introspection, revocation). */
  get(digest: string): Promise<RefreshTokenRecord | undefined>;
  /**
   * Atomically consumes the token (rotation). 'replayed' when it was consumed before: the caller
   * revokes the whole grant (family). A revoked token is returned as 'ok' with revokedAt set; the
   * caller checks revokedAt and expiry.
   */
  consume(digest: string, now: number): Promise<ConsumeResult<RefreshTokenRecord>>;
  /**
   * Undoes a rotation that produced no answer (its audit event could not be written): deletes the
   * token issued in its place (never delivered, so nobody holds it) and makes the consumed one
   * usable again, only while it is still the consumption made at `consumedAt`. A token revoked in
   * the meantime (reuse detected) stays revoked. Resolves whether the consumed token was restored.
   */
  undoRotation(consumedDigest: string, consumedAt: number, issuedDigest: string | undefined): Promise<boolean>;
}

export interface AccessTokenRecord {
  jti: string;
  grantId: string;
  clientId: string;
  expiresAt: number;
  revokedAt: number | null;
}

/** JWT access tokens are self-contained, but their jti is recorded so they can be revoked (RFC 7009) and introspected. */
export interface AccessTokenStore {
  save(token: AccessTokenRecord): Promise<void>;
  get(jti: string): Promise<AccessTokenRecord | undefined>;
  /** Sets revokedAt (the first revocation time is kept); resolves false when the jti is unknown. */
  revoke(jti: string, now: number): Promise<boolean>;
  /** Deletes records that expired before `before`; resolves how many. */
  purgeExpired(before: number): Promise<number>;
}

export interface ConsentRecord {
  id: string;
  userId: string;
  clientId: string;
  scopesGranted: string[];
  scopesDenied: string[];
  resource: string | null;
  createdAt: number;
  clientAddress: string;
  userAgent: string;
  /** Version of the consent text shown to the user. */
  textVersion: string;
  revokedAt: number | null;
}

export interface ConsentStore {
  create(consent: ConsentRecord): Promise<void>;
  get(id: string): Promise<ConsentRecord | undefined>;
  /** Active and revoked consents of a user, newest first. */
  listByUser(userId: string): Promise<ConsentRecord[]>;
  /** The newest active consent of this user for this client and resource (null resource matches null). */
  findActive(userId: string, clientId: string, resource: string | null): Promise<ConsentRecord | undefined>;
  /** Sets revokedAt (the first revocation time is kept); resolves false when the id is unknown. Does not touch grants: see GrantStore.revokeByConsent. */
  revoke(id: string, now: number): Promise<boolean>;
}

export interface SessionRecord {
  /** Keyed digest of the session cookie value. */
  digest: string;
  userId: string;
  createdAt: number;
  lastSeenAt: number;
  authTime: number;
  /** Authentication methods used (RFC 8176), e.g. ["pwd"]. */
  amr: string[];
}

export interface SessionStore {
  create(session: SessionRecord): Promise<void>;
  get(digest: string): Promise<SessionRecord | undefined>;
  /** Moves lastSeenAt forward to now (never back); unknown digests are ignored. */
  touch(digest: string, now: number): Promise<void>;
  /** Idempotent. */
  remove(digest: string): Promise<void>;
  /** Ends every session of the user (a new password); resolves how many. */
  removeByUser(userId: string): Promise<number>;
}

export interface InteractionRecord {
  /** Random id used in the interaction page URLs. */
  id: string;
  /** Keyed digest of the browser-binding cookie value that started this interaction. */
  browserDigest: string;
  /** Sealed JSON of the validated authorization request. */
  sealed: string;
  createdAt: number;
  expiresAt: number;
}

export interface InteractionStore {
  save(interaction: InteractionRecord): Promise<void>;
  /** Returns expired interactions too; the caller checks expiresAt. */
  get(id: string): Promise<InteractionRecord | undefined>;
  /** Idempotent. */
  remove(id: string): Promise<void>;
}

/** One-time values (private_key_jwt jti, RFC 7523 §3): remembered until they expire. */
export interface ReplayStore {
  /**
   * Records the value; resolves false when it was already recorded and has not expired (an entry
   * has expired when its expiresAt <= now). Of concurrent calls with one key, exactly one resolves true.
   */
  useOnce(key: string, expiresAt: number, now: number): Promise<boolean>;
}

/**
 * Counters of failed logins per account and per address (sliding window (now - windowMs, now]).
 * Hits are pruned opportunistically: a key's hits older than the window of a hit() on it, and
 * every hit older than 24 h (or the widest window seen). Use one window per key.
 */
export interface ThrottleStore {
  /** Adds one failure for the key and resolves the failures in the window ending now. */
  hit(key: string, now: number, windowMs: number): Promise<number>;
  count(key: string, now: number, windowMs: number): Promise<number>;
  reset(key: string): Promise<void>;
}

/** One key's count in one fixed window of a request rate limit (src/http/rate-limit.ts), to add to the shared total. */
export interface RateLimitShare {
  /** The limit's name, e.g. "token_endpoints.per_client". */
  limit: string;
  /** A keyed digest of the key (never an address or a client id as such). */
  keyDigest: string;
  windowStart: number;
  /** Requests to add; 0 only reads the total. */
  delta: number;
}

/**
 * Request rate-limit counts shared by every instance (migration 009; in Redis with `cache`).
 * add() adds each share's delta to its window's total atomically and resolves the totals, in order.
 * A window's count may be deleted once the window has ended (`expiresAt`).
 */
export interface RateLimitCountStore {
  add(shares: readonly RateLimitShare[], expiresAt: number): Promise<number[]>;
}

/**
 * Per-client security requirements (migration 004: columns of the client's row, so removing the
 * client removes them, and ClientStore.upsert leaves them alone). RFC 9449 §5.2
 * `dpop_bound_access_tokens`: every token request must carry a DPoP proof; RFC 9126 §6
 * `require_pushed_authorization_requests`: authorization requests must come through PAR.
 */
export interface ClientPolicyRecord {
  dpopBoundAccessTokens: boolean;
  requirePushedAuthorizationRequests: boolean;
  /**
   * Per-client automatic logoff (migration 006, 45 CFR 164.312(a)(2)(iii)), in seconds: a session
   * unused for this long (idle) or older than this (absolute) must sign in again for this client.
   * Absent when not set (only the global `session.*` limits apply). Stored as given: whoever
   * enforces them caps them by the global limits (src/interaction/client-session-policy.ts).
   */
  sessionIdleTimeout?: number;
  sessionAbsoluteTimeout?: number;
}

/** The two per-client session limits of a ClientPolicyRecord; an absent one is "not set". */
export type ClientSessionLimits = Pick<ClientPolicyRecord, 'sessionIdleTimeout' | 'sessionAbsoluteTimeout'>;

export interface ClientPolicyStore {
  /**
   * The client's flags, and its session limits when set (an unset limit is an absent key, never
   * null or undefined-valued); undefined when the client does not exist.
   */
  get(clientId: string): Promise<ClientPolicyRecord | undefined>;
  /** Sets both flags and leaves the session limits alone; resolves false when the client does not exist. */
  set(clientId: string, policy: Pick<ClientPolicyRecord, 'dpopBoundAccessTokens' | 'requirePushedAuthorizationRequests'>): Promise<boolean>;
  /**
   * Replaces both session limits: a limit absent from `limits` is cleared. Each given limit must be
   * a positive whole number of seconds (fails with ERR_STORAGE otherwise, writing nothing; callers
   * validate first). Leaves the flags alone; resolves false when the client does not exist.
   */
  setSessionLimits(clientId: string, limits: ClientSessionLimits): Promise<boolean>;
}

/** A pushed authorization request (RFC 9126): the validated request, waiting for /authorize. */
export interface PushedAuthorizationRequestRecord {
  /** Keyed digest of the client id and the request_uri; the request_uri itself is never stored. */
  digest: string;
  clientId: string;
  /** Sealed JSON of the validated authorization request. */
  sealed: string;
  createdAt: number;
  expiresAt: number;
  consumedAt: number | null;
}

export interface PushedAuthorizationRequestStore {
  /** Fails with ERR_CONFLICT when the digest exists. Records that expired are pruned now and then. */
  save(request: PushedAuthorizationRequestRecord): Promise<void>;
  /**
   * Atomically marks the request used (RFC 9126 §4: "one-time use"); 'replayed' when it was used
   * before. Expired requests are returned as they are; the caller checks expiresAt.
   */
  consume(digest: string, now: number): Promise<ConsumeResult<PushedAuthorizationRequestRecord>>;
}

/**
 * RFC 9449 §10: authorization codes bound to a DPoP key (`dpop_jkt`), keyed by a digest of the
 * client and the PKCE challenge the codes carry.
 */
export interface DpopCodeBindingStore {
  /**
   * Binds the key to `jkt` until expiresAt. Resolves true when it is now bound to `jkt` (also when
   * it already was), false when an unexpired binding names another jkt (first binding wins).
   */
  bind(key: string, jkt: string, expiresAt: number, now: number): Promise<boolean>;
  /** The bound jkt, or undefined when there is none or it expired (expiresAt <= now). */
  get(key: string, now: number): Promise<string | undefined>;
}

/**
 * A second authentication factor of a user (migration 003): a TOTP authenticator (RFC 6238) or a
 * WebAuthn credential (passkey). Only confirmed factors are stored: enrolment keeps its pending
 * secret in a PendingLoginRecord until the user proves it works.
 */
export interface MfaFactorRecord {
  /** Random id; also the AAD of `sealed`. */
  id: string;
  userId: string;
  kind: 'totp' | 'webauthn';
  /** Shown on the account page, e.g. "Authenticator app" (never a secret). */
  label: string;
  /**
   * Sealed JSON. TOTP: { secret } (base32); WebAuthn: { credentialId, publicKey, transports }
   * (base64url). Sealed also when not secret, so a changed row fails to open.
   */
  sealed: string;
  /**
   * TOTP: the last accepted time step (RFC 6238 §5.2: an accepted code is never accepted again);
   * WebAuthn: the authenticator's signature counter.
   */
  counter: number;
  createdAt: number;
  lastUsedAt: number | null;
}

export interface MfaFactorStore {
  /** Fails with ERR_CONFLICT when the id exists. */
  create(factor: MfaFactorRecord): Promise<void>;
  /** The user's factors, oldest first. */
  listByUser(userId: string): Promise<MfaFactorRecord[]>;
  /**
   * Atomically moves the counter forward to `counter` (UPDATE … WHERE counter < $counter): of any
   * number of concurrent calls with the same value at most one resolves true. TOTP replay check.
   */
  advanceCounter(id: string, counter: number, now: number): Promise<boolean>;
  /** Sets the counter and lastUsedAt (WebAuthn; the library checks the counter). False when unknown. */
  recordUse(id: string, counter: number, now: number): Promise<boolean>;
  /** Removes one factor of this user (the user removing it from their account page); false when the user has no such factor. */
  remove(userId: string, id: string): Promise<boolean>;
  /** Removes every factor of the user; resolves how many. */
  removeByUser(userId: string): Promise<number>;
}

/** A one-time recovery code, stored only as a keyed digest. */
export interface RecoveryCodeRecord {
  digest: string;
  userId: string;
  createdAt: number;
  usedAt: number | null;
}

export interface RecoveryCodeStore {
  /** Replaces every code of the user with these digests, in one transaction. */
  replace(userId: string, digests: string[], now: number): Promise<void>;
  /** Atomically marks the user's code used; resolves true at most once per code. */
  consume(userId: string, digest: string, now: number): Promise<boolean>;
  countUnused(userId: string): Promise<number>;
  /** Removes every code of the user; resolves how many. */
  removeByUser(userId: string): Promise<number>;
}

/**
 * A sign-in that passed the password step and waits for a second factor or an enrolment, or an
 * enrolment started from the account page: keyed by the digest of a browser cookie, state sealed.
 */
export interface PendingLoginRecord {
  /** Keyed digest of the pending-login cookie value; also the AAD of `sealed`. */
  digest: string;
  userId: string;
  sealed: string;
  createdAt: number;
  expiresAt: number;
}

export interface PendingLoginStore {
  /** Fails with ERR_CONFLICT when the digest exists. Expired records are pruned now and then. */
  save(record: PendingLoginRecord): Promise<void>;
  /** Returns expired records too; the caller checks expiresAt. */
  get(digest: string): Promise<PendingLoginRecord | undefined>;
  /** Replaces the sealed state; resolves false when the digest is unknown. */
  update(digest: string, sealed: string): Promise<boolean>;
  /** Idempotent. */
  remove(digest: string): Promise<void>;
}

/**
 * An administrator's decision about a self-registered AI agent (migration 011): 'approved' widens
 * the agent policy to `scope` (src/oauth/agent-policy.ts), 'refused' stops every use of the agent.
 */
export interface AgentDecisionRecord {
  /** The agent's client_id: a dynamic registration's id or a Client ID Metadata Document URL. */
  clientId: string;
  decision: 'approved' | 'refused';
  /** Space-separated scopes an approval covers; null when it names none (and always for a refusal). */
  scope: string | null;
  /** Why, in the administrator's words; shown to administrators, never to the agent. */
  reason: string | null;
  /** The administrator who decided (an actor id such as "admin:alice" or "cli:root"). */
  decidedBy: string;
  decidedAt: number;
}

export interface AgentDecisionStore {
  get(clientId: string): Promise<AgentDecisionRecord | undefined>;
  /** Every decision, newest first. */
  list(): Promise<AgentDecisionRecord[]>;
  /** Records the decision, replacing any earlier one for the same agent (a refusal stores no scope). */
  put(record: AgentDecisionRecord): Promise<void>;
  /** Withdraws the decision; resolves false when there was none. */
  delete(clientId: string): Promise<boolean>;
}

/** An administrator's console session (migration 012); never an end user's session. */
export interface AdminSessionRecord {
  /** Keyed digest of the session cookie. */
  digest: string;
  userId: string;
  createdAt: number;
  lastSeenAt: number;
  /** When the administrator last passed the second factor (sign-in or step-up). */
  stepUpAt: number;
  /** Where the session was started, for the administrator's own view; not a binding. */
  sourceAddress: string;
}

export interface AdminSessionStore {
  create(record: AdminSessionRecord): Promise<void>;
  get(digest: string): Promise<AdminSessionRecord | undefined>;
  touch(digest: string, now: number): Promise<void>;
  /** Records a passed second-factor check now (also a use of the session). */
  stepUp(digest: string, now: number): Promise<void>;
  remove(digest: string): Promise<void>;
  /** Ends every console session of the user (role change, disable); resolves how many. */
  removeByUser(userId: string): Promise<number>;
}

/** A one-time link by which a user sets their own password (migration 012). */
export interface PasswordSetLinkRecord {
  /** Keyed digest of the link's token. */
  digest: string;
  userId: string;
  /** The administrator who created it (an actor id). */
  createdBy: string;
  createdAt: number;
  expiresAt: number;
}

export interface PasswordSetLinkStore {
  create(record: PasswordSetLinkRecord): Promise<void>;
  /** The unexpired link, left in place (to show the form). */
  peek(digest: string, now: number): Promise<PasswordSetLinkRecord | undefined>;
  /** The unexpired link, removed: of two concurrent takes only one gets it. */
  take(digest: string, now: number): Promise<PasswordSetLinkRecord | undefined>;
  removeByUser(userId: string): Promise<number>;
}

export interface Storage {
  clients: ClientStore;
  users: UserStore;
  signingKeys: SigningKeyStore;
  codes: AuthorizationCodeStore;
  grants: GrantStore;
  refreshTokens: RefreshTokenStore;
  accessTokens: AccessTokenStore;
  consents: ConsentStore;
  sessions: SessionStore;
  interactions: InteractionStore;
  replay: ReplayStore;
  throttle: ThrottleStore;
  rateLimitCounts: RateLimitCountStore;
  clientPolicies: ClientPolicyStore;
  pushedRequests: PushedAuthorizationRequestStore;
  dpopCodeBindings: DpopCodeBindingStore;
  mfaFactors: MfaFactorStore;
  recoveryCodes: RecoveryCodeStore;
  pendingLogins: PendingLoginStore;
  launchContexts: LaunchContextStore;
  breakGlass: BreakGlassStore;
  agentDecisions: AgentDecisionStore;
  adminSessions: AdminSessionStore;
  passwordSetLinks: PasswordSetLinkStore;
  /** The underlying driver, for the audit ledger and health checks. */
  readonly sql: import('./sql.js').SqlDriver;
  close(): Promise<void>;
}
