// A request rate limiter: a fixed-window counter per key (45 CFR 164.308(a)(5)(ii)(C) log-in
// monitoring; NIST SP 800-63B §5.2.2 rate limiting; RFC 6585 §4 429 Too Many Requests). Decisions
// are made in memory, with no I/O per request: the token endpoint runs thousands of requests a
// second through it. Instances behind one load balancer share their counts through a store
// (src/http/request-rate-limits.ts syncs every second): each key's window holds this process's
// count and the other instances' count as of the last exchange, and a request is allowed while
// their sum stays within the limit.
//
// Windows are aligned to the clock (every instance agrees on them): [k·windowMs, (k+1)·windowMs).
// The (limit+1)th request in a window and every one after it are refused until the window ends.
// The first refusal per key and window is marked `report`, so the caller audits a flood once.
//
// Memory is bounded: at most maxKeys keys are held. Keys live in a Map in the order their windows
// opened; ended windows are dropped from the front, and when the map is still full the oldest
// window is forgotten (its key starts again from zero). Deliberately not done: sliding windows (a
// key can make up to 2 × limit requests around a window boundary), and keeping a counter under a
// flood of more than maxKeys distinct keys in one window.
//
// Pure: no HTTP, no storage, no clock of its own (the caller passes `now`, from ctx.now).

export type RateLimitDecision =
  | { allowed: true }
  | {
    allowed: false;
    /** Whole seconds until this key's window ends (at least 1): the Retry-After value. */
    retryAfterSeconds: number;
    /** True for the first refusal of this key in this window: the one to audit. */
    report: boolean;
  };

interface Window {
  start: number;
  /** Requests of this process in the window. */
  count: number;
  /** Of those, not yet handed to the shared store. */
  pending: number;
  /** Requests of other instances in the window, as of the last exchange. */
  others: number;
  reported: boolean;
}

/** One key's window as handed to the shared store: `delta` requests to add (may be 0: a refresh). */
export interface WindowShare {
  key: string;
  windowStart: number;
  delta: number;
}

export interface FixedWindowLimiterOptions {
  /** Requests allowed per key and window; 0 turns the limiter off (every request is allowed, nothing is held). */
  limit: number;
  windowMs: number;
  /** The most keys held at once. */
  maxKeys: number;
}

export class FixedWindowLimiter {
  readonly limit: number;
  readonly windowMs: number;
  readonly maxKeys: number;
  readonly #windows = new Map<string, Window>();

  constructor(options: FixedWindowLimiterOptions) {
    for (const [name, value, min] of [['limit', options.limit, 0], ['windowMs', options.windowMs, 1], ['maxKeys', options.maxKeys, 1]] as const) {
      if (!Number.isSafeInteger(value) || value < min) throw new RangeError(`FixedWindowLimiter: ${name} must be an integer ≥ ${min}, got ${value}`);
    }
    this.limit = options.limit;
    this.windowMs = options.windowMs;
    this.maxKeys = options.maxKeys;
  }

  /** How many keys are held now (for tests of the memory bound). */
  get size(): number {
    return this.#windows.size;
  }

  /** Counts one request of `key` at `now` (epoch ms) and decides it. */
  take(key: string, now: number): RateLimitDecision {
    if (this.limit === 0) return { allowed: true };
    const start = now - (((now % this.windowMs) + this.windowMs) % this.windowMs);
    let w = this.#windows.get(key);
    if (w === undefined || w.start !== start) {
      // A new window (or a clock moved backwards): re-inserted at the end, so the map stays
      // ordered by window start.
      if (w !== undefined) this.#windows.delete(key);
      this.#makeRoom(now);
      w = { start, count: 0, pending: 0, others: 0, reported: false };
      this.#windows.set(key, w);
    }
    w.count += 1;
    w.pending += 1;
    if (w.count + w.others <= this.limit) return { allowed: true };
    const report = !w.reported;
    w.reported = true;
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((w.start + this.windowMs - now) / 1000)), report };
  }

  /**
   * The windows open at `now` to exchange with the shared store, at most `max`, those with requests
   * not yet shared first; their pending counts are taken (give them back with restore() when the
   * exchange fails).
   */
  share(now: number, max: number): WindowShare[] {
    const open = [...this.#windows].filter(([, w]) => now - w.start < this.windowMs && now >= w.start);
    open.sort(([, a], [, b]) => Number(b.pending > 0) - Number(a.pending > 0));
    return open.slice(0, max).map(([key, w]) => {
      const delta = w.pending;
      w.pending = 0;
      return { key, windowStart: w.start, delta };
    });
  }

  /** An exchange failed: its deltas are pending again. */
  restore(shares: readonly WindowShare[]): void {
    for (const s of shares) {
      const w = this.#windows.get(s.key);
      if (w && w.start === s.windowStart) w.pending += s.delta;
    }
  }

  /** The shared total of a window after an exchange (every instance's requests, this one's shared ones included). */
  learn(key: string, windowStart: number, total: number): void {
    const w = this.#windows.get(key);
    if (!w || w.start !== windowStart) return;
    // Other instances' counts only grow within a window; an answer that arrives late never lowers them.
    w.others = Math.max(w.others, total - (w.count - w.pending));
  }

  /** The refusal marked `report` could not be audited: the next refusal of this key in the window is marked again. */
  unreport(key: string): void {
    const w = this.#windows.get(key);
    if (w) w.reported = false;
  }

  /** Drops ended windows from the front; when the map is still full, forgets the oldest open one. */
  #makeRoom(now: number): void {
    for (const [key, w] of this.#windows) {
      const ended = now - w.start >= this.windowMs;
      if (!ended && this.#windows.size < this.maxKeys) break;
      this.#windows.delete(key);
    }
  }
}
