import { describe, expect, it } from 'vitest';
import { bindingKey, type Binding } from '../../src/bindings/binding.js';
import { MemoryBindingStore } from '../../src/bindings/memory-store.js';

const binding = (account: string): Binding => ({ account, domain: 'd', strength: 'soft', createdAt: 0, lastSeenAt: 0 });

describe('MemoryBindingStore', () => {
  it('slides the TTL on every read and expires idle entries', async () => {
    let now = 0;
    const store = new MemoryBindingStore({ maxEntries: 10, now: () => now });
    await store.put('k', binding('a'), 100);
    now = 90;
    expect(await store.get('k', 100)).toBeDefined();
    now = 180; // 90 after the last read: still alive
    expect(await store.get('k', 100)).toBeDefined();
    now = 281; // 101 idle
    expect(await store.get('k', 100)).toBeUndefined();
  });

  it('is bounded: the least recently used entry goes first', async () => {
    const store = new MemoryBindingStore({ maxEntries: 3 });
    for (const key of ['a', 'b', 'c']) await store.put(key, binding(key), 10_000);
    await store.get('a', 10_000);
    await store.put('d', binding('d'), 10_000);
    expect(store.size).toBe(3);
    expect(await store.get('b', 10_000)).toBeUndefined();
    expect(await store.get('a', 10_000)).toBeDefined();
  });

  it('createIfAbsent is first-writer-wins, also under concurrent calls', async () => {
    const store = new MemoryBindingStore({ maxEntries: 10 });
    const results = await Promise.all(['x', 'y', 'z'].map((account) => store.createIfAbsent('session', binding(account), 1000)));
    expect(new Set(results.map((result) => result.account))).toEqual(new Set(['x']));
    await store.put('session', binding('moved'), 1000);
    expect((await store.createIfAbsent('session', binding('late'), 1000)).account).toBe('moved');
  });
});

describe('bindingKey', () => {
  const scope = { pool: 'default', principal: 'p1' };
  it('hashes the raw value: no session id or token appears in the key', () => {
    const key = bindingKey(scope, 'session', '01a20eee-40c2-7a43-b541-57e6a3d8b683');
    expect(key).not.toContain('01a20eee');
    expect(key).toMatch(/^session:[A-Za-z0-9_-]{32}$/);
  });
  it('namespaces by pool, principal and kind', () => {
    const keys = new Set([
      bindingKey(scope, 'session', 'v'),
      bindingKey({ ...scope, principal: 'p2' }, 'session', 'v'),
      bindingKey({ ...scope, pool: 'other' }, 'session', 'v'),
      bindingKey(scope, 'response', 'v'),
    ]);
    expect(keys.size).toBe(4);
  });
});
