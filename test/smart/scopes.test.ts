// SMART App Launch 2.2 scope grammar (scopes-and-launch-context.md, "Scopes for requesting FHIR
// Resources" and "Scopes for requesting context data"): valid and invalid scopes, v1 → v2 mapping,
// wildcards, granular (query) scopes, and what a granted scope authorises.
import { describe, expect, test } from 'vitest';
import {
  findAuthorisingScope, parseSmartScope, scopeAllows, scopeCovers, ScopeSyntaxError, splitScopeClaim, toV2Scope, tryParseSmartScope,
  type Interaction, type ResourceScope,
} from '../../src/smart/scopes.js';

const resource = (raw: string) => {
  const s = parseSmartScope(raw);
  expect(s.kind).toBe('resource');
  return s as ResourceScope;
};

describe('valid resource scopes', () => {
  test.each([
    ['patient/Observation.rs', 'patient', 'Observation', 'rs'],
    ['user/Patient.cruds', 'user', 'Patient', 'cruds'],
    ['system/*.r', 'system', '*', 'r'],
    ['patient/*.cud', 'patient', '*', 'cud'],
    ['user/MedicationRequest.s', 'user', 'MedicationRequest', 's'],
    ['patient/Condition.c', 'patient', 'Condition', 'c'],
    ['user/Encounter.ds', 'user', 'Encounter', 'ds'],
  ])('%s', (raw, level, resourceType, permissions) => {
    expect(resource(raw)).toEqual({ kind: 'resource', raw, level, resourceType, permissions, syntax: 'v2', query: [] });
  });
});

describe('SMART v1 scopes map to v2', () => {
  test.each([
    ['patient/Observation.read', 'rs', 'patient/Observation.rs'],
    ['user/Patient.write', 'cud', 'user/Patient.cud'],
    ['system/*.*', 'cruds', 'system/*.cruds'],
    ['patient/*.read', 'rs', 'patient/*.rs'],
  ])('%s → .%s', (raw, permissions, v2) => {
    const s = resource(raw);
    expect(s).toMatchObject({ syntax: 'v1', permissions });
    expect(toV2Scope(s)).toBe(v2);
  });
});

describe('invalid scopes are rejected, with a code saying why', () => {
  test.each([
    ['patient/Observation.dus', 'ERR_SCOPE_PERMISSIONS'], // out of order (the SMART text's own example)
    ['patient/Observation.rc', 'ERR_SCOPE_PERMISSIONS'],
    ['patient/Observation.rr', 'ERR_SCOPE_PERMISSIONS'], // repeated
    ['patient/Observation.sr', 'ERR_SCOPE_PERMISSIONS'],
    ['patient/Observation.', 'ERR_SCOPE_PERMISSIONS'], // empty
    ['patient/Observation.x', 'ERR_SCOPE_PERMISSIONS'],
    ['patient/Observation.READ', 'ERR_SCOPE_PERMISSIONS'],
    ['patient/Observation', 'ERR_SCOPE_PERMISSIONS'], // no permissions at all
    ['patient/observation.rs', 'ERR_SCOPE_RESOURCE_TYPE'],
    ['patient/.rs', 'ERR_SCOPE_RESOURCE_TYPE'],
    ['patient/Obs-ervation.rs', 'ERR_SCOPE_RESOURCE_TYPE'],
    ['patient/**.rs', 'ERR_SCOPE_RESOURCE_TYPE'],
    ['patient/Observation.rs?', 'ERR_SCOPE_QUERY'],
    ['patient/Observation.rs?category', 'ERR_SCOPE_QUERY'],
    ['patient/Observation.rs?category=', 'ERR_SCOPE_QUERY'],
    ['patient/Observation.rs?=x', 'ERR_SCOPE_QUERY'],
    ['patient/Observation.read?category=x', 'ERR_SCOPE_QUERY'], // granular needs v2
    ['patient/Observation.rs?code=%zz', 'ERR_SCOPE_QUERY'],
    ['patient/Observation.r"s', 'ERR_SCOPE_CHARACTERS'],
    ['patient/Observation.rs\\', 'ERR_SCOPE_CHARACTERS'],
    ['launch/Patient', 'ERR_SCOPE_CONTEXT'],
    ['launch/patient?role=a&role=b', 'ERR_SCOPE_CONTEXT'],
  ])('%s (%s)', (raw, code) => {
    expect(() => parseSmartScope(raw)).toThrowError(ScopeSyntaxError);
    try {
      parseSmartScope(raw);
    } catch (err) {
      expect((err as ScopeSyntaxError).code).toBe(code);
    }
    expect(tryParseSmartScope(raw)).toBeUndefined();
  });

  test('a scope with a space is not a scope token', () => {
    expect(() => parseSmartScope('patient/Observation.rs user/Patient.r')).toThrowError(/RFC 6749/);
  });
});

describe('context and other scopes', () => {
  test.each(['launch', 'launch/patient', 'launch/encounter', 'openid', 'fhirUser', 'offline_access', 'online_access'])('%s is a context scope', (raw) => {
    expect(parseSmartScope(raw)).toEqual({ kind: 'context', raw, name: raw });
  });

  test('other launch context types and one role are recognised', () => {
    expect(parseSmartScope('launch/imagingstudy')).toEqual({ kind: 'context', raw: 'launch/imagingstudy', name: 'launch/imagingstudy' });
    expect(parseSmartScope('launch/patient?role=https%3A%2F%2Fexample.org%2Frole')).toMatchObject({ name: 'launch/patient', role: 'https://example.org/role' });
  });

  test('anything else is an opaque scope of its own', () => {
    expect(parseSmartScope('profile')).toEqual({ kind: 'other', raw: 'profile' });
    expect(parseSmartScope('notes.read')).toEqual({ kind: 'other', raw: 'notes.read' });
  });
});

