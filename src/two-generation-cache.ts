/**
 * A bounded map that costs one `Map#set` per insert, for the library's per-request memos
 * (the store's recent reads, the manager's decoded metadata).
 *
 * Two generations of at most `size` entries: when the newer fills, the older is dropped
 * whole and the newer takes its place. An entry set again joins the newer generation, so
 * the last `size` entries set are always found, and at most `2 × size` are held.
 *
 * Hand-written rather than an LRU package (lru-cache): an LRU moves an entry on every `get`
 * and a library adds a dependency, where these memos need neither.
 */
export class TwoGenerationCache<K, V> {
  readonly #size: number;
  #newer = new Map<K, V>();
  #older = new Map<K, V>();

  constructor(size: number) {
    this.#size = size;
  }

  get(key: K): V | undefined {
    return this.#newer.get(key) ?? this.#older.get(key);
  }

  set(key: K, value: V): void {
    this.#newer.set(key, value);
    if (this.#newer.size >= this.#size) {
      this.#older = this.#newer;
      this.#newer = new Map();
    }
  }

  delete(key: K): void {
    this.#newer.delete(key);
    this.#older.delete(key);
  }

  clear(): void {
    this.#newer = new Map();
    this.#older = new Map();
  }
}
