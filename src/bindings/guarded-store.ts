import type { Logger } from '../logging/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { Binding, BindingKey, Exclusion, ExclusionKey } from './binding.js';
import type { BindingStore, CompareAndSetResult, CreateResult, LearnedBinding } from './store.js';

export class StoreDeadlineError extends Error {
  constructor(operation: string, deadline: number) {
    super(`binding store: ${operation} took longer than ${deadline} ms`);
    this.name = 'StoreDeadlineError';
  }
}

/**
 * A store behind a deadline. When a call fails or overruns, the request goes
 * on as if the store knew nothing: reads find nothing (placement is
 * deterministic, so sessions land where they were placed), writes are dropped
 * (nothing learned while degraded is hardened), and the state change is logged
 * once and shown in metrics.
 */
export class GuardedStore implements BindingStore {
  private degraded = false;

  constructor(
    private readonly inner: BindingStore,
    private readonly options: { deadline: number; metrics: Metrics; logger: Logger },
  ) {}

  get isDegraded(): boolean {
    return this.degraded;
  }

  private async guard<T>(operation: string, call: () => Promise<T>, fallback: () => T): Promise<T> {
    const { metrics, deadline } = this.options;
    const stopTimer = metrics.storeSeconds.startTimer({ operation });
    let timer: NodeJS.Timeout | undefined;
    try {
      const result = await Promise.race([
        call(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new StoreDeadlineError(operation, deadline)), deadline);
        }),
      ]);
      this.setDegraded(false, undefined);
      return result;
    } catch (error) {
      metrics.storeErrors.inc({ operation, reason: error instanceof StoreDeadlineError ? 'deadline' : 'error' });
      this.setDegraded(true, error);
      return fallback();
    } finally {
      clearTimeout(timer);
      stopTimer();
    }
  }

  private setDegraded(degraded: boolean, error: unknown): void {
    if (degraded === this.degraded) return;
    this.degraded = degraded;
    this.options.metrics.storeDegraded.set(degraded ? 1 : 0);
    if (degraded) this.options.logger.error({ reason: error instanceof Error ? error.name : 'unknown' }, 'binding store degraded: routing by placement alone, nothing new is hardened');
    else this.options.logger.warn('binding store recovered');
  }

  read(keys: readonly BindingKey[]) {
    return this.guard('read', () => this.inner.read(keys), () => keys.map(() => undefined));
  }

  create(key: BindingKey, binding: Binding): Promise<CreateResult> {
    // Not stored: the caller's decision stands, as it would with a store that knew nothing.
    return this.guard('create', () => this.inner.create(key, binding), () => ({ created: true, binding: { ...binding, version: 0 } }));
  }

  compareAndSet(key: BindingKey, expectedVersion: number | undefined, binding: Binding): Promise<CompareAndSetResult> {
    return this.guard('compare_and_set', () => this.inner.compareAndSet(key, expectedVersion, binding), () => ({ written: false, binding: undefined }));
  }

  learn(bindings: readonly LearnedBinding[]): Promise<void> {
    return this.guard('learn', () => this.inner.learn(bindings), () => undefined);
  }

  deleteIf(key: BindingKey, expectedVersion: number): Promise<boolean> {
    return this.guard('delete', () => this.inner.deleteIf(key, expectedVersion), () => false);
  }

  readExclusion(key: ExclusionKey): Promise<Exclusion | undefined> {
    return this.guard('read_exclusion', () => this.inner.readExclusion(key), () => undefined);
  }

  exclude(key: ExclusionKey, entry: { readonly domain?: string; readonly account?: string }): Promise<Exclusion> {
    const alone: Exclusion = { domains: entry.domain !== undefined ? [entry.domain] : [], accounts: entry.account !== undefined ? [entry.account] : [] };
    return this.guard('exclude', () => this.inner.exclude(key, entry), () => alone);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
