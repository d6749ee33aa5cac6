import { randomUUID } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import { quitOrDisconnect } from '../redis/client.js';
import type { Metrics } from '../metrics/metrics.js';
import type { Binding, BindingKey, Exclusion, ExclusionKey, StoredBinding } from './binding.js';
import type { BindingStore, CompareAndSetResult, CreateResult, LearnedBinding } from './store.js';

export interface NearCacheOptions {
  readonly maxEntries: number;
  /** How long a cached binding is trusted without asking the shared store. */
  readonly ttl: number;
  readonly metrics: Metrics;
  /** Publishes and receives invalidations, so a move on one replica drops the others' copies. */
  readonly bus?: { readonly client: Redis | Cluster; readonly subscriber: Redis | Cluster; readonly channel: string };
  /** The name a binding has on the bus: the shared store's own HMAC digest, never a client value. */
  readonly keyOf: (key: BindingKey) => string;
  /** True while the shared store fails: then copies older than `ttl` still answer. */
  readonly degraded?: () => boolean;
  readonly now?: () => number;
}

interface Copy {
  readonly binding: StoredBinding;
  readonly fetchedAt: number;
}

/**
 * A small per-replica cache in front of the shared store: a hot session's
 * bindings usually cost no round trip. Writes go through and update it; every
 * change is published so other replicas drop their copy. A copy that is stale
 * for a moment is safe: a decision taken on it writes by compare-and-set, loses,
 * and is taken again on what the store holds. When the store fails, cached
 * bindings still answer.
 */
export class NearCache implements BindingStore {
  private readonly cache: LRUCache<string, Copy>;
  private readonly replica = randomUUID();

  get isDegraded(): boolean {
    return this.options.degraded?.() ?? false;
  }

  constructor(
    private readonly inner: BindingStore,
    private readonly options: NearCacheOptions,
  ) {
    // No TTL in the LRU itself: a copy past `ttl` is asked for again, but kept to answer
    // while the shared store is away.
    this.cache = new LRUCache({ max: options.maxEntries });
    const bus = options.bus;
    if (bus) {
      bus.subscriber.on('message', (channel: string, text: string) => {
        if (channel !== bus.channel) return;
        const [from, ...keys] = text.split('\n');
        if (from === this.replica) return;
        for (const key of keys) this.cache.delete(key);
      });
      const subscribe = () => void Promise.resolve(bus.subscriber.subscribe(bus.channel)).catch(() => undefined);
      if (bus.subscriber.status === 'ready') subscribe();
      else bus.subscriber.once('ready', subscribe);
    }
  }

  /** One message per change, however many keys it touched. */
  private changed(keys: readonly BindingKey[]): void {
    const bus = this.options.bus;
    if (!bus || keys.length === 0) return;
    const message = [this.replica, ...keys.map((key) => this.options.keyOf(key))].join('\n');
    void Promise.resolve(bus.client.publish(bus.channel, message)).catch(() => undefined);
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  private keep(key: BindingKey, binding: StoredBinding | undefined): void {
    if (binding) this.cache.set(this.options.keyOf(key), { binding, fetchedAt: this.now() });
    else this.cache.delete(this.options.keyOf(key));
  }

  async read(keys: readonly BindingKey[]): Promise<(StoredBinding | undefined)[]> {
    const now = this.now();
    const copies = keys.map((key) => this.cache.get(this.options.keyOf(key)));
    const results = copies.map((copy) => (copy && now - copy.fetchedAt < this.options.ttl ? copy.binding : undefined));
    const missing = keys.map((_, index) => index).filter((index) => results[index] === undefined);
    this.options.metrics.nearCache.inc({ result: 'hit' }, keys.length - missing.length);
    if (missing.length === 0) return results;
    this.options.metrics.nearCache.inc({ result: 'miss' }, missing.length);
    const found = await this.inner.read(missing.map((index) => keys[index]!));
    const degraded = this.options.degraded?.() ?? false;
    missing.forEach((index, position) => {
      const binding = found[position];
      if (binding) this.keep(keys[index]!, binding);
      // The store is away: the last copy this replica saw answers (a hard session keeps its account).
      else if (degraded && copies[index]) {
        results[index] = copies[index]!.binding;
        this.options.metrics.nearCache.inc({ result: 'stale_while_degraded' });
        return;
      }
      results[index] = binding;
    });
    return results;
  }

  async create(key: BindingKey, binding: Binding): Promise<CreateResult> {
    const result = await this.inner.create(key, binding);
    if (result.binding.version > 0) this.keep(key, result.binding);
    if (result.created) this.changed([key]);
    return result;
  }

  async compareAndSet(key: BindingKey, expectedVersion: number | undefined, binding: Binding): Promise<CompareAndSetResult> {
    const result = await this.inner.compareAndSet(key, expectedVersion, binding);
    this.keep(key, result.binding);
    if (result.written) this.changed([key]);
    return result;
  }

  async learn(bindings: readonly LearnedBinding[]): Promise<void> {
    await this.inner.learn(bindings);
    // Nothing learned while the store is away is kept, here either: it was not written.
    const degraded = this.options.degraded?.() ?? false;
    for (const { key, binding } of bindings) {
      // A learned anchor is a fact nobody compares-and-sets: kept with no version, so the
      // session's next turn finds it here. A session binding's version is the store's.
      if (key.kind === 'session' || degraded) this.cache.delete(this.options.keyOf(key));
      else this.keep(key, { ...binding, version: 0 });
    }
    this.changed(bindings.map((learned) => learned.key));
  }

  async deleteIf(key: BindingKey, expectedVersion: number): Promise<boolean> {
    const deleted = await this.inner.deleteIf(key, expectedVersion);
    this.cache.delete(this.options.keyOf(key));
    if (deleted) this.changed([key]);
    return deleted;
  }

  readExclusion(key: ExclusionKey): Promise<Exclusion | undefined> {
    return this.inner.readExclusion(key);
  }

  exclude(key: ExclusionKey, entry: { readonly domain?: string; readonly account?: string }): Promise<Exclusion> {
    return this.inner.exclude(key, entry);
  }

  async close(): Promise<void> {
    this.cache.clear();
    if (this.options.bus) await Promise.all([quitOrDisconnect(this.options.bus.subscriber), quitOrDisconnect(this.options.bus.client)]);
    await this.inner.close();
  }
}
