// The reporter of repeated connection errors passes one call per interval and drops the rest.
import { describe, expect, it } from 'vitest';
import { atMostEvery } from '../../src/util/at-most-every.js';

describe('atMostEvery', () => {
  it('passes the first call, drops the others within the interval, and passes again after it', () => {
    let now = 1_000;
    const seen: number[] = [];
    const report = atMostEvery(30_000, (n: number) => seen.push(n), () => now);
    report(1);
    report(2);
    now += 29_999;
    report(3);
    now += 1;
    report(4);
    expect(seen).toEqual([1, 4]);
  });
});
