// The gateway's pure parts: FHIR request classification, compartment helpers, and the
// configuration schema. (The token status cache is the authenticator's: test/oauth/resource-server.test.ts.)
import { describe, expect, test } from 'vitest';
import { classifyFhirRequest, fhirPath } from '../../src/gateway/fhir-request.js';
import { constrainSearchToPatient, inPatientCompartment, patientIdOfReference } from '../../src/gateway/compartment.js';
import { GatewayConfigError, gatewayConfigProblems, parseGatewayConfig } from '../../src/config/gateway.js';
import { applyMasks } from '../../src/gateway/mask.js';
import { GatewayDenial } from '../../src/gateway/errors.js';

describe('classifyFhirRequest', () => {
  const c = (method: string, path: string, body?: unknown) => {
    const [p, q = ''] = path.split('?');
    return classifyFhirRequest({ method, path: p!, query: new URLSearchParams(q), body });
  };
  test.each([
    ['GET', '/metadata', 'capabilities'],
    ['GET', '/Patient/p1', 'read'],
    ['HEAD', '/Patient/p1', 'read'],
    ['GET', '/Patient/p1/_history/2', 'vread'],
    ['GET', '/Patient/p1/_history', 'history-instance'],
    ['GET', '/Patient/_history', 'history-type'],
    ['GET', '/_history', 'history-system'],
    ['GET', '/Patient?name=x', 'search-type'],
    ['GET', '/Patient', 'search-type'],
    ['POST', '/Patient/_search', 'search-type'],
    ['GET', '/?_type=Patient', 'search-system'],
    ['POST', '/_search', 'search-system'],
    ['POST', '/Patient', 'create'],
    ['PUT', '/Patient/p1', 'update'],
    ['PATCH', '/Patient/p1', 'patch'],
    ['DELETE', '/Patient/p1', 'delete'],
  ])('%s %s is %s', (method, path, interaction) => {
    const r = c(method, path);
    if (interaction === 'capabilities') expect(r.kind).toBe('capabilities');
    else expect(r).toMatchObject({ kind: 'interaction', interaction });
  });

  test('operations and Bundles', () => {
    expect(c('GET', '/Patient/p1/$everything')).toMatchObject({ kind: 'operation', name: '$everything', resourceType: 'Patient', id: 'p1' });
    expect(c('POST', '/$export')).toMatchObject({ kind: 'operation', name: '$export' });
    expect(c('POST', '/', { resourceType: 'Bundle', type: 'transaction', entry: [] })).toMatchObject({ kind: 'bundle', bundleType: 'transaction' });
    expect(c('POST', '/', { resourceType: 'Bundle', type: 'collection' }).kind).toBe('unsupported');
  });

  test.each([
    ['GET', ''], ['GET', '/Patient/p1/extra/more'], ['GET', '/Patient/../Observation'], ['GET', '/Patient//p1'], ['GET', '/Patient/p%31'],
    ['GET', '/patient/p1'], ['PUT', '/Patient'], ['DELETE', '/Patient'], ['POST', '/Patient/p1'], ['GET', `/Patient/${'x'.repeat(65)}`],
    ['GET', '/Patient/p1/_history/2/x'], ['POST', '/Patient/_history'], ['GET', '/Patient/p1/Observation'],
  ])('%s %s is unsupported', (method, path) => {
    expect(c(method, path).kind).toBe('unsupported');
  });

  test('the upstream path is rebuilt from what was checked', () => {
    const r = c('POST', '/Observation/_search');
    if (r.kind !== 'interaction') throw new Error('expected an interaction');
    expect(fhirPath(r)).toBe('/Observation/_search');
    const v = c('GET', '/Observation/o1/_history/3');
    if (v.kind !== 'interaction') throw new Error('expected an interaction');
    expect(fhirPath(v)).toBe('/Observation/o1/_history/3');
  });
});

