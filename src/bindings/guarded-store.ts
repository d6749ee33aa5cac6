import { LRUCache } from 'lru-cache';
import type { Logger } from '../logging/logger.js';
import { initialiseStoreMetrics } from './timed-store.js';
import type { Metrics } from '../metrics/metrics.js';
import type { Binding, BindingKey, Exclusion, ExclusionKey, StoredBinding } from './binding.js';
import type { BindingStore, CompareAndSetResult, CreateResult, LearnedBinding } from './store.js';

import { StoreDeadlineError, withDeadline } from './deadline-store.js';

/**
 * A store behind a deadline. When a call fails or overruns, the request goes
 * on as if the store knew nothing: reads find nothing (placement is
 * deterministic, so sessions land where they were placed), writes are dropped
 * (nothing learned while degraded is hardened), and the state change is logged
 * once and shown in metrics.
 */
/** While degraded, calls fail at once for this long before one probes the store again. */
const PROBE_INTERVAL_MILLISECONDS = 500;
/** State changes are logged at most this often (a store that flaps logs once). */
const LOG_INTERVAL_MILLISECONDS = 10_000;

function isTimeout(error: unknown): boolean {
  return error instanceof StoreDeadlineError || (error instanceof Error && /timed out/i.test(error.message));
}

export class GuardedStore implements BindingStore {
  private degraded = false;
  /** Until then, calls do not reach the store (one failed call costs one deadline, not one per call). */
  private probeAt = 0;
  private lastLogAt = Number.NEGATIVE_INFINITY;
  private loggedDegraded = false;
  /** Session bindings decided while degraded (never written): compared with the store's once it answers. */
  private readonly decidedWhileDegraded = new LRUCache<string, string>({ max: 10_000 });

  constructor(
    private readonly inner: BindingStore,
    private readonly options: { deadline: number; metrics: Metrics; logger: Logger; probeIntervalMilliseconds?: number },
  ) {
    initialiseStoreMetrics(options.metrics);
  }

  get isDegraded(): boolean {
    return this.degraded;
  }

  /** The store was not reachable at start: begin degraded, probing. */
  markUnreachable(): void {
    this.setDegraded(true, new Error('unreachable at start'));
  }

  private async guard<T>(operation: string, call: () => Promise<T>, fallback: () => T): Promise<T> {
    const { metrics, deadline } = this.options;
    if (this.degraded && Date.now() < this.probeAt) {
      metrics.storeErrors.inc({ operation, reason: 'skipped_while_degraded' });
      return fallback();
    }
    const stopTimer = metrics.storeSeconds.startTimer({ operation });
    try {
      const result = await withDeadline(operation, deadline, call);
      this.setDegraded(false, undefined);
      return result;
    } catch (error) {
      metrics.storeErrors.inc({ operation, reason: isTimeout(error) ? 'deadline' : 'error' });
      this.probeAt = Date.now() + (this.options.probeIntervalMilliseconds ?? PROBE_INTERVAL_MILLISECONDS);
      this.setDegraded(true, error);
      return fallback();
    } finally {
      stopTimer();
    }
  }

  private setDegraded(degraded: boolean, error: unknown): void {
    if (degraded === this.degraded) return;
    this.degraded = degraded;
    this.options.metrics.storeDegraded.set(degraded ? 1 : 0);
    const now = Date.now();
    if (degraded && now - this.lastLogAt >= LOG_INTERVAL_MILLISECONDS) {
      this.lastLogAt = now;
      this.loggedDegraded = true;
      this.options.logger.error({ reason: isTimeout(error) ? 'deadline' : error instanceof Error ? error.name : 'unknown' }, 'binding store degraded: routing by placement alone, nothing new is hardened');
    } else if (!degraded && this.loggedDegraded) {
      this.loggedDegraded = false;
      this.options.logger.warn('binding store recovered');
    }
  }

  async read(keys: readonly BindingKey[]) {
    const found = await this.guard('read', () => this.inner.read(keys), () => keys.map(() => undefined));
    if (!this.degraded && this.decidedWhileDegraded.size > 0) this.reconcile(keys, found);
    return found;
  }

  /**
   * Redis answers again: what it holds wins over what was decided without it (the
   * caller routes by the binding read). Counted, per session, once.
   */
  private reconcile(keys: readonly BindingKey[], found: readonly (StoredBinding | undefined)[]): void {
    keys.forEach((key, index) => {
      const id = `${key.kind}:${key.partition}:${key.id}`;
      const decided = this.decidedWhileDegraded.get(id);
      if (decided === undefined) return;
      this.decidedWhileDegraded.delete(id);
      const held = found[index];
      const outcome = held === undefined ? 'store_had_none' : held.account === decided ? 'agreed' : 'store_won';
      this.options.metrics.reconciliations.inc({ outcome });
    });
  }

  create(key: BindingKey, binding: Binding): Promise<CreateResult> {
    // Not stored: the caller's decision stands, as it would with a store that knew nothing.
    return this.guard('create', () => this.inner.create(key, binding), () => {
      this.decidedWhileDegraded.set(`${key.kind}:${key.partition}:${key.id}`, binding.account);
      return { created: true, binding: { ...binding, version: 0 } };
    });
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
