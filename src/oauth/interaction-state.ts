// The pending authorization request between /authorize and the redirect back: stored sealed,
// bound to the browser that started it (a random cookie whose digest the record holds), and
// short-lived (10 minutes).
import type { FastifyReply, FastifyRequest } from 'fastify';
import { keyedDigest } from '../crypto/digest.js';
import { openJson, sealJson } from '../crypto/envelope.js';
import { randomToken } from '../crypto/random.js';
import type { AuthorizationRequest } from './authorization-request.js';
import type { AppContext } from '../context/app-context.js';
import { BROWSER_COOKIE, readCookie, setCookie } from '../http/cookies.js';

const INTERACTION_TTL_MS = 10 * 60 * 1000;

export interface Interaction {
  id: string;
  request: AuthorizationRequest;
  createdAt: number;
  /** The browser cookie value: the CSRF tokens of this interaction are bound to it. */
  browser: string;
}

const browserDigest = (ctx: AppContext, value: string) => keyedDigest(ctx.masterKey.digestKey('interaction'), value);

export async function startInteraction(ctx: AppContext, req: FastifyRequest, reply: FastifyReply, request: AuthorizationRequest): Promise<string> {
  let browser = readCookie(req, BROWSER_COOKIE);
  if (!browser) {
    browser = randomToken(32);
    setCookie(reply, BROWSER_COOKIE, browser);
  }
  const id = randomToken(24);
  const now = ctx.now();
  await ctx.storage.interactions.save({
    id,
    browserDigest: browserDigest(ctx, browser),
    sealed: sealJson(ctx.masterKey, request, id),
    createdAt: now,
    expiresAt: now + INTERACTION_TTL_MS,
  });
  return id;
}

export type InteractionLookup = { ok: true; interaction: Interaction } | { ok: false; problem: 'unknown' | 'expired' | 'other_browser' };

export async function loadInteraction(ctx: AppContext, req: FastifyRequest, id: string): Promise<InteractionLookup> {
  if (!/^[A-Za-z0-9_-]{20,64}$/.test(id)) return { ok: false, problem: 'unknown' };
  const record = await ctx.storage.interactions.get(id);
  if (!record) return { ok: false, problem: 'unknown' };
  if (record.expiresAt <= ctx.now()) return { ok: false, problem: 'expired' };
  const browser = readCookie(req, BROWSER_COOKIE);
  if (!browser || browserDigest(ctx, browser) !== record.browserDigest) return { ok: false, problem: 'other_browser' };
  return { ok: true, interaction: { id, request: openJson<AuthorizationRequest>(ctx.masterKey, record.sealed, id), createdAt: record.createdAt, browser } };
}

export const INTERACTION_PROBLEMS: Record<'unknown' | 'expired' | 'other_browser', string> = {
  unknown: 'This sign-in request is not known. It may have been completed already.',
  expired: 'This sign-in request has expired.',
  other_browser: 'This sign-in request was started in another browser window or session.',
};
