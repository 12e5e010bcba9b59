// Signing keys for JWTs (RFC 9068 access tokens, OIDC ID tokens): ES256 (RFC 7518 §3.4) on P-256,
// kid = RFC 7638 thumbprint of the public key, private JWK sealed under the master key (AAD = kid,
// so a sealed key cannot be moved to another record).
//
// Rollover (RFC 7517 §8.1-style, OIDC Core §10.1.1): a new key is published in the JWKS from the
// moment it is added, signs from `activatesAt`, and the key it replaces stops signing at that same
// instant (`retiredAt`) and stays published until `expiresAt`, when every token it signed has
// expired. Keys past `expiresAt` stay in the store but are never served.
//
// Several instances share one database. Each caches the key list for `cacheTtlMs` (default 5 s),
// and re-reads it early when asked for a kid it does not know. Because another instance may keep
// signing with a retired key until its cache expires, rotate() adds cacheTtlMs to the retention.
//
// Choice of publishAheadMs (default 0): rotation is CLI-driven, and with 0 the new key signs at
// once. The old key stays published, so tokens already issued keep verifying; the cost is that a
// relying party holding a cached JWKS meets the new kid before it has refetched (jose's remote JWKS
// refetches on an unknown kid, after its cooldown; this module's publicKey() does too). Scheduled
// rotations should pass publishAheadMs >= the JWKS max-age served to relying parties (and >=
// cacheTtlMs) so every verifier has the new key before the first token signed with it exists.
//
// A stored key whose kid is not the thumbprint of its public JWK, or whose sealed private key does
// not match it, fails with ERR_CRYPTO: the key table was modified, and serving it would be worse.
//
// Deliberately not here: emergency revocation of a compromised key (dropping it from the JWKS at
// once), and concurrency control between two instances running ensureKey() on an empty database
// at the same instant (both keys get created; the newer signs, the other stays published unused).

import { createPrivateKey, generateKeyPairSync, type JsonWebKey, type KeyObject } from 'node:crypto';
import type { SigningKeyRecord, SigningKeyStore } from '../storage/types.js';
import { openJson, sealJson } from './envelope.js';
import { CryptoError } from './errors.js';
import { ecJwkThumbprint } from './jwk-thumbprint.js';
import type { MasterKey } from './master-key.js';

export interface PublicJwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
  kid: string;
  alg: 'ES256';
  use: 'sig';
}

export interface Jwks {
  keys: PublicJwk[];
}

/** The key to sign with now (pass to signJwt). */
export interface ActiveSigningKey {
  kid: string;
  alg: 'ES256';
  /** The private key; node's KeyObject never prints its material. */
  key: KeyObject;
}

export interface KeyManagerOptions {
  store: SigningKeyStore;
  masterKey: MasterKey;
  /** How long a read of the store is reused, in ms (default 5000). */
  cacheTtlMs?: number;
  /** Clock for cache expiry only (default Date.now). Key validity uses the `now` arguments. */
  clock?: () => number;
}

export interface RotateOptions {
  /** Delay between publishing the new key and signing with it (default 0; see the module comment). */
  publishAheadMs?: number;
  /**
   * How long the replaced key stays published after it stops signing: the longest lifetime of a
   * token it signed, i.e. max(access token ttl, id token ttl). Required.
   */
  retainMs: number;
}

export interface RotateResult {
  kid: string;
  activatesAt: number;
  retired: Array<{ kid: string; retiredAt: number; expiresAt: number }>;
}

interface LoadedKey {
  record: SigningKeyRecord;
  jwk: PublicJwk;
}

const DEFAULT_CACHE_TTL_MS = 5_000;
/** An unknown kid triggers at most one early reload per this interval (forged kids cost no more). */
const UNKNOWN_KID_RELOAD_INTERVAL_MS = 1_000;
const COORDINATE = /^[A-Za-z0-9_-]{43}$/;

export class KeyManager {
  readonly #store: SigningKeyStore;
  readonly #masterKey: MasterKey;
  readonly #cacheTtlMs: number;
  readonly #clock: () => number;
  readonly #privateKeys = new Map<string, KeyObject>();
  #keys: LoadedKey[] = [];
  #loadedAt = Number.NEGATIVE_INFINITY;
  #loadSeq = 0;
  #appliedSeq = 0;
  #pending: Promise<void> | undefined;

  constructor(options: KeyManagerOptions) {
    const cacheTtlMs = options.cacheTtlMs ?? DEFAULT_CACHE_TTL_MS;
    if (!Number.isInteger(cacheTtlMs) || cacheTtlMs < 0) {
      throw new RangeError(`KeyManager: options.cacheTtlMs must be a non-negative integer, got ${String(cacheTtlMs)}`);
    }
    this.#store = options.store;
    this.#masterKey = options.masterKey;
    this.#cacheTtlMs = cacheTtlMs;
    this.#clock = options.clock ?? Date.now;
  }

