import type { Binding } from './binding.js';

/**
 * What the processor needs from a binding store. Every call is async so a
 * shared store (Redis) fits behind the same interface.
 */
export interface BindingStore {
  /** The binding, touching its sliding TTL; undefined when absent or expired. */
  get(key: string, ttlMilliseconds: number): Promise<Binding | undefined>;
  /** Several bindings at once (one round trip for a shared store). */
  getMany(keys: readonly string[], ttlMilliseconds: number): Promise<(Binding | undefined)[]>;
  /**
   * Atomic first-writer-wins create: stores `binding` only when no live binding
   * exists, and returns whichever binding is now stored.
   */
  createIfAbsent(key: string, binding: Binding, ttlMilliseconds: number): Promise<Binding>;
  /** Overwrites (rebinding a session that moved). */
  put(key: string, binding: Binding, ttlMilliseconds: number): Promise<void>;
  delete(key: string): Promise<void>;
  close(): Promise<void>;
}
