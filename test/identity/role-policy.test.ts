// The pure policy functions: administrators never hold clinical scopes; lockouts double up to a cap.
import { describe, expect, test } from 'vitest';
import { checkRoleScopes, isClinicalScope, mfaRequiredFor, roleOf } from '../../src/identity/role-policy.js';
import { lockoutSeconds } from '../../src/interaction/login.js';
import { acrFor, ACR_MFA, ACR_PASSWORD } from '../../src/interaction/mfa/acr.js';

describe('role policy', () => {
  test('clinical scopes are the SMART resource scopes and the launch scopes', () => {
    for (const s of ['patient/Patient.rs', 'user/*.cruds', 'system/Observation.rs', 'launch', 'launch/patient', 'launch/encounter']) expect(isClinicalScope(s), s).toBe(true);
    for (const s of ['openid', 'offline_access', 'fhirUser', 'profile', 'online_access', 'launcher', 'patients/x']) expect(isClinicalScope(s), s).toBe(false);
  });

  test('an administrator is refused every clinical scope, with a description that says why', () => {
    const decision = checkRoleScopes('administrator', ['openid', 'patient/Patient.rs', 'launch/patient', 'offline_access']);
    expect(decision).toEqual({
      allowed: false, refused: ['patient/Patient.rs', 'launch/patient'],
      description: 'administrator accounts cannot be granted clinical scopes (patient/, user/, system/, launch); sign in with a clinical account',
    });
  });

  test('an administrator may have non-clinical scopes; patients and practitioners may have clinical ones', () => {
    expect(checkRoleScopes('administrator', ['openid', 'offline_access'])).toEqual({ allowed: true });
    expect(checkRoleScopes('practitioner', ['openid', 'user/*.rs', 'launch'])).toEqual({ allowed: true });
    expect(checkRoleScopes('patient', ['patient/*.rs'])).toEqual({ allowed: true });
  });

  test('a user without a stored role is a patient, and MFA is required by the configured roles only', () => {
    expect(roleOf({})).toBe('patient');
    expect(roleOf({ role: 'administrator' })).toBe('administrator');
    expect(mfaRequiredFor('practitioner', ['practitioner', 'administrator'])).toBe(true);
    expect(mfaRequiredFor('patient', ['practitioner', 'administrator'])).toBe(false);
  });
});

describe('lockout delays', () => {
  test('double with each lockout from the base, capped at the maximum', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((l) => lockoutSeconds(l, 60, 3600))).toEqual([60, 120, 240, 480, 960, 1920, 3600, 3600]);
    expect(lockoutSeconds(0, 60, 3600)).toBe(0);
    expect(lockoutSeconds(1000, 60, 3600)).toBe(3600);
  });
});

describe('acr', () => {
  test('a second factor in amr is the MFA level; a password alone is the password level', () => {
    expect(acrFor(['pwd', 'otp'])).toBe(ACR_MFA);
    expect(acrFor(['pwd', 'hwk'])).toBe(ACR_MFA);
    expect(acrFor(['pwd'])).toBe(ACR_PASSWORD);
  });
});
