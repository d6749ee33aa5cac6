import type { Metrics } from '../metrics/metrics.js';
import type { Binding, BindingKey, Exclusion, ExclusionKey, StoredBinding } from './binding.js';
import type { BindingStore, CompareAndSetResult, CreateResult, LearnedBinding } from './store.js';

/** The operations both stores report latency and errors under (guarded-store.ts uses the same names). */
export const STORE_OPERATIONS = ['read', 'create', 'compare_and_set', 'learn', 'delete', 'read_exclusion', 'exclude'] as const;
export const STORE_ERROR_REASONS = ['deadline', 'error', 'skipped_while_degraded'] as const;

/** Error series start at zero so dashboards and alerts read 0, not "no data". */
export function initialiseStoreMetrics(metrics: Metrics): void {
  for (const operation of STORE_OPERATIONS) for (const reason of STORE_ERROR_REASONS) metrics.storeErrors.inc({ operation, reason }, 0);
}

/**
 * Latency and errors of a store that needs no deadline (the in-memory one), under
 * the metric names the Redis store's guard uses, so one dashboard shows either.
 */
export class TimedStore implements BindingStore {
  constructor(
    private readonly inner: BindingStore,
    private readonly metrics: Metrics,
  ) {
    initialiseStoreMetrics(metrics);
  }

  private timed<T>(operation: (typeof STORE_OPERATIONS)[number], call: () => Promise<T>): Promise<T> {
    const started = performance.now();
    const observed = (): void => this.metrics.storeSeconds.observe({ operation }, (performance.now() - started) / 1000);
    let pending: Promise<T>;
    try {
      pending = call();
    } catch (error) {
      observed();
      this.metrics.storeErrors.inc({ operation, reason: 'error' });
      return Promise.reject(error);
    }
    return pending.then(
      (value) => {
        observed();
        return value;
      },
      (error: unknown) => {
        observed();
        this.metrics.storeErrors.inc({ operation, reason: 'error' });
        throw error;
      },
    );
  }

  read(keys: readonly BindingKey[]): Promise<(StoredBinding | undefined)[]> {
    return this.timed('read', () => this.inner.read(keys));
  }
  create(key: BindingKey, binding: Binding): Promise<CreateResult> {
    return this.timed('create', () => this.inner.create(key, binding));
  }
  compareAndSet(key: BindingKey, expectedVersion: number | undefined, binding: Binding): Promise<CompareAndSetResult> {
    return this.timed('compare_and_set', () => this.inner.compareAndSet(key, expectedVersion, binding));
  }
  learn(bindings: readonly LearnedBinding[]): Promise<void> {
    return this.timed('learn', () => this.inner.learn(bindings));
  }
  deleteIf(key: BindingKey, expectedVersion: number): Promise<boolean> {
    return this.timed('delete', () => this.inner.deleteIf(key, expectedVersion));
  }
  readExclusion(key: ExclusionKey): Promise<Exclusion | undefined> {
    return this.timed('read_exclusion', () => this.inner.readExclusion(key));
  }
  exclude(key: ExclusionKey, entry: { readonly domain?: string; readonly account?: string }): Promise<Exclusion> {
    return this.timed('exclude', () => this.inner.exclude(key, entry));
  }
  close(): Promise<void> {
    return this.inner.close();
  }

  /** Entries held, when the inner store tells (tests report it). */
  get size(): number | undefined {
    return (this.inner as { size?: number }).size;
  }
}