describe('granular scopes', () => {
  test('constraints are parsed in order and decoded', () => {
    const s = resource('patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory&code:in=http%3A%2F%2Fvs');
    expect(s.query).toEqual([
      ['category', 'http://terminology.hl7.org/CodeSystem/observation-category|laboratory'],
      ['code:in', 'http://vs'],
    ]);
    expect(toV2Scope(s)).toBe(s.raw);
  });

  test('a granular scope authorises only a type search carrying every constraint', () => {
    const s = 'patient/Observation.rs?category=vital-signs';
    const search = (q: string) => scopeAllows(s, { resourceType: 'Observation', interaction: 'search-type', searchParams: new URLSearchParams(q) });
    expect(search('category=vital-signs&patient=1')).toBe(true);
    expect(search('patient=1')).toBe(false);
    expect(search('category=laboratory')).toBe(false);
    expect(search('category:not=vital-signs')).toBe(false);
    expect(scopeAllows(s, { resourceType: 'Observation', interaction: 'read' })).toBe(false);
  });
});

describe('scopeAllows: permission letters × interactions', () => {
  const LETTER: Record<Interaction, string> = {
    read: 'r', vread: 'r', 'history-instance': 'r', 'history-type': 's', 'history-system': 's', 'search-type': 's', 'search-system': 's',
    create: 'c', update: 'u', patch: 'u', delete: 'd',
  };
  for (const [interaction, letter] of Object.entries(LETTER) as Array<[Interaction, string]>) {
    test(`${interaction} needs .${letter}`, () => {
      const type = interaction.endsWith('system') ? '*' : 'Observation';
      for (const granted of ['c', 'r', 'u', 'd', 's']) {
        expect(scopeAllows(`user/*.${granted}`, { resourceType: type, interaction }), `.${granted}`).toBe(granted === letter);
      }
      expect(scopeAllows('user/*.cruds', { resourceType: type, interaction })).toBe(true);
      expect(scopeAllows('user/*.*', { resourceType: type, interaction })).toBe(true);
    });
  }

  test('a typed scope reaches only its type; "*" reaches every type, now and in the future', () => {
    expect(scopeAllows('patient/Observation.r', { resourceType: 'Observation', interaction: 'read' })).toBe(true);
    expect(scopeAllows('patient/Observation.r', { resourceType: 'Condition', interaction: 'read' })).toBe(false);
    expect(scopeAllows('patient/*.r', { resourceType: 'SomeFutureResource', interaction: 'read' })).toBe(true);
  });

  test('system-wide search and history need a "*" scope', () => {
    expect(scopeAllows('user/Observation.s', { resourceType: '*', interaction: 'search-system' })).toBe(false);
    expect(scopeAllows('user/*.s', { resourceType: '*', interaction: 'search-system' })).toBe(true);
  });

  test('a level filter only considers scopes of that level; context scopes allow nothing', () => {
    expect(scopeAllows('patient/Observation.r', { level: 'user', resourceType: 'Observation', interaction: 'read' })).toBe(false);
    expect(scopeAllows('launch/patient', { resourceType: 'Patient', interaction: 'read' })).toBe(false);
    expect(scopeAllows('patient/Observation.dus', { resourceType: 'Observation', interaction: 'delete' })).toBe(false);
  });
});

describe('findAuthorisingScope returns the exact granted string', () => {
  test('the broadest level wins: system, then user, then patient', () => {
    const granted = ['patient/Observation.rs', 'user/Observation.read', 'openid'];
    expect(findAuthorisingScope(granted, { resourceType: 'Observation', interaction: 'read' })).toBe('user/Observation.read');
    expect(findAuthorisingScope(granted, { level: 'patient', resourceType: 'Observation', interaction: 'read' })).toBe('patient/Observation.rs');
    expect(findAuthorisingScope(granted, { resourceType: 'Observation', interaction: 'create' })).toBeUndefined();
  });

  test('an unconstrained scope is preferred to a granular one; invalid granted scopes are ignored', () => {
    const granted = ['patient/Observation.dus', 'patient/Observation.s?category=vital-signs', 'patient/Observation.s'];
    expect(findAuthorisingScope(granted, { resourceType: 'Observation', interaction: 'search-type', searchParams: new URLSearchParams('category=vital-signs') })).toBe('patient/Observation.s');
    expect(findAuthorisingScope(['patient/Observation.dus'], { resourceType: 'Observation', interaction: 'delete' })).toBeUndefined();
  });
});

describe('scopeCovers (explicit rule lists)', () => {
  test.each([
    ['notes.read', 'notes.read', true],
    ['notes.write', 'notes.read', false],
    ['patient/Observation.rs', 'patient/Observation.r', true],
    ['patient/*.read', 'patient/Observation.r', true],
    ['patient/Observation.r', 'patient/Observation.rs', false],
    ['user/Observation.rs', 'patient/Observation.r', false],
    ['patient/Observation.rs?category=x', 'patient/Observation.r', false],
    ['patient/Observation.rs?category=x', 'patient/Observation.s?category=x', true],
  ])('%s covers %s: %s', (granted, required, expected) => {
    expect(scopeCovers(granted, required)).toBe(expected);
  });
});

test('splitScopeClaim drops empties and duplicates and refuses non-strings', () => {
  expect(splitScopeClaim(' a  b a ')).toEqual(['a', 'b']);
  expect(splitScopeClaim(undefined)).toEqual([]);
  expect(splitScopeClaim(['a'])).toEqual([]);
});
