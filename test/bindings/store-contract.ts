// The binding store contract, run against every store (memory, Redis): what the
// processor relies on whatever holds its bindings.
import { expect, it } from 'vitest';
import { bindingKey, exclusionKey, type Binding, type BindingScope } from '../../src/bindings/binding.js';
import type { BindingStore, BindingTtls } from '../../src/bindings/store.js';

/** Short TTLs in real time: the contract is checked with a real clock (Redis keeps its own). */
export const CONTRACT_TTLS: BindingTtls = { session: 1000, response: 60_000, stored_item: 60_000, encrypted_item: 60_000, conversation: 60_000, turn_state: 60_000, exclusion: 400 };

const sleep = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds));
const bound = (account: string, strength: Binding['strength'] = 'soft'): Binding => ({ account, domain: `d-${account}`, strength, createdAt: 1, lastSeenAt: 2 });

/** `open` gives a store (several calls: several replicas on one backend); `scope` a fresh principal per test. */
export function storeContract(open: () => BindingStore, scope: () => BindingScope): void {
  it('creation is first-writer-wins, also between replicas racing', async () => {
    const [one, two] = [open(), open()];
    const key = bindingKey(scope(), 'session', 's1');
    const results = await Promise.all(Array.from({ length: 20 }, (_, index) => (index % 2 ? one : two).create(key, bound(`acct-${index}`))));
    expect(results.filter((result) => result.created)).toHaveLength(1);
    const winner = results.find((result) => result.created)!.binding;
    expect(results.every((result) => result.binding.account === winner.account && result.binding.version === winner.version)).toBe(true);
    expect(winner).toMatchObject({ account: winner.account, domain: `d-${winner.account}`, strength: 'soft', createdAt: 1, lastSeenAt: 2 });
  });

  it('compare-and-set writes only on the version read; a stale decision never overwrites', async () => {
    const store = open();
    const key = bindingKey(scope(), 'session', 's1');
    const { binding: soft } = await store.create(key, bound('x'));
    const hardened = await store.compareAndSet(key, soft.version, bound('x', 'hard'));
    expect(hardened.written).toBe(true);
    expect(hardened.binding!.version).toBeGreaterThan(soft.version);
    const stale = await store.compareAndSet(key, soft.version, bound('y'));
    expect(stale).toMatchObject({ written: false, binding: { account: 'x', strength: 'hard' } });
    expect((await store.compareAndSet(bindingKey(scope(), 'session', 'absent'), undefined, bound('z'))).written).toBe(true);
    expect((await store.compareAndSet(key, undefined, bound('z'))).written).toBe(false);
  });

  it('deletes only the version read, and a re-created key never repeats a version', async () => {
    const store = open();
    const key = bindingKey(scope(), 'session', 's1');
    const { binding: first } = await store.create(key, bound('x'));
    expect(await store.deleteIf(key, first.version + 1000)).toBe(false);
    expect(await store.deleteIf(key, first.version)).toBe(true);
    expect((await store.read([key]))[0]).toBeUndefined();
    const { binding: again } = await store.create(key, bound('y'));
    expect(again.version).toBeGreaterThan(first.version);
    expect((await store.compareAndSet(key, first.version, bound('z'))).written).toBe(false);
  });

  it('each kind has its own key space and TTL; a read slides a TTL only when less than the fraction is left', async () => {
    const store = open();
    const tenant = scope();
    const session = bindingKey(tenant, 'session', 'same-value');
    const response = bindingKey(tenant, 'response', 'same-value');
    await store.create(session, bound('x'));
    await store.learn([{ key: response, binding: bound('y', 'hard') }]);
    expect((await store.read([session, response])).map((entry) => entry?.account)).toEqual(['x', 'y']);
    await sleep(250); // 75% left: no slide
    await store.read([session]);
    await sleep(850); // past the first TTL
    expect((await store.read([session, response])).map((entry) => entry?.account)).toEqual([undefined, 'y']);
    await store.create(session, bound('x'));
    await sleep(700); // 30% left: the read slides it (300 ms of slack for a busy machine)
    await store.read([session]);
    await sleep(700);
    expect((await store.read([session]))[0]?.account).toBe('x');
  });

  it('learns a batch at once, in several partitions', async () => {
    const store = open();
    const [first, second] = [scope(), scope()];
    const keys = [bindingKey(first, 'encrypted_item', 'rs_1'), bindingKey(first, 'stored_item', 'msg_1'), bindingKey(second, 'conversation', 'conv_1')];
    await store.learn(keys.map((key) => ({ key, binding: bound('x', 'hard') })));
    expect((await store.read(keys)).map((entry) => [entry?.account, entry?.strength])).toEqual(keys.map(() => ['x', 'hard']));
  });

  it('exclusions merge atomically and expire', async () => {
    const [one, two] = [open(), open()];
    const key = exclusionKey(bindingKey(scope(), 'session', 'parallel'));
    await Promise.all([one.exclude(key, { domain: 'org-a' }), two.exclude(key, { domain: 'org-b' }), one.exclude(key, { account: 'acct-9' })]);
    const merged = await two.readExclusion(key);
    expect([[...(merged?.domains ?? [])].sort(), merged?.accounts]).toEqual([['org-a', 'org-b'], ['acct-9']]);
    await sleep(450);
    expect(await one.readExclusion(key)).toBeUndefined();
  });

  it('tenants never see each other: the same raw value under two principals is two bindings', async () => {
    const store = open();
    const [alice, bob] = [scope(), scope()];
    await store.create(bindingKey(alice, 'session', 'shared-id'), bound('x'));
    expect((await store.read([bindingKey(bob, 'session', 'shared-id')]))[0]).toBeUndefined();
  });
}
