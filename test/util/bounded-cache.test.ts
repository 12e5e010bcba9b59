// The bounded FIFO cache behind the gateway's token caches, the user-reach cache and the demo sessions.
import { describe, expect, it } from 'vitest';
import { BoundedCache } from '../../src/util/bounded-cache.js';

describe('BoundedCache', () => {
  it('evicts the entry set longest ago when a new key arrives at the bound', () => {
    const cache = new BoundedCache<string, number>(2);
    cache.set('a', 1).set('b', 2).set('c', 3);
    expect(cache.size).toBe(2);
    expect(cache.get('a')).toBeUndefined();
    expect([...cache.entries()]).toEqual([['b', 2], ['c', 3]]);
  });

  it('moves a key set again to the newest position without evicting another', () => {
    const cache = new BoundedCache<string, number>(2);
    cache.set('a', 1).set('b', 2).set('a', 3);
    expect([...cache.entries()]).toEqual([['b', 2], ['a', 3]]);
    cache.set('c', 4);
    expect([...cache.entries()]).toEqual([['a', 3], ['c', 4]]);
  });

  it('does not reorder on reads, and deletes and clears', () => {
    const cache = new BoundedCache<string, number>(2);
    cache.set('a', 1).set('b', 2);
    expect(cache.get('a')).toBe(1);
    cache.set('c', 3);
    expect(cache.get('a')).toBeUndefined();
    expect(cache.delete('b')).toBe(true);
    expect(cache.delete('b')).toBe(false);
    cache.clear();
    expect(cache.size).toBe(0);
  });

  it('allows deleting entries while iterating them', () => {
    const cache = new BoundedCache<number, number>(10);
    for (let i = 0; i < 5; i++) cache.set(i, i);
    for (const [key, value] of cache.entries()) if (value % 2 === 0) cache.delete(key);
    expect([...cache.entries()].map(([k]) => k)).toEqual([1, 3]);
  });

  it.each([0, -1, 1.5, Number.NaN])('refuses a bound of %s', (bound) => {
    expect(() => new BoundedCache(bound)).toThrow(/maxEntries must be a positive integer/);
  });
});
