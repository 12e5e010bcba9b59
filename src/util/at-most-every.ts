// A reporter that passes on at most one call per interval and drops the rest: connection errors
// of the database and the cache repeat many times a second during an outage.

/** fn, called at most once per intervalMs (later calls within it are dropped). */
export function atMostEvery<A extends unknown[]>(intervalMs: number, fn: (...args: A) => void, clock: () => number = Date.now): (...args: A) => void {
  let last = Number.NEGATIVE_INFINITY;
  return (...args) => {
    const at = clock();
    if (at - last < intervalMs) return;
    last = at;
    fn(...args);
  };
}
