import { createMemoryStore } from '../../src/bindings/create-store.js';
import type { MemoryBindingStore } from '../../src/bindings/memory-store.js';
import type { BindingStore } from '../../src/bindings/store.js';
import { parseConfig } from '../../src/config/load.js';

const DEFAULTS = parseConfig({ accounts: [{ name: 'placeholder', cluster: 'placeholder' }] });

/** An in-memory store with the default TTLs, for tests that share one across processors. */
export function memoryStore(options: { maxEntries?: number; maxEntriesPerPrincipal?: number; now?: () => number } = {}): MemoryBindingStore {
  const maxEntries = options.maxEntries ?? 100_000;
  return createMemoryStore(DEFAULTS, options.now ?? Date.now, undefined, { maxEntries, ...(options.maxEntriesPerPrincipal ? { maxEntriesPerPrincipal: options.maxEntriesPerPrincipal } : {}) });
}

/** A store whose close() does nothing, to share bindings across processor restarts in a test. */
export function unclosable(store: BindingStore): BindingStore {
  return {
    read: (keys) => store.read(keys),
    create: (key, binding) => store.create(key, binding),
    compareAndSet: (key, version, binding) => store.compareAndSet(key, version, binding),
    learn: (bindings) => store.learn(bindings),
    deleteIf: (key, version) => store.deleteIf(key, version),
    readExclusion: (key) => store.readExclusion(key),
    exclude: (key, entry) => store.exclude(key, entry),
    close: async () => undefined,
  };
}

/**
 * A real store that can be made to fail ('down': every call rejects) or hang ('hang':
 * no call answers), as a networked store does; 'up' passes every call through.
 */
export function faultyStore(inner: BindingStore): { store: BindingStore; state: { mode: 'up' | 'down' | 'hang' } } {
  const state = { mode: 'up' as 'up' | 'down' | 'hang' };
  const guard =
    <A extends unknown[], R>(call: (...args: A) => Promise<R>) =>
    (...args: A): Promise<R> =>
      state.mode === 'up' ? call(...args) : state.mode === 'down' ? Promise.reject(new Error('store exploded')) : new Promise<R>(() => undefined);
  const store: BindingStore = {
    read: guard((keys) => inner.read(keys)),
    create: guard((key, binding) => inner.create(key, binding)),
    compareAndSet: guard((key, version, binding) => inner.compareAndSet(key, version, binding)),
    learn: guard((bindings) => inner.learn(bindings)),
    deleteIf: guard((key, version) => inner.deleteIf(key, version)),
    readExclusion: guard((key) => inner.readExclusion(key)),
    exclude: guard((key, entry) => inner.exclude(key, entry)),
    close: () => inner.close(),
  };
  return { store, state };
}
