// Binding stores of the scenarios: a slow Proxy over the processor's store, and a fresh in-memory one.
import type { BindingStore } from '../../../src/bindings/store.js';
import { memoryStore } from '../../support/stores.js';
import { sleep } from './tools.js';

/**
 * The processor's store behind a Proxy that waits `delayMilliseconds` before every call of
 * any function property, then delegates: interface-agnostic (whatever the store's methods are
 * called), so concurrent requests interleave between their reads and writes the way they
 * would against a networked store. `calls` counts delegated calls (proof the wrapper is used).
 */
export function delayedStore<T extends object>(inner: T, delayMilliseconds = 2): { store: T; calls: () => number } {
  let calls = 0;
  const wrappers = new Map<PropertyKey, unknown>();
  const store = new Proxy(inner, {
    get(target, property) {
      if (property === 'then') return undefined; // never a thenable
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      let wrapper = wrappers.get(property);
      if (!wrapper) {
        wrapper = async (...args: unknown[]) => {
          await sleep(delayMilliseconds);
          calls++;
          return (value as (...args: unknown[]) => unknown).apply(target, args);
        };
        wrappers.set(property, wrapper);
      }
      return wrapper;
    },
  });
  return { store, calls: () => calls };
}

/** A fresh in-memory binding store with the configuration's default TTLs (test/support/stores.ts builds it). */
export function newMemoryStore(options: { maxEntries: number; now?: () => number }): BindingStore {
  return memoryStore(options);
}
