// The winner of a redemption race still answers when a racing replay revoked its grant
// (src/oauth/grants/replay-race.ts), and only then: any other revocation, or one from before the
// winner consumed its credential, refuses it.
import { describe, expect, test } from 'vitest';
import { checkGrantForRedemption } from '../../src/oauth/grants/replay-race.js';
import { OAuthError } from '../../src/errors/oauth-error.js';
import type { GrantRecord } from '../../src/storage/types.js';

const T = 1_800_000_000_000;
const grant = (over: Partial<GrantRecord>): GrantRecord => ({ grantId: 'g', clientId: 'c', userId: 'u', consentId: null, createdAt: T - 1000, revokedAt: null, revokedReason: null, ...over });

const refused = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return err instanceof OAuthError ? [err.error, err.description] : ['other'];
  }
  return ['not refused'];
};

describe('checkGrantForRedemption', () => {
  test('a live grant lets the redemption go on; a missing one refuses it', () => {
    expect(checkGrantForRedemption(grant({}), T, 'refresh_reuse').racedByReplay).toBe(false);
    expect(refused(() => checkGrantForRedemption(undefined, T, 'refresh_reuse'))).toEqual(['invalid_grant', 'the authorization was revoked']);
  });

  test('a revocation for replay of this grant made at or after the consumption is a race the winner still answers', () => {
    expect(checkGrantForRedemption(grant({ revokedAt: T, revokedReason: 'refresh_reuse' }), T, 'refresh_reuse').racedByReplay).toBe(true);
    expect(checkGrantForRedemption(grant({ revokedAt: T + 5, revokedReason: 'code_replay' }), T, 'code_replay').racedByReplay).toBe(true);
  });

  test('a replay revocation from before the consumption (a token issued after the family was revoked), or any other revocation, refuses', () => {
    expect(refused(() => checkGrantForRedemption(grant({ revokedAt: T - 1, revokedReason: 'refresh_reuse' }), T, 'refresh_reuse'))).toEqual(['invalid_grant', 'the authorization was revoked']);
    for (const reason of ['revoked', 'consent_revoked', 'user_disabled', 'code_replay']) {
      expect(refused(() => checkGrantForRedemption(grant({ revokedAt: T + 5, revokedReason: reason }), T, 'refresh_reuse'))).toEqual(['invalid_grant', 'the authorization was revoked']);
    }
  });
});
