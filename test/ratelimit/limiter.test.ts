// The in-memory fixed-window counter behind rate_limits.* (src/http/rate-limit.ts): counting,
// Retry-After, one report per key and window, 0 = off, and the bound on the keys it holds.
import { describe, expect, test } from 'vitest';
import { FixedWindowLimiter } from '../../src/http/rate-limit.js';

const T0 = 1_800_000_000_000;
const MINUTE = 60_000;

describe('FixedWindowLimiter', () => {
  test('allows `limit` requests per key and window, then refuses with the seconds left in the window', () => {
    const limiter = new FixedWindowLimiter({ limit: 3, windowMs: MINUTE, maxKeys: 100 });
    for (let i = 0; i < 3; i++) expect(limiter.take('a', T0 + i * 1000)).toEqual({ allowed: true });
    expect(limiter.take('a', T0 + 20_500)).toEqual({ allowed: false, retryAfterSeconds: 40, report: true });
    expect(limiter.take('a', T0 + 59_999)).toEqual({ allowed: false, retryAfterSeconds: 1, report: false });
    // Another key has its own count.
    expect(limiter.take('b', T0 + 30_000)).toEqual({ allowed: true });
  });

  test('a new window starts when the old one has ended, and reports its first refusal again', () => {
    const limiter = new FixedWindowLimiter({ limit: 1, windowMs: MINUTE, maxKeys: 100 });
    expect(limiter.take('a', T0).allowed).toBe(true);
    expect(limiter.take('a', T0 + 1)).toMatchObject({ allowed: false, report: true });
    expect(limiter.take('a', T0 + 2)).toMatchObject({ allowed: false, report: false });
    expect(limiter.take('a', T0 + MINUTE).allowed).toBe(true);
    expect(limiter.take('a', T0 + MINUTE + 1)).toMatchObject({ allowed: false, report: true });
  });

  test('a clock moved backwards starts the earlier window rather than a negative Retry-After', () => {
    const limiter = new FixedWindowLimiter({ limit: 1, windowMs: MINUTE, maxKeys: 100 });
    limiter.take('a', T0);
    expect(limiter.take('a', T0 - 5000).allowed).toBe(true);
    expect(limiter.take('a', T0 - 4000)).toMatchObject({ allowed: false, retryAfterSeconds: 4 });
  });

  test('windows are aligned to the clock, so every instance agrees on them', () => {
    const limiter = new FixedWindowLimiter({ limit: 1, windowMs: MINUTE, maxKeys: 100 });
    expect(limiter.take('a', T0 + 50_000).allowed).toBe(true);
    expect(limiter.take('a', T0 + 55_000)).toEqual({ allowed: false, retryAfterSeconds: 5, report: true });
    // The next window starts at T0 + 1 minute, not a minute after the first request.
    expect(limiter.take('a', T0 + MINUTE).allowed).toBe(true);
  });

  test('shared counts: requests of other instances in the window count, learned after each exchange', () => {
    const a = new FixedWindowLimiter({ limit: 5, windowMs: MINUTE, maxKeys: 100 });
    for (let i = 0; i < 3; i++) expect(a.take('k', T0 + i).allowed).toBe(true);
    const shares = a.share(T0 + 10, 100);
    expect(shares).toEqual([{ key: 'k', windowStart: T0, delta: 3 }]);
    // A request arrives while the exchange is under way; the store answers 3 (ours) + 2 (another instance's).
    expect(a.take('k', T0 + 11).allowed).toBe(true);
    a.learn('k', T0, 5);
    // 4 here + 2 elsewhere = 6 > 5.
    expect(a.take('k', T0 + 12)).toMatchObject({ allowed: false, report: true });
    // A late, smaller answer never lowers what is known of the others.
    a.learn('k', T0, 3);
    expect(a.take('k', T0 + 13).allowed).toBe(false);
    // Only the unshared requests are handed over next time; a failed exchange gives them back.
    const next = a.share(T0 + 20, 100);
    expect(next).toEqual([{ key: 'k', windowStart: T0, delta: 3 }]);
    a.restore(next);
    expect(a.share(T0 + 21, 100)).toEqual([{ key: 'k', windowStart: T0, delta: 3 }]);
    // An ended window is not exchanged, and an answer about it changes nothing.
    expect(a.share(T0 + MINUTE, 100)).toEqual([]);
  });

  test('unreport makes the next refusal in the window the reported one (its audit failed)', () => {
    const limiter = new FixedWindowLimiter({ limit: 1, windowMs: MINUTE, maxKeys: 100 });
    limiter.take('a', T0);
    expect(limiter.take('a', T0 + 1)).toMatchObject({ report: true });
    limiter.unreport('a');
    expect(limiter.take('a', T0 + 2)).toMatchObject({ report: true });
    expect(limiter.take('a', T0 + 3)).toMatchObject({ report: false });
  });

  test('limit 0 is off: everything is allowed and no key is held', () => {
    const limiter = new FixedWindowLimiter({ limit: 0, windowMs: MINUTE, maxKeys: 100 });
    for (let i = 0; i < 1000; i++) expect(limiter.take(`k${i % 3}`, T0).allowed).toBe(true);
    expect(limiter.size).toBe(0);
  });

  test('holds at most maxKeys keys under a flood of distinct keys, forgetting the oldest first', () => {
    const limiter = new FixedWindowLimiter({ limit: 2, windowMs: MINUTE, maxKeys: 1000 });
    limiter.take('victim', T0);
    limiter.take('victim', T0);
    expect(limiter.take('victim', T0).allowed).toBe(false);
    let largest = 0;
    for (let i = 0; i < 100_000; i++) {
      limiter.take(`flood-${i}`, T0 + 1 + Math.floor(i / 10_000));
      largest = Math.max(largest, limiter.size);
    }
    expect(largest).toBe(1000);
    expect(limiter.size).toBe(1000);
    // The oldest window (victim's) was forgotten: its count starts again. The newest keys are still counted.
    expect(limiter.take('victim', T0 + 20).allowed).toBe(true);
    expect(limiter.take('flood-99999', T0 + 20).allowed).toBe(true);
    expect(limiter.take('flood-99999', T0 + 20)).toMatchObject({ allowed: false, report: true });
  });

  test('ended windows are dropped as new keys arrive, so a quiet limiter does not keep old keys', () => {
    const limiter = new FixedWindowLimiter({ limit: 5, windowMs: MINUTE, maxKeys: 1000 });
    for (let i = 0; i < 500; i++) limiter.take(`old-${i}`, T0);
    expect(limiter.size).toBe(500);
    limiter.take('new', T0 + MINUTE);
    expect(limiter.size).toBe(1);
  });

  test('refuses options that are not whole numbers in range, naming the option', () => {
    expect(() => new FixedWindowLimiter({ limit: -1, windowMs: MINUTE, maxKeys: 10 })).toThrow(/limit/);
    expect(() => new FixedWindowLimiter({ limit: 1, windowMs: 0, maxKeys: 10 })).toThrow(/windowMs/);
    expect(() => new FixedWindowLimiter({ limit: 1, windowMs: MINUTE, maxKeys: 1.5 })).toThrow(/maxKeys/);
  });
});
