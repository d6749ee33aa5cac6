import type { Binding, BindingKey, BindingKind, Exclusion, ExclusionKey, StoredBinding } from './binding.js';

/** TTL of each kind of binding, and of exclusions (milliseconds). */
export type BindingTtls = Readonly<Record<BindingKind | 'exclusion', number>>;

export type CreateResult =
  /** stored: this binding is now the session's */
  | { readonly created: true; readonly binding: StoredBinding }
  /** a live binding was there first: it stays, and is returned */
  | { readonly created: false; readonly binding: StoredBinding };

export type CompareAndSetResult =
  | { readonly written: true; readonly binding: StoredBinding }
  /** the binding changed (or vanished) since it was read: what is there now */
  | { readonly written: false; readonly binding: StoredBinding | undefined };

export interface LearnedBinding {
  readonly key: BindingKey;
  readonly binding: Binding;
}

/**
 * The contract every binding store keeps (memory today, Redis next):
 * - each kind has its own key space and TTL; a read slides the TTL only when
 *   less than the configured fraction of it remains (no write per request);
 * - creation is first-writer-wins; every later change is compare-and-set on
 *   the version read, so a decision taken on a stale read never overwrites a
 *   newer binding;
 * - learned ids go in one batch;
 * - bounded stores evict per partition (pool + principal), largest partition
 *   and soft bindings first: one principal's flood never evicts another's
 *   hard binding.
 */
export interface BindingStore {
  /**
   * The store is not answering and reads find nothing for now (see guarded-store.ts):
   * a miss then says nothing about whether a binding exists.
   */
  readonly isDegraded?: boolean;
  /** The live bindings at these keys (one round trip), sliding their TTLs. */
  read(keys: readonly BindingKey[]): Promise<(StoredBinding | undefined)[]>;
  create(key: BindingKey, binding: Binding): Promise<CreateResult>;
  /**
   * Writes `binding` only when the stored version is still `expectedVersion`
   * (undefined: only when absent).
   */
  compareAndSet(key: BindingKey, expectedVersion: number | undefined, binding: Binding): Promise<CompareAndSetResult>;
  /** Facts learned from a response (ids → account): written unconditionally, in one batch. */
  learn(bindings: readonly LearnedBinding[]): Promise<void>;
  /** Removes a binding only when it is still the version read. */
  deleteIf(key: BindingKey, expectedVersion: number): Promise<boolean>;
  readExclusion(key: ExclusionKey): Promise<Exclusion | undefined>;
  /** Adds a domain or an account to a session's exclusion (atomic merge); returns the result. */
  exclude(key: ExclusionKey, entry: { readonly domain?: string; readonly account?: string }): Promise<Exclusion>;
  close(): Promise<void>;
}
