// No PHI in access tokens: claims come from an allow-list only (RFC 9068 §2.2; HIPAA 164.514(b)).
import { describe, expect, test } from 'vitest';
import { ACCESS_TOKEN_CLAIMS, assertAllowedClaims } from '../../src/oauth/tokens/access-token.js';
import { InternalError } from '../../src/errors/internal-error.js';

describe('access token claim allow-list', () => {
  test('holds exactly the RFC 9068 claims, the SMART patient, the break-glass purpose of use and the RFC 8693 actor', () => {
    expect([...ACCESS_TOKEN_CLAIMS]).toEqual(['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id', 'scope', 'patient', 'purpose_of_use', 'act']);
  });

  test.each(['name', 'given_name', 'family_name', 'email', 'phone_number', 'birthdate', 'address', 'mrn', 'ssn', 'gender', 'preferred_username'])(
    'refuses a "%s" claim', (claim) => {
      const claims = { iss: 'https://as', sub: 'u_1', aud: 'https://rs', exp: 2, iat: 1, jti: 'j', client_id: 'c', scope: 's', [claim]: 'x' };
      let thrown: unknown;
      try {
        assertAllowedClaims(claims);
      } catch (err) {
        thrown = err;
      }
      // The code is the error's `code` (src/errors/catalogue.ts), not part of its message.
      expect(thrown).toBeInstanceOf(InternalError);
      expect(thrown).toMatchObject({ code: 'ERR_CLAIM_NOT_ALLOWED', message: `access tokens may not carry "${claim}"` });
    },
  );

  test('accepts the allow-listed claims', () => {
    expect(() => assertAllowedClaims({ iss: 'a', sub: 'b', aud: 'c', exp: 2, iat: 1, jti: 'j', client_id: 'c', scope: 's' })).not.toThrow();
  });
});
