import { describe, expect, it } from 'vitest';
import { canonicalize, canonicalizeAround, canonicalizeReference } from '../../src/audit/jcs.js';
import { AuditError } from '../../src/audit/errors.js';

describe('RFC 8785 JSON canonicalization', () => {
  it('reproduces the RFC 8785 §3.2.3 sample byte for byte', () => {
    const input = String.raw`{
      "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
      "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
      "literals": [null, true, false]
    }`;
    const expected = String.raw`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`;
    expect(canonicalize(JSON.parse(input))).toBe(expected);
  });

  it('sorts members by UTF-16 code units as in RFC 8785 §3.2.3', () => {
    const input = { '\u20ac': 'Euro Sign', '\r': 'Carriage Return', '\ufb33': 'Hebrew Letter Dalet With Dagesh', '1': 'One', '\ud83d\ude00': 'Emoji: Grinning Face', '\u0080': 'Control', '\u00f6': 'Latin Small Letter O With Diaeresis' };
    expect(canonicalize(input)).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",' +
        '"\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
  });

  it('omits undefined members, writes -0 as 0 and nests objects and arrays canonically', () => {
    expect(canonicalize({ b: [{ z: 1, y: undefined, a: -0 }], a: 'x', c: undefined })).toBe('{"a":"x","b":[{"a":0,"z":1}]}');
  });

  it('refuses values that are not I-JSON instead of guessing', () => {
    for (const bad of [Number.NaN, Infinity, 10n, () => 1, Symbol('s'), new Date(0), '\ud800', { a: '\udc00x' }]) {
      expect(() => canonicalize(bad), String(typeof bad)).toThrow(AuditError);
    }
  });

  it('splits the canonical text around a member that is filled in later', () => {
    const object = { time: 5, actor: { userId: 'u' }, type: 'logout', details: { seq: 1 } };
    const { before, after } = canonicalizeAround(object, 'seq');
    for (const seq of [0, 7, 123456]) expect(before + seq + after).toBe(canonicalize({ ...object, seq }));
    const first = canonicalizeAround({ z: 1 }, 'a');
    expect(first.before + '2' + first.after).toBe('{"a":2,"z":1}');
    const last = canonicalizeAround({ a: 1 }, 'z');
    expect(last.before + '2' + last.after).toBe('{"a":1,"z":2}');
  });
});

describe('the fast canonicalization path', () => {
  const random = (n: number): number => Math.floor(Math.random() * n);
  const strings = ['', 'a', 'B', '1', '10', '9', '0', '01', '\u00e9', '\u20ac', '\ud83d\ude00', '\u0000', '"', '\\', '\n', 'seq', 'time', '__proto__x'];
  const value = (depth: number): unknown => {
    switch (depth > 3 ? random(4) : random(7)) {
      case 0: return strings[random(strings.length)]! + strings[random(strings.length)]!;
      case 1: return [0, -0, 1, -7, 2 ** 53 - 1, 1e21, 1.5, 1e-7, 333333333.33333329][random(9)];
      case 2: return random(2) === 0;
      case 3: return null;
      case 4: return Array.from({ length: random(4) }, () => value(depth + 1));
      default: {
        const object: Record<string, unknown> = {};
        for (let i = random(6); i > 0; i--) object[strings[random(strings.length)]!] = random(8) === 0 ? undefined : value(depth + 1);
        return object;
      }
    }
  };

  it('agrees with the member-by-member reference on random values, array-index names included', () => {
    for (let i = 0; i < 3000; i++) {
      const v = value(0);
      const text = canonicalize(v);
      expect(text).toBe(canonicalizeReference(v));
      expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(v)));
    }
  });

  it('orders array-index names as strings, not numerically', () => {
    expect(canonicalize({ b: 1, 10: 2, 9: 3, 1: 4 })).toBe('{"1":4,"10":2,"9":3,"b":1}');
    const { before, after } = canonicalizeAround({ details: { 10: 1, 9: 2 }, z: 1 }, 'seq');
    expect(`${before}0${after}`).toBe('{"details":{"10":1,"9":2},"seq":0,"z":1}');
  });
});

describe('canonicalizing around a hole', () => {
  it('matches canonicalize for random objects, whatever members come before or after the hole', () => {
    const names = ['a', 'actor', 'seq0', 'sep', 'sez', 'time', 'z', '1', '\u00e9'];
    for (let i = 0; i < 2000; i++) {
      const object: Record<string, unknown> = {};
      for (const name of names) if (Math.random() < 0.5) object[name] = Math.random() < 0.5 ? name : { [name]: [1, name] };
      if (Object.keys(object).length === 0) object['a'] = 1;
      const { before, after } = canonicalizeAround(object, 'seq');
      expect(`${before}42${after}`).toBe(canonicalize({ ...object, seq: 42 }));
    }
  });
});
