/**
 * Memory of the memory store with many distinct sessions, in a process of its
 * own (run with --expose-gc): RSS and heap before and after `count` session
 * bindings, created through the store as requests create them (namespaced,
 * digested keys). Prints one JSON line.
 */
import { bindingKey } from '../src/bindings/binding.js';
import { createMemoryStore } from '../src/bindings/create-store.js';
import { parseConfig } from '../src/config/load.js';

const count = Number(process.argv[2] ?? 1_000_000);
const collect = (globalThis as { gc?: () => void }).gc;
if (!collect) throw new Error('run with --expose-gc');
const config = parseConfig({ store: { kind: 'memory', maxEntries: count + 1000, maxEntriesPerPrincipal: count + 1000 }, accounts: [{ name: 'acct-a', cluster: 'cluster-a' }] });
const now = Date.now();
const store = createMemoryStore(config, () => now);
const scope = { pool: 'default', principal: 'p-0123456789abcdef' };
collect();
const before = process.memoryUsage();
for (let index = 0; index < count; index++) {
  await store.create(bindingKey(scope, 'session', `019a7d2e-5b1c-7c3e-9f21-${String(index).padStart(12, '0')}`), {
    account: 'acct-a',
    domain: 'acct-a',
    strength: 'soft',
    createdAt: now,
    lastSeenAt: now,
  });
}
collect();
const after = process.memoryUsage();
if (store.size !== count) throw new Error(`store holds ${store.size} of ${count}`);
process.stdout.write(
  `${JSON.stringify({ sessions: count, rssBytes: after.rss, heapBytesPerBinding: (after.heapUsed - before.heapUsed) / count, rssBytesPerBinding: (after.rss - before.rss) / count })}\n`,
);
