import { describe } from 'vitest';
import type { BindingScope } from '../../src/bindings/binding.js';
import { MemoryBindingStore } from '../../src/bindings/memory-store.js';
import { CONTRACT_TTLS, storeContract } from './store-contract.js';

// One memory store stands for one replica; "several replicas" share it here, as they
// would share one Redis.
const shared = new MemoryBindingStore({ maxEntries: 10_000, maxEntriesPerPrincipal: 10_000, ttls: CONTRACT_TTLS, slideFraction: 0.5, now: Date.now });
let principal = 0;
const scope = (): BindingScope => ({ pool: 'default', principal: `principal-${principal++}` });

describe('memory store: the binding store contract', () => {
  storeContract(() => shared, scope);
});