describe('patient compartment helpers', () => {
  const bases = ['http://upstream:1/fhir', 'https://gw.example/fhir'];
  test.each([
    ['Patient/p1', 'p1'],
    ['Patient/p1/_history/3', 'p1'],
    ['http://upstream:1/fhir/Patient/p1', 'p1'],
    ['https://gw.example/fhir/Patient/p1', 'p1'],
    ['https://evil.example/fhir/Patient/p1', undefined],
    ['Group/p1', undefined],
    ['Patient/', undefined],
    ['Patient/p1/extra', undefined],
    [42, undefined],
  ])('%s names patient %s', (ref, id) => {
    expect(patientIdOfReference(ref, bases)).toBe(id);
  });

  test('membership needs every owning reference to name the patient, and at least one', () => {
    const obs = (subject: unknown) => ({ resourceType: 'Observation', id: 'o', ...(subject === undefined ? {} : { subject }) });
    expect(inPatientCompartment(obs({ reference: 'Patient/p1' }), 'p1', bases)).toBe(true);
    expect(inPatientCompartment(obs({ reference: 'Patient/p2' }), 'p1', bases)).toBe(false);
    expect(inPatientCompartment(obs(undefined), 'p1', bases)).toBe(false);
    expect(inPatientCompartment(obs({ reference: 'Group/g' }), 'p1', bases)).toBe(false);
    expect(inPatientCompartment(obs({ display: 'no reference' }), 'p1', bases)).toBe(false);
    expect(inPatientCompartment({ resourceType: 'Patient', id: 'p1' }, 'p1', bases)).toBe(true);
    expect(inPatientCompartment({ resourceType: 'Practitioner', id: 'p1' }, 'p1', bases)).toBe(false);
    expect(inPatientCompartment({ resourceType: 'Coverage', id: 'c', beneficiary: { reference: 'Patient/p1' } }, 'p1', bases)).toBe(true);
  });

  test('searches are pinned to the patient or refused', () => {
    const pin = (type: string, q: string) => constrainSearchToPatient(type, new URLSearchParams(q), 'p1').toString();
    expect(pin('Observation', 'code=x')).toBe('code=x&patient=p1');
    expect(pin('Observation', 'subject=Patient%2Fp1')).toBe('subject=Patient%2Fp1');
    expect(pin('Patient', 'name=x')).toBe('name=x&_id=p1');
    for (const [type, q] of [['Observation', 'patient=p2'], ['Observation', 'subject:Patient=p1'], ['Observation', 'patient=p1,p2'], ['Patient', '_id=p2'], ['Practitioner', '']]) {
      expect(() => pin(type!, q!), `${type}?${q}`).toThrowError(GatewayDenial);
    }
  });

  test('masks remove elements (and their primitive extensions) in nested resources', () => {
    const bundle = {
      resourceType: 'Bundle', entry: [
        { resource: { resourceType: 'Patient', id: 'a', identifier: [1], telecom: [2], contact: [{ telecom: [3], name: 'x' }] } },
        { resource: { resourceType: 'Observation', id: 'o', contained: [{ resourceType: 'Patient', birthDate: '2000', _birthDate: {} }] } },
      ],
    };
    const removed = applyMasks(bundle, [{ path: 'Patient.identifier' }, { path: 'Patient.contact.telecom' }, { path: 'Patient.birthDate', unless_scope: 'x' }], []);
    expect(removed).toBe(3);
    expect(bundle.entry[0]!.resource).toEqual({ resourceType: 'Patient', id: 'a', telecom: [2], contact: [{ name: 'x' }] });
    expect(bundle.entry[1]!.resource.contained).toEqual([{ resourceType: 'Patient' }]);
  });
});

