// Grants and consents as an administrator sees them (45 CFR 164.308(a)(4)(ii)(C) access
// modification), shared by the admin console and the admin API: find the grants of a user, a
// client or a patient, and revoke one with its tokens. Revoking works as the user's own /account
// revocation does: a grant made under a consent ends with that consent and every grant of it
// (consent.revoked), so the app cannot come back without asking again; a grant without an active
// consent is revoked on its own (token.revoked). The administrator is the actor either way.
import { ConfigError } from '../config/schema.js';
import { EMERGENCY_PURPOSE_OF_USE } from '../interaction/break-glass.js';
import type { GrantRecord, GrantSearch } from '../storage/types.js';
import { FHIR_ID } from '../util/fhir-id.js';
import type { AdminDeps } from './clients.js';

export const GRANT_PAGE_SIZE = 50;

/** One grant with what a person needs to judge it. */
export interface GrantView {
  grantId: string;
  clientId: string;
  /** The client's display name; null for a client that no longer exists. */
  clientName: string | null;
  userId: string | null;
  username: string | null;
  /** "Patient/123": the launch context's patient, else the account's own patient record; null when none. */
  patient: string | null;
  consentId: string | null;
  /** What the consent granted (empty without a consent). */
  scopes: string[];
  createdAt: number;
  lastUsedAt: number | null;
  /** Emergency (break-glass) access, purpose of use ETREAT (45 CFR 164.312(a)(2)(ii)). */
  emergency: boolean;
  revokedAt: number | null;
  revokedReason: string | null;
}

export interface GrantQuery {
  username?: string;
  clientId?: string;
  /** A FHIR Patient id or a Patient/ reference. */
  patient?: string;
  /** The `next` cursor of the previous page. */
  before?: string;
  limit?: number;
}

export interface GrantPage {
  grants: GrantView[];
  /** The cursor of the next page, when there is one. */
  next?: string;
  /** A username was given and no account has it. */
  unknownUser?: boolean;
}

/** Whether the query names at least one of user, client and patient (a list of every grant would scan the table). */
export function grantQueryGiven(query: GrantQuery): boolean {
  return [query.username, query.clientId, query.patient].some((v) => v !== undefined && v.trim() !== '');
}

function parseCursor(text: string): GrantSearch['before'] {
  const m = /^(\d{1,16})\.([A-Za-z0-9_-]{1,100})$/.exec(text);
  if (!m) throw new ConfigError(['before: not a page cursor of this list; start from the first page']);
  return { createdAt: Number(m[1]), grantId: m[2]! };
}

/**
 * One page of grants, newest first, matching every filter given (at least one: see
 * grantQueryGiven). Invalid input throws ConfigError naming the field.
 */
