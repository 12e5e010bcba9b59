// RFC 6238 TOTP and RFC 4226 HOTP against the published test vectors, the ±1 step window, and the
// base32 spelling of secrets.
import { describe, expect, test } from 'vitest';
import { base32Decode, base32Encode, hotp, matchTotp, totp, totpStep } from '../../src/interaction/mfa/totp.js';

// RFC 6238 Appendix B: the seeds are the ASCII strings below (20, 32 and 64 bytes), 8 digits.
const SEEDS = {
  sha1: Buffer.from('12345678901234567890', 'ascii'),
  sha256: Buffer.from('12345678901234567890123456789012', 'ascii'),
  sha512: Buffer.from('1234567890123456789012345678901234567890123456789012345678901234', 'ascii'),
} as const;

const APPENDIX_B: Array<[number, string, keyof typeof SEEDS, string]> = [
  [59, '0000000000000001', 'sha1', '94287082'],
  [59, '0000000000000001', 'sha256', '46119246'],
  [59, '0000000000000001', 'sha512', '90693936'],
  [1111111109, '00000000023523EC', 'sha1', '07081804'],
  [1111111109, '00000000023523EC', 'sha256', '68084774'],
  [1111111109, '00000000023523EC', 'sha512', '25091201'],
  [1111111111, '00000000023523ED', 'sha1', '14050471'],
  [1111111111, '00000000023523ED', 'sha256', '67062674'],
  [1111111111, '00000000023523ED', 'sha512', '99943326'],
  [1234567890, '000000000273EF07', 'sha1', '89005924'],
  [1234567890, '000000000273EF07', 'sha256', '91819424'],
  [1234567890, '000000000273EF07', 'sha512', '93441116'],
  [2000000000, '0000000003F940AA', 'sha1', '69279037'],
  [2000000000, '0000000003F940AA', 'sha256', '90698825'],
  [2000000000, '0000000003F940AA', 'sha512', '38618901'],
  [20000000000, '0000000027BC86AA', 'sha1', '65353130'],
  [20000000000, '0000000027BC86AA', 'sha256', '77737706'],
  [20000000000, '0000000027BC86AA', 'sha512', '47863826'],
];

describe('RFC 6238 Appendix B', () => {
  test.each(APPENDIX_B)('at %i s (T = %s) %s gives %s', (seconds, stepHex, algorithm, expected) => {
    expect(totpStep(seconds * 1000)).toBe(parseInt(stepHex, 16));
    expect(totp(SEEDS[algorithm], seconds * 1000, 8, algorithm)).toBe(expected);
  });
});

describe('RFC 4226 Appendix D', () => {
  const expected = ['755224', '287082', '359152', '969429', '338314', '254676', '287922', '162583', '399871', '520489'];
  test.each(expected.map((code, counter) => [counter, code] as const))('HOTP counter %i is %s', (counter, code) => {
    expect(hotp(SEEDS.sha1, counter)).toBe(code);
  });
});

describe('matching a presented code', () => {
  const key = SEEDS.sha1;
  const now = 1_111_111_111_000;
  const step = totpStep(now);

  test('the codes of the previous, current and next step match and name their step', () => {
    expect(matchTotp(key, hotp(key, step - 1), now)).toBe(step - 1);
    expect(matchTotp(key, hotp(key, step), now)).toBe(step);
    expect(matchTotp(key, hotp(key, step + 1), now)).toBe(step + 1);
  });

  test('codes two steps away, wrong codes and non-digits do not match', () => {
    expect(matchTotp(key, hotp(key, step - 2), now)).toBeUndefined();
    expect(matchTotp(key, hotp(key, step + 2), now)).toBeUndefined();
    const wrong = String((Number(hotp(key, step)) + 1) % 1_000_000).padStart(6, '0');
    expect(matchTotp(key, wrong, now)).toBeUndefined();
    expect(matchTotp(key, 'abcdef', now)).toBeUndefined();
    expect(matchTotp(key, '', now)).toBeUndefined();
    expect(matchTotp(key, `${hotp(key, step)}0`, now)).toBeUndefined();
  });

  test('spaces typed inside a code are ignored', () => {
    const code = hotp(key, step);
    expect(matchTotp(key, `${code.slice(0, 3)} ${code.slice(3)}`, now)).toBe(step);
  });
});

describe('base32 (RFC 4648 §6)', () => {
  test('encodes the RFC 4648 §10 vectors without padding and decodes them back', () => {
    const vectors: Array<[string, string]> = [['f', 'MY'], ['fo', 'MZXQ'], ['foo', 'MZXW6'], ['foob', 'MZXW6YQ'], ['fooba', 'MZXW6YTB'], ['foobar', 'MZXW6YTBOI']];
    for (const [plain, encoded] of vectors) {
      expect(base32Encode(Buffer.from(plain))).toBe(encoded);
      expect(base32Decode(encoded).toString()).toBe(plain);
    }
  });

  test('decodes lower case, spaces and padding, and refuses other characters', () => {
    expect(base32Decode('mzxw 6ytb oi======').toString()).toBe('foobar');
    expect(() => base32Decode('MZXW1')).toThrow(TypeError);
  });
});
