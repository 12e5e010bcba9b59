// What the account page lists: the user's authorisations grouped into one entry per app, data
// source, patient and kind (ordinary or emergency access), so eleven sign-ins to one app are one
// entry that says "11 times". An entry is current while it can still be used: a grant of it may
// still hold or obtain a token, or (ordinary access) it is the consent a new authorization of that
// app would reuse without asking. Everything else has ended (revoked, or expired) and moves to the
// short history. Emergency access (break-glass, purpose_of_use ETREAT) is always its own entry.
// Pure: the caller reads the records and the clock.
import type { CaduceusConfig } from '../config/schema.js';
import type { ConsentRecord, GrantRecord } from '../storage/types.js';
import { EMERGENCY_PURPOSE_OF_USE } from './break-glass.js';

export interface AccessEntry {
  /** The newest consent of the entry: what its revoke form names, and its element id. */
  id: string;
  clientId: string;
  resource: string | null;
  emergency: boolean;
  /** FHIR Patient ids in context (e.g. "123"), oldest first. */
  patients: string[];
  /** Scopes granted by the entry's consents, newest consent's first. */
  scopes: string[];
  /** How many authorisations (consents) the entry holds. */
  authorisations: number;
  firstAuthorisedAt: number;
  lastAuthorisedAt: number;
  /** Newest token issuance under any of its grants; null when never. */
  lastUsedAt: number | null;
  /** Current entries: when the last of its grants stops working (null while a standing consent keeps it). Ended ones: when that was. */
  endsAt: number | null;
  /** Ended entries: revoked (by the user, an app or an administrator) or expired. */
  ended?: 'revoked' | 'expired';
  /** The consents a revocation of this entry revokes (active ones only). */
  consentIds: string[];
}

type TokenTimes = Pick<CaduceusConfig['tokens'], 'access_token_ttl' | 'authorization_code_ttl' | 'refresh_token_idle_ttl' | 'refresh_token_absolute_ttl'>;

export interface AccessPolicy {
  tokens: TokenTimes;
  breakglassTtlSeconds: number;
}

const isEmergency = (g: GrantRecord) => g.launchContext?.purposeOfUse === EMERGENCY_PURPOSE_OF_USE;

/**
 * The latest time a token of this grant can still work (an upper bound): its code can be redeemed
 * until authorization_code_ttl; an emergency token lives breakglass ttl and is never refreshed;
 * with offline_access a refresh token lives refresh_token_idle_ttl from its last use, at most
 * refresh_token_absolute_ttl from the first (RFC 9700 §4.14.2); the access token then adds its own
 * lifetime.
 */
export function grantUsableUntil(grant: GrantRecord, scopes: readonly string[], policy: AccessPolicy): number {
  if (grant.revokedAt !== null) return grant.revokedAt;
  const s = 1000;
  const { access_token_ttl: access, authorization_code_ttl: code, refresh_token_idle_ttl: idle, refresh_token_absolute_ttl: absolute } = policy.tokens;
  const codeEnds = grant.createdAt + code * s;
  const used = grant.lastUsedAt ?? null;
  if (used === null) return codeEnds;
  if (isEmergency(grant)) return used + policy.breakglassTtlSeconds * s;
  if (scopes.includes('offline_access')) return Math.min(codeEnds + absolute * s, used + idle * s) + access * s;
  return used + access * s;
}

interface Authorisation {
  consent: ConsentRecord;
  grants: GrantRecord[];
  emergency: boolean;
  patients: string[];
  usableUntil: number;
  key: string;
}

/**
 * Groups the user's consents (newest first, as ConsentStore.listByUser returns them) with their
 * grants into current and ended entries, newest first. Refused consents (nothing granted) are
 * not authorisations and are left out.
 */
