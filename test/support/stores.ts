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