describe('gateway configuration', () => {
  const route = { prefix: '/fhir', upstream: 'http://127.0.0.1:9000', audience: 'https://as.example/fhir', type: 'fhir' };

  test('defaults', () => {
    const c = parseGatewayConfig({ routes: [route] });
    expect(c.introspection_cache_seconds).toBe(30);
    expect(c.routes[0]).toMatchObject({
      public_metadata: true, forward_headers: ['accept', 'content-type', 'if-match', 'if-none-match', 'prefer'], mask: [], rules: [],
      identity: { header_prefix: 'x-caduceus-', sign: false }, timeout_ms: 30_000,
    });
    expect(parseGatewayConfig({ routes: [{ ...route, type: 'http', rules: [{ method: 'GET', path: '/x', scopes: ['a'] }] }] }).routes[0]!.public_metadata).toBe(false);
  });

  const problems = (raw: unknown) => {
    try {
      parseGatewayConfig(raw);
    } catch (err) {
      expect(err).toBeInstanceOf(GatewayConfigError);
      return (err as GatewayConfigError).problems;
    }
    throw new Error('expected a GatewayConfigError');
  };

  test.each([
    [{ routes: [{ ...route, extra: 1 }] }, 'gateway.routes[0]: unknown key "extra"'],
    [{ introspection_cache_seconds: 301, routes: [] }, 'gateway.introspection_cache_seconds: must be at most 300 seconds'],
    [{ routes: [{ ...route, upstream: 'http://10.0.0.5:9000' }] }, 'gateway.routes[0].upstream: plain http is only allowed to a loopback upstream'],
    [{ routes: [{ ...route, upstream: 'https://u:p@up.example' }] }, 'gateway.routes[0].upstream: must not carry credentials'],
    [{ routes: [{ ...route, prefix: '/fhir/' }] }, 'gateway.routes[0].prefix: must be /segment'],
    [{ routes: [{ ...route, prefix: '/token' }] }, 'gateway.routes[0].prefix: /token is served by the authorization server'],
    [{ routes: [{ ...route, forward_headers: ['Authorization'] }] }, 'gateway.routes[0].forward_headers[0]: authorization is never forwarded'],
    [{ routes: [{ ...route, forward_headers: ['X-Forwarded-For'] }] }, 'gateway.routes[0].forward_headers[0]: x-forwarded-for is never forwarded'],
    [{ routes: [{ ...route, forward_headers: ['x-caduceus-patient'] }] }, 'gateway.routes[0].forward_headers[0]: x-caduceus-patient would let a caller forge'],
    [{ routes: [{ ...route, type: 'http' }] }, 'gateway.routes[0].rules: an http route needs at least one rule'],
    [{ routes: [{ ...route, rules: [{ method: 'GET', path: '/x', scopes: ['a'] }] }] }, 'gateway.routes[0].rules: fhir routes derive their policy'],
    [{ routes: [{ ...route, mask: [{ path: 'identifier' }] }] }, 'gateway.routes[0].mask[0].path: must be a FHIR element path'],
    [{ routes: [{ ...route, type: 'http', rules: [{ method: 'GET', path: '/x/:id', scopes: ['patient/X.dus'] }] }] }, 'gateway.routes[0].rules[0].scopes[0]: is not a valid scope'],
    [{ routes: [{ ...route, type: 'http', rules: [{ method: 'GET', path: '/x/:id', scopes: ['a'], patient_param: 'pid' }] }] }, 'gateway.routes[0].rules[0].patient_param: names no :pid in the path'],
    [{ routes: [route, { ...route, prefix: '/fhir/r4' }] }, 'gateway.routes[1].prefix: overlaps routes[0].prefix /fhir'],
  ])('%j is refused', (raw, message) => {
    expect(problems(raw).join('\n')).toContain(message);
  });

  test('a route audience must be a declared resource', () => {
    const c = parseGatewayConfig({ routes: [route] });
    expect(gatewayConfigProblems(c, { resources: [] })).toEqual(['gateway.routes[0].audience: "https://as.example/fhir" is not declared under resources']);
    expect(gatewayConfigProblems(c, { resources: [{ uri: 'https://as.example/fhir', name: 'x', scopes: [] }] })).toEqual([]);
  });
});
