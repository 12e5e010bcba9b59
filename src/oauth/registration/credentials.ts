// The two bearer credentials of dynamic client registration, both compared by keyed digest in
// constant time and never stored, logged or audited by value:
// - the initial access token (RFC 7591 §3): "the authorization server ... MAY require an initial
//   access token that is provisioned out of band"; here the value of the environment variable named
//   by agents.dynamic_registration.initial_access_token_env, read once at startup;
// - the registration access token (RFC 7592 §3): issued with each registration, 256 random bits,
//   returned once and stored only as a keyed digest (ClientRecord.registrationTokenDigest), like a
//   client secret (src/crypto/client-secret.ts) under a key of its own.
import { ConfigError, type CaduceusConfig } from '../../config/schema.js';
import { constantTimeEqual, keyedDigest } from '../../crypto/digest.js';
import type { MasterKey } from '../../crypto/master-key.js';
import { randomToken } from '../../crypto/random.js';

/** An initial access token shorter than this (bytes) is refused at startup, like a client secret. */
export const MIN_INITIAL_ACCESS_TOKEN_BYTES = 32;

// Spent on unknown clients so that timing does not tell which client ids exist.
const UNKNOWN_DIGEST = '0'.repeat(64);

type DigestKeys = Pick<MasterKey, 'digestKey'>;

function digestOf(masterKey: DigestKeys, token: string): string {
  return keyedDigest(masterKey.digestKey('registration-token'), token);
}

/**
 * The keyed digest of the initial access token, read from its environment variable at startup, or
 * undefined when dynamic registration is off or open. Throws ConfigError when the variable is
 * missing or shorter than MIN_INITIAL_ACCESS_TOKEN_BYTES.
 */
export function initialAccessTokenDigestOf(config: Pick<CaduceusConfig, 'agents'>, masterKey: DigestKeys, env: NodeJS.ProcessEnv): string | undefined {
  const settings = config.agents.dynamic_registration;
  if (!settings.enabled || settings.initial_access_token_env === undefined) return undefined;
  const name = settings.initial_access_token_env;
  const value = env[name];
  if (!value || Buffer.byteLength(value) < MIN_INITIAL_ACCESS_TOKEN_BYTES) {
    throw new ConfigError([
      `agents.dynamic_registration.initial_access_token_env: environment variable ${name} must hold a token of at least ${MIN_INITIAL_ACCESS_TOKEN_BYTES} characters (openssl rand -base64 32)`,
    ]);
  }
  return digestOf(masterKey, value);
}

/** Whether `presented` is the initial access token behind `expectedDigest`; false when there is none. */
export function verifyInitialAccessToken(masterKey: DigestKeys, presented: string, expectedDigest: string | undefined): boolean {
  const matches = constantTimeEqual(digestOf(masterKey, presented), expectedDigest ?? UNKNOWN_DIGEST);
  return matches && expectedDigest !== undefined;
}

export interface IssuedRegistrationToken {
  /** Returned once, in the registration response; never stored. */
  token: string;
  /** Goes into ClientRecord.registrationTokenDigest. */
  digest: string;
}

export function issueRegistrationAccessToken(masterKey: DigestKeys): IssuedRegistrationToken {
  const token = randomToken(32);
  return { token, digest: digestOf(masterKey, token) };
}

/** Whether `presented` is the registration access token behind `digest`, in constant time; false when the client has none. */
export function verifyRegistrationAccessToken(masterKey: DigestKeys, presented: string, digest: string | null | undefined): boolean {
  const matches = constantTimeEqual(digestOf(masterKey, presented), digest ?? UNKNOWN_DIGEST);
  return matches && typeof digest === 'string';
}