export function groupAccess(consents: readonly ConsentRecord[], grants: readonly GrantRecord[], policy: AccessPolicy, now: number): { current: AccessEntry[]; ended: AccessEntry[] } {
  const byConsent = new Map<string, GrantRecord[]>();
  for (const g of grants) {
    if (g.consentId === null) continue;
    const list = byConsent.get(g.consentId);
    if (list) list.push(g);
    else byConsent.set(g.consentId, [g]);
  }
  // The consent a new authorization would reuse (ConsentStore.findActive): the newest active one per
  // app and data source, unless it is an emergency access (never reused: src/interaction/routes.ts),
  // in which case none is.
  const reusable = new Set<string>();
  const seenApps = new Set<string>();
  for (const c of consents) {
    const app = `${c.clientId}\n${c.resource ?? ''}`;
    if (c.revokedAt !== null || seenApps.has(app)) continue;
    seenApps.add(app);
    reusable.add(c.id);
  }
  const authorisations: Authorisation[] = consents.filter((c) => c.scopesGranted.length > 0).map((consent) => {
    const own = byConsent.get(consent.id) ?? [];
    const emergency = own.some(isEmergency);
    // Oldest grant first, so the order does not change as new grants are made.
    const patients = [...new Set([...own].reverse().map((g) => g.launchContext?.patient).filter((p): p is string => p !== undefined))];
    const usableUntil = Math.max(consent.createdAt, ...own.map((g) => grantUsableUntil(g, consent.scopesGranted, policy)));
    const key = [consent.clientId, consent.resource ?? '', emergency ? 'emergency' : 'ordinary', ...[...patients].sort()].join('\n');
    return { consent, grants: own, emergency, patients, usableUntil, key };
  });
  const isCurrent = (a: Authorisation) => a.consent.revokedAt === null && (a.usableUntil > now || (!a.emergency && reusable.has(a.consent.id)));
  const groups = new Map<string, Authorisation[]>();
  for (const a of authorisations) {
    // Current and ended authorisations of one app and patient are separate entries.
    const key = `${a.key}\n${isCurrent(a) ? 'current' : 'ended'}`;
    const list = groups.get(key);
    if (list) list.push(a);
    else groups.set(key, [a]);
  }
  const current: AccessEntry[] = [];
  const ended: AccessEntry[] = [];
  for (const [key, list] of groups) {
    const newest = list[0]!;
    const used = list.flatMap((a) => a.grants.map((g) => g.lastUsedAt ?? null)).filter((t): t is number => t !== null);
    const live = key.endsWith('\ncurrent');
    // An authorisation ends when it is revoked, or else when its last token stops working; the entry ends with the last of them.
    const endOf = (a: Authorisation) => a.consent.revokedAt ?? a.usableUntil;
    const last = list.reduce((x, y) => (endOf(y) > endOf(x) ? y : x));
    const entry: AccessEntry = {
      id: newest.consent.id, clientId: newest.consent.clientId, resource: newest.consent.resource, emergency: newest.emergency, patients: newest.patients,
      scopes: [...new Set(list.flatMap((a) => a.consent.scopesGranted))], authorisations: list.length,
      firstAuthorisedAt: Math.min(...list.map((a) => a.consent.createdAt)), lastAuthorisedAt: newest.consent.createdAt,
      lastUsedAt: used.length ? Math.max(...used) : null,
      endsAt: live ? (list.some((a) => !a.emergency && reusable.has(a.consent.id)) ? null : Math.max(...list.map((a) => a.usableUntil))) : endOf(last),
      consentIds: list.filter((a) => a.consent.revokedAt === null).map((a) => a.consent.id),
    };
    if (live) current.push(entry);
    else ended.push({ ...entry, ended: last.consent.revokedAt !== null ? 'revoked' : 'expired' });
  }
  // Emergency access first: it is the one that runs out.
  current.sort((a, b) => Number(b.emergency) - Number(a.emergency) || b.lastAuthorisedAt - a.lastAuthorisedAt);
  ended.sort((a, b) => b.endsAt! - a.endsAt!);
  return { current, ended };
}

/**
 * The consents to revoke when the user revokes `entry`: its own, and the ended but unrevoked
 * consents of the same app and data source, which would otherwise become the reusable consent
 * once the newer ones are revoked.
 */
export function consentsToRevoke(entry: AccessEntry, all: { current: AccessEntry[]; ended: AccessEntry[] }): string[] {
  const sameApp = (e: AccessEntry) => e.clientId === entry.clientId && e.resource === entry.resource;
  return [...new Set([...entry.consentIds, ...all.ended.filter(sameApp).flatMap((e) => e.consentIds)])];
}
