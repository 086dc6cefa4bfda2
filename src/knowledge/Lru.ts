/** A small bounded least-recently-used map (insertion order of a `Map` is the recency order). */
export class Lru<K, V> {
  readonly #entries = new Map<K, V>()
  constructor(readonly capacity: number) {
    if (!(capacity >= 1)) throw new RangeError("Lru capacity must be at least 1")
  }

  get size(): number {
    return this.#entries.size
  }

  get(key: K): V | undefined {
    const value = this.#entries.get(key)
    if (value === undefined) return undefined
    this.#entries.delete(key)
    this.#entries.set(key, value)
    return value
  }

  set(key: K, value: V): void {
    this.#entries.delete(key)
    this.#entries.set(key, value)
    while (this.#entries.size > this.capacity) {
      const oldest = this.#entries.keys().next()
      if (oldest.done) break
      this.#entries.delete(oldest.value)
    }
  }

  keys(): IterableIterator<K> {
    return this.#entries.keys()
  }

  delete(key: K): void {
    this.#entries.delete(key)
  }

  clear(): void {
    this.#entries.clear()
  }
}
