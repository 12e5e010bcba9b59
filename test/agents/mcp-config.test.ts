// agents.mcp in the configuration: off by default, and when on, its resource (issuer + path) must be
// declared (RFC 8707: no token is issued for an undeclared resource) and its fhir_route must be a
// fhir gateway route.
import { describe, expect, test } from 'vitest';
import { configProblems as problems } from '../support/config-problems.js';
import { validateConfig } from '../../src/config/schema.js';
import { protectedResources } from '../../src/oauth/endpoints/protected-resource-metadata.js';

const base = { issuer: 'https://as.example', storage: 'sqlite:./data/x.db', tls: { cert: 'c.pem', key: 'k.pem' } };
const fhirRoute = { prefix: '/fhir', upstream: 'https://fhir.internal.example', audience: 'https://as.example/fhir', type: 'fhir' };
const resources = [{ uri: 'https://as.example/fhir', scopes: ['patient/*.rs'] }, { uri: 'https://as.example/mcp', name: 'MCP', scopes: ['patient/*.rs'] }];

describe('agents.mcp', () => {
  test('is off by default at /mcp in front of /fhir, and publishes no metadata then', () => {
    const c = validateConfig(base);
    expect(c.agents.mcp).toEqual({ enabled: false, path: '/mcp', fhir_route: '/fhir' });
    expect(protectedResources(c).map((r) => r.resource)).toEqual([]);
  });

  test('on, with its resource declared and a fhir route, it is a protected resource of its own', () => {
    const c = validateConfig({ ...base, resources, gateway: { routes: [fhirRoute] }, agents: { mcp: { enabled: true } } });
    expect(protectedResources(c)).toEqual([
      { resource: 'https://as.example/fhir', name: 'Resource server', scopes: ['patient/*.rs'] },
      { resource: 'https://as.example/mcp', name: 'MCP', scopes: ['patient/*.rs'] },
    ]);
  });

  test('on, without its resource declared, is refused with the resource to declare', () => {
    expect(problems({ ...base, resources: [resources[0]], gateway: { routes: [fhirRoute] }, agents: { mcp: { enabled: true } } })).toEqual([
      'agents.mcp.path: the MCP resource "https://as.example/mcp" is not declared under resources: declare it (with the scopes agents may ask for) so tokens can be issued for it',
    ]);
  });

  test('fhir_route must name a fhir gateway route', () => {
    expect(problems({ ...base, resources, gateway: { routes: [fhirRoute] }, agents: { mcp: { enabled: true, fhir_route: '/r4' } } })).toEqual([
      'agents.mcp.fhir_route: must name a gateway route of type fhir ("/r4" is not a gateway.routes[].prefix)',
    ]);
    const httpRoute = { prefix: '/api', upstream: 'https://api.internal.example', audience: 'https://as.example/fhir', type: 'http', rules: [{ method: 'GET', path: '/x', scopes: ['patient/*.rs'] }] };
    expect(problems({ ...base, resources, gateway: { routes: [httpRoute] }, agents: { mcp: { enabled: true, fhir_route: '/api' } } })).toEqual([
      'agents.mcp.fhir_route: must name a gateway route of type fhir ("/api" is of type http)',
    ]);
  });

  test('its path may not overlap a gateway route or a path of the server itself', () => {
    const r = (path: string) => [...resources, { uri: `https://as.example${path}`, scopes: ['patient/*.rs'] }];
    expect(problems({ ...base, resources: r('/fhir/mcp'), gateway: { routes: [fhirRoute] }, agents: { mcp: { enabled: true, path: '/fhir/mcp' } } })).toEqual([
      'agents.mcp.path: overlaps a gateway route prefix',
    ]);
    expect(problems({ ...base, resources: r('/token'), gateway: { routes: [fhirRoute] }, agents: { mcp: { enabled: true, path: '/token' } } })).toEqual([
      'agents.mcp.path: starts with a path the authorization server itself serves; choose another, e.g. /mcp',
    ]);
  });
});
