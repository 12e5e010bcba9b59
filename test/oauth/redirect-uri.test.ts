// Redirect URI registration and matching (RFC 9700 §2.1, §4.1.3; RFC 8252 §7.3).
import { describe, expect, test } from 'vitest';
import { redirectUriMatches, redirectUriProblem } from '../../src/oauth/checks/redirect-uri.js';

describe('registering redirect URIs', () => {
  test.each([
    ['https://app.example/cb'],
    ['http://127.0.0.1/cb'],
    ['http://[::1]:8080/cb'],
    ['http://localhost:3000/cb'],
    ['com.example.app:/oauth'],
  ])('%s may be registered', (uri) => expect(redirectUriProblem(uri)).toBeUndefined());

  test.each([
    ['http://app.example/cb', 'http is only allowed for loopback'],
    ['https://*.example/cb', 'wildcards'],
    ['https://app.example/cb#x', 'fragment'],
    ['javascript:alert(1)', 'scheme is not allowed'],
    ['data:text/html,x', 'scheme is not allowed'],
    ['/relative', 'absolute'],
    ['https://user:pw@app.example/cb', 'user information'],
  ])('%s is refused (%s)', (uri, why) => expect(redirectUriProblem(uri)).toContain(why));
});

describe('matching redirect URIs', () => {
  const registered = ['https://app.example/cb', 'http://127.0.0.1/native'];
  test('an identical string matches', () => expect(redirectUriMatches(registered, 'https://app.example/cb')).toBe(true));
  test.each(['https://app.example/cb/', 'https://app.example/cb?x', 'https://APP.example/cb', 'https://app.example:443/cb', 'https://app.example/CB', 'https://app.example/cb#'])(
    '%s does not match', (uri) => expect(redirectUriMatches(registered, uri)).toBe(false),
  );
  test('a loopback IP redirect matches with any port (RFC 8252 §7.3)', () => {
    expect(redirectUriMatches(registered, 'http://127.0.0.1:51234/native')).toBe(true);
    expect(redirectUriMatches(registered, 'http://127.0.0.1:51234/other')).toBe(false);
    expect(redirectUriMatches(registered, 'http://localhost:51234/native')).toBe(false);
  });
});
