// The walkthrough's relying-party state, kept in memory in the server process and bound to the
// browser by a random __Host- cookie (only its keyed digest is a map key). Tokens never reach the
// browser. Ten minutes from the last step; a bounded number of sessions.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { keyedDigest } from '../crypto/digest.js';
import { randomToken } from '../crypto/random.js';
import { readCookie, setCookie } from '../http/cookies.js';
import type { AppContext } from '../context/app-context.js';
import { BoundedCache } from '../util/bounded-cache.js';

export const DEMO_COOKIE = '__Host-caduceus-demo';
export const DEMO_SESSION_TTL_MS = 10 * 60 * 1000;
const MAX_SESSIONS = 500;

export type CallKind = 'own-patient' | 'own-observations' | 'other-patient';

export interface CallResult {
  kind: CallKind;
  path: string;
  status: number;
  summary: string[];
}

export interface DemoSession {
  startedAt: number;
  expiresAt: number;
  /** Pending authorization request (cleared once the code is redeemed). */
  pending?: { state: string; verifier: string; nonce: string };
  tokens?: { accessToken: string; scope: string; expiresIn: number; grantId: string | null; refreshIssued: boolean; idTokenIssued: boolean };
  calls: Partial<Record<CallKind, CallResult>>;
  /** The browser cookie value (for CSRF tokens). */
  cookie: string;
}

/** The walkthrough's sessions, by keyed digest of the cookie: one store per application (buildApp makes it). */
export type DemoSessionStore = BoundedCache<string, DemoSession>;

export function createDemoSessionStore(): DemoSessionStore {
  return new BoundedCache(MAX_SESSIONS);
}

const keyOf = (ctx: AppContext, cookie: string) => keyedDigest(ctx.masterKey.digestKey('session'), `demo-walkthrough|${cookie}`);

/** A new session (replacing the browser's previous one) and its cookie. */
export function startSession(store: DemoSessionStore, ctx: AppContext, req: FastifyRequest, reply: FastifyReply): DemoSession {
  const now = ctx.now();
  const previous = readCookie(req, DEMO_COOKIE);
  if (previous) store.delete(keyOf(ctx, previous));
  for (const [key, s] of store.entries()) if (s.expiresAt <= now) store.delete(key);
  const cookie = randomToken(32);
  const session: DemoSession = { startedAt: now, expiresAt: now + DEMO_SESSION_TTL_MS, calls: {}, cookie };
  store.set(keyOf(ctx, cookie), session);
  setCookie(reply, DEMO_COOKIE, cookie, DEMO_SESSION_TTL_MS / 1000);
  return session;
}

/** The browser's live session, its lifetime extended; undefined when missing or expired. */
export function currentSession(store: DemoSessionStore, ctx: AppContext, req: FastifyRequest, reply: FastifyReply): DemoSession | undefined {
  const cookie = readCookie(req, DEMO_COOKIE);
  if (!cookie) return undefined;
  const key = keyOf(ctx, cookie);
  const session = store.get(key);
  const now = ctx.now();
  if (!session || session.expiresAt <= now) {
    store.delete(key);
    return undefined;
  }
  session.expiresAt = now + DEMO_SESSION_TTL_MS;
  setCookie(reply, DEMO_COOKIE, cookie, DEMO_SESSION_TTL_MS / 1000);
  return session;
}
