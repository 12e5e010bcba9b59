// SMART discovery says what the server does, checked against the server itself: every advertised
// grant type is one the token endpoint handles, every advertised scope parses and is honoured, the
// capabilities name user-level access, and the CapabilityStatement served through the gateway
// carries the SMART oauth-uris extension with this server's endpoints (SMART App Launch 2.2
// conformance.md), each of which answers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { startTestStack, type TestStack } from '../support/stack.js';
import { SUPPORTED_GRANT_TYPES } from '../../src/oauth/endpoints/token.js';
import { tryParseSmartScope } from '../../src/smart/scopes.js';

describe('SMART discovery against the server', () => {
  let stack: TestStack;
  let dispatcher: Agent;
  let doc: Record<string, unknown>;
  beforeAll(async () => {
    stack = await startTestStack();
    dispatcher = new Agent({ connect: { ca: stack.ca } });
    const res = await request(`${stack.issuer}/fhir/.well-known/smart-configuration`, { dispatcher });
    doc = await res.body.json() as Record<string, unknown>;
  });
  afterAll(async () => {
    await dispatcher?.close();
    await stack?.close();
  });

  it('advertises exactly the grant types the token endpoint handles', () => {
    expect([...(doc.grant_types_supported as string[])].sort()).toEqual([...SUPPORTED_GRANT_TYPES].sort());
    expect(doc.grant_types_supported).toContain('refresh_token');
  });

  it('advertises the SMART context scopes and only scopes that parse', () => {
    const scopes = doc.scopes_supported as string[];
    for (const s of ['openid', 'fhirUser', 'launch', 'launch/patient', 'offline_access']) expect(scopes).toContain(s);
    for (const s of scopes) expect(tryParseSmartScope(s), s).toBeDefined();
    expect(doc.capabilities).toContain('permission-user');
    expect(doc.capabilities).toContain('permission-patient');
  });

  it('the CapabilityStatement through the gateway declares SMART security with this server\'s endpoints, and each answers', async () => {
    const res = await request(`${stack.issuer}/fhir/metadata`, { dispatcher, headers: { accept: 'application/fhir+json' } });
    expect(res.statusCode).toBe(200);
    const cap = await res.body.json() as { rest: Array<{ security?: { service: Array<{ coding: Array<{ code: string }> }>; extension: Array<{ url: string; extension: Array<{ url: string; valueUri: string }> }> } }> };
    const security = cap.rest[0]!.security!;
    expect(security.service[0]!.coding[0]!.code).toBe('SMART-on-FHIR');
    const uris = Object.fromEntries(security.extension.find((e) => e.url === 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris')!.extension.map((e) => [e.url, e.valueUri]));
    expect(uris).toEqual({
      authorize: doc.authorization_endpoint, token: doc.token_endpoint, revoke: doc.revocation_endpoint,
      introspect: doc.introspection_endpoint, manage: doc.management_endpoint,
    });
    // Each endpoint exists: none answers 404.
    for (const [name, url] of Object.entries(uris)) {
      const method = name === 'authorize' || name === 'manage' ? 'GET' : 'POST';
      const r = await request(url, { dispatcher, method, headers: { accept: 'text/html' } });
      await r.body.dump();
      expect(r.statusCode, `${name} ${url}`).not.toBe(404);
    }
  });
});
