import { describe, expect, it } from 'vitest';
import { bindingKey, exclusionKey, type Binding, type BindingScope } from '../../src/bindings/binding.js';
import { MemoryBindingStore } from '../../src/bindings/memory-store.js';
import type { BindingTtls } from '../../src/bindings/store.js';

const TTLS: BindingTtls = { session: 1000, response: 5000, stored_item: 5000, encrypted_item: 5000, conversation: 9000, turn_state: 2000, exclusion: 500 };
const tenant = (principal: string): BindingScope => ({ pool: 'default', principal });
const A: BindingScope = tenant('a');
const bound = (account: string, strength: Binding['strength'] = 'soft'): Binding => ({ account, domain: `d-${account}`, strength, createdAt: 0, lastSeenAt: 0 });

function store(maxEntries = 1000, onEvict?: (evicted: { kind: string; hard: boolean; ownPartition: boolean }) => void) {
  const clock = { now: 0 };
  const instance = new MemoryBindingStore({ maxEntries, ttls: TTLS, slideFraction: 0.5, now: () => clock.now, ...(onEvict ? { onEvict } : {}) });
  return { store: instance, clock };
}

describe('memory store: the binding store contract', () => {
  it('creation is first-writer-wins and returns what is stored', async () => {
    const { store: bindings } = store();
    const key = bindingKey(A, 'session', 's1');
    const first = await bindings.create(key, bound('x'));
    const second = await bindings.create(key, bound('y'));
    expect([first.created, second.created, second.binding.account]).toEqual([true, false, 'x']);
  });

  it('compare-and-set writes only on the version read; a stale decision never overwrites', async () => {
    const { store: bindings } = store();
    const key = bindingKey(A, 'session', 's1');
    const { binding: soft } = await bindings.create(key, bound('x'));
    const hardened = await bindings.compareAndSet(key, soft.version, bound('x', 'hard'));
    expect(hardened.written).toBe(true);
    // A soft move computed from the first read loses and sees the hard binding.
    const stale = await bindings.compareAndSet(key, soft.version, bound('y'));
    expect(stale).toMatchObject({ written: false, binding: { account: 'x', strength: 'hard' } });
    expect((await bindings.compareAndSet(bindingKey(A, 'session', 'absent'), undefined, bound('z'))).written).toBe(true);
    expect((await bindings.deleteIf(key, soft.version))).toBe(false);
    expect((await bindings.read([key]))[0]?.account).toBe('x');
  });

  it('each kind has its own key space and TTL; reads slide a TTL only when less than the fraction is left', async () => {
    const { store: bindings, clock } = store();
    const session = bindingKey(A, 'session', 'same-value');
    const response = bindingKey(A, 'response', 'same-value');
    await bindings.create(session, bound('x'));
    await bindings.learn([{ key: response, binding: bound('y', 'hard') }]);
    expect((await bindings.read([session, response])).map((entry) => entry?.account)).toEqual(['x', 'y']);
    clock.now = 400; // 60% of the session TTL left: no slide
    await bindings.read([session]);
    clock.now = 1001;
    expect((await bindings.read([session, response])).map((entry) => entry?.account)).toEqual([undefined, 'y']);
    await bindings.create(session, bound('x'));
    clock.now = 1700; // 30% left: the read slides it to a full TTL
    await bindings.read([session]);
    clock.now = 2600;
    expect((await bindings.read([session]))[0]?.account).toBe('x');
  });

  it('learned ids go in one batch and exclusions merge', async () => {
    const { store: bindings, clock } = store();
    await bindings.learn([1, 2, 3].map((index) => ({ key: bindingKey(A, 'encrypted_item', `rs_${index}`), binding: bound('x', 'hard') })));
    expect((await bindings.read([1, 2, 3].map((index) => bindingKey(A, 'encrypted_item', `rs_${index}`)))).every((entry) => entry?.account === 'x')).toBe(true);
    const key = exclusionKey(bindingKey(A, 'session', 's1'));
    await bindings.exclude(key, { domain: 'org-1' });
    expect(await bindings.exclude(key, { account: 'acct-9' })).toEqual({ domains: ['org-1'], accounts: ['acct-9'] });
    clock.now = 501;
    expect(await bindings.readExclusion(key)).toBeUndefined();
  });

  it('a flood by one principal evicts its own entries first, never another principal’s binding', async () => {
    const evictions: Array<{ hard: boolean; ownPartition: boolean }> = [];
    const { store: bindings } = store(2000, (evicted) => evictions.push(evicted));
    const victims = Array.from({ length: 300 }, (_, index) => bindingKey(A, 'session', `victim-${index}`));
    for (const [index, key] of victims.entries()) await bindings.create(key, bound('x', index % 2 === 0 ? 'hard' : 'soft'));
    const flooder = tenant('flooder');
    for (let index = 0; index < 25_000; index++) await bindings.create(bindingKey(flooder, 'session', `flood-${index}`), bound('y'));
    expect(bindings.size).toBeLessThanOrEqual(2000);
    expect((await bindings.read(victims)).every((entry) => entry?.account === 'x')).toBe(true);
    expect(evictions.every((evicted) => evicted.ownPartition && !evicted.hard)).toBe(true);
  });

  it('many small principals cannot push out a principal’s hard bindings with soft ones', async () => {
    const { store: bindings } = store(500);
    const hard = Array.from({ length: 400 }, (_, index) => bindingKey(A, 'encrypted_item', `rs-${index}`));
    await bindings.learn(hard.map((key) => ({ key, binding: bound('x', 'hard') })));
    for (let index = 0; index < 5000; index++) await bindings.create(bindingKey(tenant(`sybil-${index}`), 'session', 's'), bound('y'));
    expect((await bindings.read(hard)).filter((entry) => entry !== undefined).length).toBe(400);
    expect(bindings.size).toBeLessThanOrEqual(500);
  });

  it('the largest partition gives way to another principal’s hard binding, soft entries first', async () => {
    const { store: bindings } = store(100);
    const big = Array.from({ length: 100 }, (_, index) => bindingKey(A, 'session', `s-${index}`));
    for (const [index, key] of big.entries()) await bindings.create(key, bound('x', index < 50 ? 'hard' : 'soft'));
    const other = tenant('b');
    await bindings.learn([{ key: bindingKey(other, 'response', 'resp_1'), binding: bound('z', 'hard') }]);
    expect((await bindings.read([bindingKey(other, 'response', 'resp_1')]))[0]?.account).toBe('z');
    const remaining = await bindings.read(big);
    expect(remaining.slice(0, 50).every((entry) => entry?.strength === 'hard')).toBe(true);
    expect(remaining.filter((entry) => entry === undefined).length).toBe(1);
  });
});
