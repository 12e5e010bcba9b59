import { describe, expect, it } from 'vitest';
import { HSTS_MIN_MAX_AGE, contentSecurityPolicy, securityHeaders } from '../../src/http/security-headers.js';

const PAGE_CSP =
  "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

describe('securityHeaders', () => {
  it('sends HSTS for two years with includeSubDomains by default on both kinds', () => {
    expect(HSTS_MIN_MAX_AGE).toBe(63_072_000);
    expect(securityHeaders('api')['Strict-Transport-Security']).toBe('max-age=63072000; includeSubDomains');
    expect(securityHeaders('page')['Strict-Transport-Security']).toBe('max-age=63072000; includeSubDomains');
  });

  it('uses the given HSTS max-age', () => {
    expect(securityHeaders('api', 31_536_000)['Strict-Transport-Security']).toBe('max-age=31536000; includeSubDomains');
  });

  it.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])('refuses the HSTS max-age %s', (maxAge) => {
    expect(() => securityHeaders('api', maxAge)).toThrow(/^hstsMaxAge: /);
  });

  it('marks API responses nosniff, no-referrer and not cacheable, without page-only headers', () => {
    expect(securityHeaders('api')).toEqual({
      'Strict-Transport-Security': 'max-age=63072000; includeSubDomains',
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
      'Cache-Control': 'no-store',
      Pragma: 'no-cache',
    });
  });

  it('gives pages a script-free CSP, DENY framing and no caching', () => {
    expect(securityHeaders('page')).toEqual({
      'Strict-Transport-Security': 'max-age=63072000; includeSubDomains',
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
      'Cache-Control': 'no-store',
      Pragma: 'no-cache',
      'Content-Security-Policy': PAGE_CSP,
      'X-Frame-Options': 'DENY',
    });
    expect(securityHeaders('page')['Content-Security-Policy']).not.toMatch(/script-src|unsafe-inline|unsafe-eval/);
  });

  it('returns a fresh object each call', () => {
    const first = securityHeaders('api');
    first['Cache-Control'] = 'public';
    expect(securityHeaders('api')['Cache-Control']).toBe('no-store');
  });

  it('refuses an unknown kind', () => {
    expect(() => securityHeaders('html' as never)).toThrow(/^kind: /);
  });
});

describe('contentSecurityPolicy', () => {
  it("allows a same-origin script only when asked, and never inline script", () => {
    const csp = contentSecurityPolicy({ allowSameOriginScript: true });
    expect(csp).toBe(
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    expect(securityHeaders('page', undefined, { allowSameOriginScript: true })['Content-Security-Policy']).toBe(csp);
  });

  it('leaves form-action out for an interaction page that redirects to the client', () => {
    const csp = contentSecurityPolicy({ formAction: null });
    expect(csp).not.toContain('form-action');
    expect(csp).toBe("default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'");
  });

  it("lists the client's redirect origin or private-use scheme next to 'self'", () => {
    expect(contentSecurityPolicy({ formAction: ["'self'", 'https://app.example:8443', 'com.example.app:'] })).toContain(
      "form-action 'self' https://app.example:8443 com.example.app:;",
    );
    expect(contentSecurityPolicy({ formAction: [] })).toContain("form-action 'none';");
  });

  it.each([
    'https://app.example/callback',
    'https://app.example; script-src *',
    "'unsafe-inline'",
    '*',
    'https://*.example',
    'javascript:alert(1)',
    'https://app.example\r\nSet-Cookie: x=1',
  ])('refuses the form-action source %j', (source) => {
    expect(() => contentSecurityPolicy({ formAction: ["'self'", source] })).toThrow(/^formAction\[1\]: /);
  });
});
