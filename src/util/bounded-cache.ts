// A Map with a maximum number of entries and first-in, first-out eviction: setting a key when the
// cache is full evicts the entry set longest ago. Setting an existing key moves it to the newest
// position. No imports: every layer may use it.
//
// Deliberately not here: expiry. Each cache keeps its own deadline in its values (token expiry,
// sliding session lifetimes and per-cache maximum ages differ), and reading never reorders entries.
export class BoundedCache<K, V> {
  readonly #entries = new Map<K, V>();

  constructor(readonly maxEntries: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError('BoundedCache: maxEntries must be a positive integer');
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: K): V | undefined {
    return this.#entries.get(key);
  }

  /** Stores the value as the newest entry, evicting the oldest entries while the cache is full. */
  set(key: K, value: V): this {
    this.#entries.delete(key);
    while (this.#entries.size >= this.maxEntries) this.#entries.delete(this.#entries.keys().next().value as K);
    this.#entries.set(key, value);
    return this;
  }

  delete(key: K): boolean {
    return this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }

  /** Entries from oldest to newest; deleting the current entry while iterating is safe. */
  entries(): IterableIterator<[K, V]> {
    return this.#entries.entries();
  }
}