export async function searchGrants(deps: Pick<AdminDeps, 'storage'>, query: GrantQuery): Promise<GrantPage> {
  if (!grantQueryGiven(query)) throw new ConfigError(['username, client_id or patient: give at least one']);
  const limit = query.limit ?? GRANT_PAGE_SIZE;
  const filter: GrantSearch = { limit: limit + 1 };
  const username = query.username?.trim();
  if (username) {
    const user = await deps.storage.users.getByUsername(username);
    if (!user) return { grants: [], unknownUser: true };
    filter.userId = user.id;
  }
  const clientId = query.clientId?.trim();
  if (clientId) filter.clientId = clientId;
  const patient = query.patient?.trim().replace(/^Patient\//, '');
  if (patient) {
    if (!FHIR_ID.test(patient)) throw new ConfigError(['patient: use a FHIR Patient id or a Patient/ reference, such as Patient/123']);
    filter.patient = patient;
  }
  if (query.before) filter.before = parseCursor(query.before);
  const found = await deps.storage.grants.search(filter);
  const page = found.slice(0, limit);
  const last = page[page.length - 1];
  return { grants: await describeGrants(deps, page), ...(found.length > limit && last ? { next: `${last.createdAt}.${last.grantId}` } : {}) };
}

/** Adds the client, account and consent of each grant (a page at a time: bounded lookups by key). */
async function describeGrants(deps: Pick<AdminDeps, 'storage'>, grants: readonly GrantRecord[]): Promise<GrantView[]> {
  const cache = new Map<string, Promise<unknown>>();
  const once = <T>(key: string, load: () => Promise<T>): Promise<T> => {
    if (!cache.has(key)) cache.set(key, load());
    return cache.get(key) as Promise<T>;
  };
  return Promise.all(grants.map(async (g) => {
    const [client, user, consent] = await Promise.all([
      once(`c:${g.clientId}`, () => deps.storage.clients.get(g.clientId)),
      g.userId === null ? undefined : once(`u:${g.userId}`, () => deps.storage.users.getById(g.userId!)),
      g.consentId === null ? undefined : deps.storage.consents.get(g.consentId),
    ]);
    const ownRecord = user?.fhirUser?.startsWith('Patient/') ? user.fhirUser : null;
    return {
      grantId: g.grantId, clientId: g.clientId, clientName: client?.name ?? null, userId: g.userId, username: user?.username ?? null,
      patient: g.launchContext?.patient !== undefined ? `Patient/${g.launchContext.patient}` : ownRecord,
      consentId: g.consentId, scopes: consent?.scopesGranted ?? [], createdAt: g.createdAt, lastUsedAt: g.lastUsedAt ?? null,
      emergency: g.launchContext?.purposeOfUse === EMERGENCY_PURPOSE_OF_USE, revokedAt: g.revokedAt, revokedReason: g.revokedReason,
    };
  }));
}

/** The API's view of a grant (wire names). */
export function describeGrant(g: GrantView): Record<string, unknown> {
  const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
  return {
    grant_id: g.grantId, client_id: g.clientId, client_name: g.clientName, user_id: g.userId, username: g.username, patient: g.patient,
    consent_id: g.consentId, scopes: g.scopes, created_at: iso(g.createdAt), last_used_at: iso(g.lastUsedAt), emergency: g.emergency,
    revoked_at: iso(g.revokedAt), revoked_reason: g.revokedReason,
  };
}

export type GrantRevocation =
  /** The grant's consent was revoked, and with it every grant made under it. */
  | { revoked: 'consent'; consentId: string; grantsRevoked: number }
  /** The grant alone (it had no active consent). */
  | { revoked: 'grant' }
  /** Nothing was left to revoke; its tokens were revoked again all the same. */
  | { revoked: 'already' };

/**
 * Revokes a grant and every refresh and access token issued under it (GrantStore revokes them in
 * the grant's transaction), through its consent when that is still active. Resolves undefined for
 * an unknown grant.
 */
export async function revokeGrant(deps: Omit<AdminDeps, 'masterKey'>, grantId: string): Promise<GrantRevocation | undefined> {
  const grant = await deps.storage.grants.get(grantId);
  if (!grant) return undefined;
  const now = deps.now();
  const consent = grant.consentId === null ? undefined : await deps.storage.consents.get(grant.consentId);
  const actor = { userId: deps.actor, clientId: grant.clientId };
  const resource = grant.userId ?? undefined;
  if (consent && consent.revokedAt === null && (await deps.storage.consents.revoke(consent.id, now))) {
    const grants = await deps.storage.grants.revokeByConsent(consent.id, now, 'consent_revoked');
    await deps.audit.record({
      type: 'consent.revoked', actor, outcome: 'success', consentId: consent.id, grantId, resource, reason: 'administrator',
      details: { grants_revoked: grants.length },
    });
    return { revoked: 'consent', consentId: consent.id, grantsRevoked: grants.length };
  }
  // Also an already revoked grant: a token issued by a request that raced the first revocation goes too.
  await deps.storage.grants.revoke(grantId, now, 'revoked');
  if (grant.revokedAt !== null) return { revoked: 'already' };
  await deps.audit.record({
    type: 'token.revoked', actor, outcome: 'success', action: 'grant', grantId, resource, reason: 'administrator',
  });
  return { revoked: 'grant' };
}
