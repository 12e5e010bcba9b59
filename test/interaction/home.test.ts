// The issuer's root page: a newcomer who opens https://host/ gets links to discovery, the SMART
// configuration and protected resource metadata of each route, the account page, and on the
// development stack the /demo walkthrough; as a page, with the pages' security headers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { startTestStack, type TestStack } from '../support/stack.js';
import { homePage } from '../../src/interaction/home.js';

describe('the issuer root page', () => {
  let stack: TestStack;
  let dispatcher: Agent;
  beforeAll(async () => {
    stack = await startTestStack();
    dispatcher = new Agent({ connect: { ca: stack.ca } });
  });
  afterAll(async () => {
    await dispatcher?.close();
    await stack?.close();
  });

  it('links discovery, each protected resource, the account page and the walkthrough, and each link answers', async () => {
    const res = await request(`${stack.issuer}/`, { dispatcher });
    const body = await res.body.text();
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(String(res.headers['content-security-policy'])).toContain("default-src 'none'");
    const links = [...body.matchAll(/href="([^"]+)"/g)].map((m) => m[1]!).filter((h) => h.startsWith(stack.issuer));
    for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server', '/fhir/.well-known/smart-configuration',
      '/.well-known/oauth-protected-resource/fhir', '/.well-known/oauth-protected-resource/mcp', '/jwks', '/account', '/demo']) {
      expect(links).toContain(`${stack.issuer}${path}`);
    }
    for (const link of links) {
      const r = await request(link, { dispatcher, headers: { accept: 'text/html' } });
      await r.body.dump();
      expect(r.statusCode, link).toBeLessThan(400);
    }
  });

  it('offers the walkthrough only where there is one', () => {
    expect(homePage(stack.ctx, { demo: false })).not.toContain('/demo');
  });
});
