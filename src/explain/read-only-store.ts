import type { Binding, BindingKey, Exclusion, ExclusionKey, StoredBinding } from '../bindings/binding.js';
import type { BindingStore, CompareAndSetResult, CreateResult, LearnedBinding } from '../bindings/store.js';

/**
 * A store that reads through to the live one and writes nothing: an explained request
 * sees the bindings real requests see, and leaves none behind. Writes answer as if they
 * succeeded, so the decision is the one a real request would take first.
 */
export class ReadOnlyStore implements BindingStore {
  constructor(private readonly inner: BindingStore) {}

  read(keys: readonly BindingKey[]): Promise<(StoredBinding | undefined)[]> {
    return this.inner.read(keys);
  }
  async create(_key: BindingKey, binding: Binding): Promise<CreateResult> {
    return { created: true, binding: { ...binding, version: 0 } };
  }
  async compareAndSet(_key: BindingKey, expectedVersion: number | undefined, binding: Binding): Promise<CompareAndSetResult> {
    return { written: true, binding: { ...binding, version: (expectedVersion ?? 0) + 1 } };
  }
  async learn(_bindings: readonly LearnedBinding[]): Promise<void> {}
  async deleteIf(_key: BindingKey, _expectedVersion: number): Promise<boolean> {
    return false;
  }
  readExclusion(key: ExclusionKey): Promise<Exclusion | undefined> {
    return this.inner.readExclusion(key);
  }
  async exclude(_key: ExclusionKey, entry: { readonly domain?: string; readonly account?: string }): Promise<Exclusion> {
    return { domains: entry.domain ? [entry.domain] : [], accounts: entry.account ? [entry.account] : [] };
  }
  async close(): Promise<void> {}
}
