/**
 * The memory store's hot path without the processor around it: creates and reads per
 * second of one store, or of several store implementations in interleaved rounds of
 * one run (so a shared machine's drift hits all of them; compare them as a ratio).
 * Keys are digested beforehand: the store's own work is measured. The calls' promises
 * are not awaited (a memory store does all its work before returning one).
 */
import { bindingKey, type Binding, type BindingKey } from '../src/bindings/binding.js';
import type { BindingStore } from '../src/bindings/store.js';

export interface StoreOpsResult {
  readonly createsPerSecond: number;
  readonly readsPerSecond: number;
}

const median = (values: readonly number[]) => [...values].sort((left, right) => left - right)[Math.floor(values.length / 2)]!;

export function memoryStoreOps(stores: Readonly<Record<string, (maxEntries: number) => BindingStore>>, sessions = 200_000, rounds = 5): Record<string, StoreOpsResult> {
  const scope = { pool: 'default', principal: 'p-0123456789abcdef' };
  const keys: BindingKey[] = Array.from({ length: sessions }, (_, index) => bindingKey(scope, 'session', `019a7d2e-5b1c-7c3e-9f21-${String(index).padStart(12, '0')}`));
  const now = Date.now();
  const binding: Binding = { account: 'acct-a', domain: 'acct-a', strength: 'soft', createdAt: now, lastSeenAt: now };
  const samples = Object.fromEntries(Object.keys(stores).map((name) => [name, { creates: [] as number[], reads: [] as number[] }]));
  // Reads in a scattered order, as sessions come back.
  const order = Array.from({ length: sessions }, (_, index) => (index * 7919) % sessions);
  for (let round = 0; round < rounds + 1; round++) {
    const names = Object.keys(stores);
    for (const name of round % 2 ? names.reverse() : names) {
      const store = stores[name]!(sessions + 1000);
      let started = process.hrtime.bigint();
      for (const key of keys) void store.create(key, binding);
      const createSeconds = Number(process.hrtime.bigint() - started) / 1e9;
      started = process.hrtime.bigint();
      for (let pass = 0; pass < 2; pass++) for (const index of order) void store.read([keys[index]!]);
      const readSeconds = Number(process.hrtime.bigint() - started) / 1e9;
      void store.close();
      if (round === 0) continue; // warm-up
      samples[name]!.creates.push(sessions / createSeconds);
      samples[name]!.reads.push((2 * sessions) / readSeconds);
    }
  }
  return Object.fromEntries(
    Object.entries(samples).map(([name, { creates, reads }]) => [name, { createsPerSecond: Math.round(median(creates)), readsPerSecond: Math.round(median(reads)) }]),
  );
}
