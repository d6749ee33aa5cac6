import { LRUCache } from 'lru-cache';
import type { Binding } from './binding.js';
import type { BindingStore } from './store.js';

export interface MemoryStoreOptions {
  readonly maxEntries: number;
  /** Injected clock (milliseconds); lru-cache's TTL uses performance.now otherwise. */
  readonly now?: () => number;
}

/**
 * Bounded in-memory store: least recently used entries go first when full, and
 * every read slides the entry's TTL. Single-threaded Node makes
 * createIfAbsent atomic within one replica.
 */
export class MemoryBindingStore implements BindingStore {
  private readonly cache: LRUCache<string, Binding>;

  constructor(options: MemoryStoreOptions) {
    this.cache = new LRUCache<string, Binding>({
      max: options.maxEntries,
      ttlAutopurge: false,
      updateAgeOnGet: true,
      allowStale: false,
      ttlResolution: 0,
      ...(options.now ? { perf: { now: options.now } } : {}),
    });
  }

  get size(): number {
    return this.cache.size;
  }

  async get(key: string, ttlMilliseconds: number): Promise<Binding | undefined> {
    return this.read(key, ttlMilliseconds);
  }

  private read(key: string, ttlMilliseconds: number): Binding | undefined {
    const binding = this.cache.get(key);
    if (binding !== undefined) this.cache.set(key, binding, { ttl: ttlMilliseconds });
    return binding;
  }

  async getMany(keys: readonly string[], ttlMilliseconds: number): Promise<(Binding | undefined)[]> {
    return keys.map((key) => this.read(key, ttlMilliseconds));
  }

  async createIfAbsent(key: string, binding: Binding, ttlMilliseconds: number): Promise<Binding> {
    const existing = this.read(key, ttlMilliseconds);
    if (existing !== undefined) return existing;
    this.cache.set(key, binding, { ttl: ttlMilliseconds });
    return binding;
  }

  async put(key: string, binding: Binding, ttlMilliseconds: number): Promise<void> {
    this.cache.set(key, binding, { ttl: ttlMilliseconds });
  }

  async delete(key: string): Promise<void> {
    this.cache.delete(key);
  }

  async close(): Promise<void> {
    this.cache.clear();
  }
}
