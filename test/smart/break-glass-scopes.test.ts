// The scopes of an emergency access (minimum necessary, 45 CFR 164.502(b)): every resource scope
// is bound to the emergency patient (patient/), write letters are dropped unless
// unsafe.breakglass_write, other scopes pass unchanged. Built on the SMART scope model
// (src/smart/scopes.ts restrictResourceScope), in both v1 and v2 syntax.
import { describe, expect, test } from 'vitest';
import { narrowBreakGlassScopes } from '../../src/interaction/break-glass.js';
import { restrictResourceScope, tryParseSmartScope, type ResourceScope } from '../../src/smart/scopes.js';

const readOnly = (scope: string) => narrowBreakGlassScopes(scope.split(' '), false).join(' ');
const withWrite = (scope: string) => narrowBreakGlassScopes(scope.split(' '), true).join(' ');

describe('break-glass scopes, read-only (the default)', () => {
  test('user/ v2 scopes become patient/ scopes with only r and s', () => {
    expect(readOnly('user/Observation.cruds user/Patient.rs')).toBe('patient/Observation.rs patient/Patient.rs');
    expect(readOnly('user/Condition.crs')).toBe('patient/Condition.rs');
    expect(readOnly('user/*.cruds')).toBe('patient/*.rs');
  });

  test('patient/ scopes lose their write letters too', () => {
    expect(readOnly('patient/Observation.cruds patient/Encounter.r')).toBe('patient/Observation.rs patient/Encounter.r');
  });

  test('a scope left with no permission is dropped', () => {
    expect(readOnly('openid user/Observation.cud patient/Condition.c user/Patient.rs')).toBe('openid patient/Patient.rs');
  });

  test('v1 scopes stay v1: .read is kept, .write is dropped, .* becomes .read', () => {
    expect(readOnly('user/Observation.read user/Condition.write user/*.*')).toBe('patient/Observation.read patient/*.read');
  });

  test('granular constraints are kept as written', () => {
    expect(readOnly('user/Observation.cruds?category=laboratory')).toBe('patient/Observation.rs?category=laboratory');
    expect(readOnly('user/Observation.cu?category=laboratory')).toBe('');
  });

  test('context and other scopes pass unchanged, and scopes that become equal are granted once', () => {
    expect(readOnly('openid fhirUser launch launch/patient offline_access profile user/Patient.rs patient/Patient.rs patient/Patient.cruds'))
      .toBe('openid fhirUser launch launch/patient offline_access profile patient/Patient.rs');
  });

  test('a malformed scope is dropped, never passed on', () => {
    expect(readOnly('openid user/Observation.dus')).toBe('openid');
  });
});

describe('break-glass scopes with unsafe.breakglass_write', () => {
  test('write letters are kept, and the level is still patient/', () => {
    expect(withWrite('user/Observation.cruds user/Patient.rs')).toBe('patient/Observation.cruds patient/Patient.rs');
    expect(withWrite('user/Observation.write user/*.* user/Condition.cud?category=problem-list-item'))
      .toBe('patient/Observation.write patient/*.* patient/Condition.cud?category=problem-list-item');
  });
});

describe('restrictResourceScope', () => {
  const parsed = (raw: string) => tryParseSmartScope(raw) as ResourceScope;

  test('falls back to v2 when a v1 scope keeps letters without a v1 name, and never adds a letter', () => {
    expect(restrictResourceScope(parsed('user/Observation.read'), { keep: 'r' })).toBe('user/Observation.r');
    expect(restrictResourceScope(parsed('patient/Observation.rs'), { keep: 'cruds' })).toBe('patient/Observation.rs');
    expect(restrictResourceScope(parsed('system/Observation.s'), { level: 'patient', keep: 'rs' })).toBe('patient/Observation.s');
    expect(restrictResourceScope(parsed('user/Observation.c'), { keep: 'rs' })).toBeUndefined();
  });
});
