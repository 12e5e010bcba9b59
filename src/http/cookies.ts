// Interaction cookies: `__Host-` prefixed, Secure, HttpOnly, SameSite=Lax, Path=/ (RFC 6265bis
// §4.1.3.2). Values are random; the server stores only their keyed digests.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { randomToken } from '../crypto/random.js';

export const SESSION_COOKIE = '__Host-caduceus-session';
export const BROWSER_COOKIE = '__Host-caduceus-browser';

export function readCookie(req: FastifyRequest, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) {
      const value = part.slice(eq + 1).trim();
      return /^[A-Za-z0-9_-]{20,100}$/.test(value) ? value : undefined;
    }
  }
  return undefined;
}

export function setCookie(reply: FastifyReply, name: string, value: string, maxAgeSeconds?: number): void {
  const attrs = [`${name}=${value}`, 'Path=/', 'Secure', 'HttpOnly', 'SameSite=Lax'];
  if (maxAgeSeconds !== undefined) attrs.push(`Max-Age=${maxAgeSeconds}`);
  const existing = reply.getHeader('set-cookie');
  const list = existing === undefined ? [] : Array.isArray(existing) ? existing : [String(existing)];
  reply.header('set-cookie', [...list, attrs.join('; ')]);
}

export function clearCookie(reply: FastifyReply, name: string): void {
  setCookie(reply, name, 'deleted', 0);
}

/** The browser-binding cookie value (CSRF tokens of the account and logout forms are bound to it); set when missing. */
export function ensureBrowserCookie(req: FastifyRequest, reply: FastifyReply): string {
  let browser = readCookie(req, BROWSER_COOKIE);
  if (!browser) {
    browser = randomToken(32);
    setCookie(reply, BROWSER_COOKIE, browser);
  }
  return browser;
}