  /** Re-reads the store now. */
  async reload(): Promise<void> {
    const seq = ++this.#loadSeq;
    const startedAt = this.#clock();
    const records = await this.#store.list();
    const keys = records.map((record) => ({ record: { ...record }, jwk: parsePublicJwk(record) }));
    keys.sort(newestFirst);
    // A slower, older read must not overwrite a newer one.
    if (seq > this.#appliedSeq) {
      this.#appliedSeq = seq;
      this.#keys = keys;
      this.#loadedAt = startedAt;
    }
  }

  /** On first start (or when no key can sign at `now`), generates a key that signs from `now`. */
  async ensureKey(now: number): Promise<{ kid: string; created: boolean }> {
    checkTime(now, 'ensureKey: now');
    await this.reload();
    const active = this.#activeAt(now);
    if (active !== undefined) {
      return { kid: active.record.kid, created: false };
    }
    const record = this.#generate(now, now);
    await this.#store.add(record);
    await this.reload();
    return { kid: record.kid, created: true };
  }

  /**
   * Adds a new key (published at once, signing from now + publishAheadMs) and retires every key
   * still in service: they stop signing when the new key starts and stay published for retainMs
   * (+ cacheTtlMs) after that (or longer, if an earlier rotation already set a later expiry).
   */
  async rotate(now: number, options: RotateOptions): Promise<RotateResult> {
    checkTime(now, 'rotate: now');
    const publishAheadMs = options.publishAheadMs ?? 0;
    checkDuration(publishAheadMs, 'rotate: options.publishAheadMs');
    checkDuration(options.retainMs, 'rotate: options.retainMs');
    await this.reload();
    const activatesAt = now + publishAheadMs;
    const expiresAt = activatesAt + options.retainMs + this.#cacheTtlMs;
    // In service: not retired, or scheduled to retire after the new key takes over (an earlier
    // rotation with publishAheadMs). Their retirement moves to activatesAt; retention never shrinks.
    const inService = this.#keys.filter(({ record }) => record.retiredAt === null || record.retiredAt > activatesAt);
    const record = this.#generate(now, activatesAt);
    // Add before retiring: a crash in between leaves two signing keys (harmless), never none.
    await this.#store.add(record);
    const retired: RotateResult['retired'] = [];
    for (const key of inService) {
      const keyExpiresAt = Math.max(expiresAt, key.record.expiresAt ?? Number.NEGATIVE_INFINITY);
      await this.#store.retire(key.record.kid, activatesAt, keyExpiresAt);
      retired.push({ kid: key.record.kid, retiredAt: activatesAt, expiresAt: keyExpiresAt });
    }
    await this.reload();
    return { kid: record.kid, activatesAt, retired };
  }

