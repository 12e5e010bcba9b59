// RFC 9728 Protected Resource Metadata: each gateway route publishes its metadata at the
// well-known path inserted before the resource's path (§3.1), with `resource` identical to the
// resource identifier that tokens name as audience (§3.3).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { startTestStack, type TestStack } from '../support/stack.js';
import { resourceMetadataUrl } from '../../src/oauth/endpoints/protected-resource-metadata.js';

describe('protected resource metadata (RFC 9728)', () => {
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

  it('places the well-known segment before the resource path (§3.1)', () => {
    expect(resourceMetadataUrl('https://as.example/fhir')).toBe('https://as.example/.well-known/oauth-protected-resource/fhir');
    expect(resourceMetadataUrl('https://as.example/fhir/r4/')).toBe('https://as.example/.well-known/oauth-protected-resource/fhir/r4');
    expect(resourceMetadataUrl('https://api.example/')).toBe('https://api.example/.well-known/oauth-protected-resource');
  });

  it('publishes the FHIR route\'s metadata: its audience as resource, this server as authorization server, header tokens only', async () => {
    const resource = `${stack.issuer}/fhir`;
    const res = await request(resourceMetadataUrl(resource), { dispatcher });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const body = await res.body.json() as Record<string, unknown>;
    expect(body.resource).toBe(resource);
    expect(body.authorization_servers).toEqual([stack.issuer]);
    expect(body.bearer_methods_supported).toEqual(['header']);
    expect(body.scopes_supported).toEqual(stack.ctx.config.resources.find((r) => r.uri === resource)!.scopes);
    expect(body).not.toHaveProperty('resource_signing_alg_values_supported');
  });

  it('every 401 and 403 of the gateway points to the metadata (RFC 9728 §5.1), a 403 for scope naming the scope needed', async () => {
    const metadata = resourceMetadataUrl(`${stack.issuer}/fhir`);
    const bare = await request(`${stack.issuer}/fhir/Patient/demo-1`, { dispatcher });
    await bare.body.dump();
    expect(bare.statusCode).toBe(401);
    expect(bare.headers['www-authenticate']).toBe(`Bearer realm="${stack.issuer}/fhir", resource_metadata="${metadata}"`);

    const tokenRes = await request(`${stack.issuer}/token`, {
      method: 'POST', dispatcher,
      headers: { authorization: `Basic ${Buffer.from(`${stack.demo.cc_client_id}:${stack.demo.cc_client_secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'system/Patient.rs', resource: stack.demo.resource }).toString(),
    });
    const { access_token: token } = await tokenRes.body.json() as { access_token: string };
    const forbidden = await request(`${stack.issuer}/fhir/Observation?patient=demo-1`, { dispatcher, headers: { authorization: `Bearer ${token}` } });
    await forbidden.body.dump();
    expect(forbidden.statusCode).toBe(403);
    const challenge = String(forbidden.headers['www-authenticate']);
    expect(challenge).toMatch(/^Bearer realm="[^"]+", error="insufficient_scope", error_description="[^"]+", scope="[^"]*Observation[^"]*"/);
    expect(challenge).toContain(`resource_metadata="${metadata}"`);
  });

  it('has no metadata for a path that is no protected resource', async () => {
    const res = await request(`${stack.issuer}/.well-known/oauth-protected-resource/nothing-here`, { dispatcher });
    expect(res.statusCode).toBe(404);
    await res.body.dump();
  });
});