  /** The public JWKS at `now`: every key not past expiresAt, newest first. Public members only. */
  async jwks(now: number): Promise<Jwks> {
    await this.#fresh();
    return { keys: this.#publishedAt(now).map((key) => ({ ...key.jwk })) };
  }

  /** The published public key with this kid, re-reading the store early when the kid is unknown. */
  async publicKey(kid: string, now: number): Promise<PublicJwk | undefined> {
    await this.#fresh();
    let found = this.#publishedAt(now).find((key) => key.record.kid === kid);
    if (found === undefined && this.#clock() - this.#loadedAt >= UNKNOWN_KID_RELOAD_INTERVAL_MS) {
      await this.reload();
      found = this.#publishedAt(now).find((key) => key.record.kid === kid);
    }
    return found === undefined ? undefined : { ...found.jwk };
  }

  /**
   * The key to sign with at `now`: the newest key with activatesAt <= now that has not retired.
   * Fails with ERR_CRYPTO when there is none (ensureKey() was not run).
   */
  async signer(now: number): Promise<ActiveSigningKey> {
    await this.#fresh();
    const active = this.#activeAt(now);
    if (active === undefined) {
      throw new CryptoError('ERR_CRYPTO', 'no signing key is active; run KeyManager.ensureKey() at startup');
    }
    return { kid: active.record.kid, alg: 'ES256', key: this.#privateKey(active) };
  }

  async #fresh(): Promise<void> {
    const age = this.#clock() - this.#loadedAt;
    if (age >= 0 && age < this.#cacheTtlMs) {
      return;
    }
    this.#pending ??= this.reload().finally(() => {
      this.#pending = undefined;
    });
    await this.#pending;
  }

  #activeAt(now: number): LoadedKey | undefined {
    return this.#keys.find(
      ({ record }) =>
        record.activatesAt <= now &&
        (record.retiredAt === null || record.retiredAt > now) &&
        (record.expiresAt === null || record.expiresAt > now),
    );
  }

  #publishedAt(now: number): LoadedKey[] {
    return this.#keys.filter(({ record }) => record.expiresAt === null || record.expiresAt > now);
  }

  #privateKey(key: LoadedKey): KeyObject {
    const kid = key.record.kid;
    const cached = this.#privateKeys.get(kid);
    if (cached !== undefined) {
      return cached;
    }
    const jwk = openJson<Record<string, unknown>>(this.#masterKey, key.record.privateSealed, kid);
    if (
      jwk === null ||
      typeof jwk !== 'object' ||
      jwk.kty !== 'EC' ||
      jwk.crv !== 'P-256' ||
      typeof jwk.d !== 'string' ||
      jwk.x !== key.jwk.x ||
      jwk.y !== key.jwk.y
    ) {
      throw new CryptoError('ERR_CRYPTO', `signing key ${kid}: sealed private key does not match its public key`);
    }
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey({ key: { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, d: jwk.d }, format: 'jwk' });
    } catch (error) {
      throw new CryptoError('ERR_CRYPTO', `signing key ${kid}: sealed private key is invalid`, { cause: error });
    }
    // Node checks that d lies on the curve, not that it belongs to x/y: compare the derived public key.
    const derived = privateKey.export({ format: 'jwk' });
    if (derived.x !== key.jwk.x || derived.y !== key.jwk.y) {
      throw new CryptoError('ERR_CRYPTO', `signing key ${kid}: sealed private key does not match its public key`);
    }
    this.#privateKeys.set(kid, privateKey);
    return privateKey;
  }

  #generate(now: number, activatesAt: number): SigningKeyRecord {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const { x, y } = publicKey.export({ format: 'jwk' });
    const { d } = privateKey.export({ format: 'jwk' });
    if (typeof x !== 'string' || typeof y !== 'string' || typeof d !== 'string') {
      throw new CryptoError('ERR_CRYPTO', 'generated P-256 key did not export as a JWK');
    }
    const kid = ecJwkThumbprint({ kty: 'EC', crv: 'P-256', x, y });
    const jwk: PublicJwk = { kty: 'EC', crv: 'P-256', x, y, kid, alg: 'ES256', use: 'sig' };
    const sealedJwk: JsonWebKey = { kty: 'EC', crv: 'P-256', x, y, d };
    this.#privateKeys.set(kid, privateKey);
    return {
      kid,
      alg: 'ES256',
      publicJwk: JSON.stringify(jwk),
      privateSealed: sealJson(this.#masterKey, sealedJwk, kid),
      createdAt: now,
      activatesAt,
      retiredAt: null,
      expiresAt: null,
    };
  }
}

/** Rebuilds the public JWK from its required members only, and checks it against the kid. */
function parsePublicJwk(record: SigningKeyRecord): PublicJwk {
  const kid = record.kid;
  let parsed: unknown;
  try {
    parsed = JSON.parse(record.publicJwk);
  } catch (error) {
    throw new CryptoError('ERR_CRYPTO', `signing key ${kid}: public JWK is not JSON`, { cause: error });
  }
  const jwk = parsed as Partial<Record<string, unknown>> | null;
  if (
    record.alg !== 'ES256' ||
    jwk === null ||
    typeof jwk !== 'object' ||
    jwk.kty !== 'EC' ||
    jwk.crv !== 'P-256' ||
    typeof jwk.x !== 'string' ||
    typeof jwk.y !== 'string' ||
    !COORDINATE.test(jwk.x) ||
    !COORDINATE.test(jwk.y)
  ) {
    throw new CryptoError('ERR_CRYPTO', `signing key ${kid}: public JWK is not an ES256 P-256 key`);
  }
  if (ecJwkThumbprint({ kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y }) !== kid) {
    throw new CryptoError('ERR_CRYPTO', `signing key ${kid}: kid is not the RFC 7638 thumbprint of its public JWK`);
  }
  return { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, kid, alg: 'ES256', use: 'sig' };
}

function newestFirst(a: LoadedKey, b: LoadedKey): number {
  return (
    b.record.activatesAt - a.record.activatesAt ||
    b.record.createdAt - a.record.createdAt ||
    (a.record.kid < b.record.kid ? 1 : a.record.kid > b.record.kid ? -1 : 0)
  );
}

function checkTime(value: number, name: string): void {
  if (!Number.isFinite(value)) {
    throw new RangeError(`${name} must be epoch milliseconds, got ${String(value)}`);
  }
}

function checkDuration(value: number, name: string): void {
  if (!Number.isInteger(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative integer of milliseconds, got ${String(value)}`);
  }
}
