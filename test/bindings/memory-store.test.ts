import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bindingKey, exclusionKey, partitionOf, type Binding, type BindingScope } from '../../src/bindings/binding.js';
import { MemoryBindingStore } from '../../src/bindings/memory-store.js';
import type { BindingTtls } from '../../src/bindings/store.js';

const TTLS: BindingTtls = { session: 1000, response: 5000, stored_item: 5000, encrypted_item: 5000, conversation: 9000, turn_state: 2000, exclusion: 500 };
const tenant = (principal: string): BindingScope => ({ pool: 'default', principal });
const A: BindingScope = tenant('a');
const bound = (account: string, strength: Binding['strength'] = 'soft'): Binding => ({ account, domain: `d-${account}`, strength, createdAt: 0, lastSeenAt: 0 });

function store(maxEntries = 1000, onEvict?: (evicted: { kind: string; hard: boolean; ownPartition: boolean }) => void, maxEntriesPerPrincipal = maxEntries) {
  const clock = { now: 0 };
  const instance = new MemoryBindingStore({ maxEntries, maxEntriesPerPrincipal, ttls: TTLS, slideFraction: 0.5, now: () => clock.now, ...(onEvict ? { onEvict } : {}) });
  return { store: instance, clock };
}
const hardId = (scope: BindingScope, id: string) => ({ key: bindingKey(scope, 'response', id), binding: bound('x', 'hard') });

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
    const { store: bindings } = store(2000, (evicted) => evictions.push(evicted), 1000);
    const victims = Array.from({ length: 300 }, (_, index) => bindingKey(A, 'session', `victim-${index}`));
    for (const [index, key] of victims.entries()) await bindings.create(key, bound('x', index % 2 === 0 ? 'hard' : 'soft'));
    const flooder = tenant('flooder');
    for (let index = 0; index < 25_000; index++) await bindings.create(bindingKey(flooder, 'session', `flood-${index}`), bound('y'));
    expect(bindings.size).toBeLessThanOrEqual(1300);
    expect((await bindings.read(victims)).every((entry) => entry?.account === 'x')).toBe(true);
    expect(evictions.length).toBe(24_000);
    expect(evictions.every((evicted) => evicted.ownPartition && !evicted.hard)).toBe(true);
  });

  it('many small principals’ soft entries never displace a principal’s hard bindings', async () => {
    const { store: bindings } = store(500);
    const hard = Array.from({ length: 400 }, (_, index) => bindingKey(A, 'encrypted_item', `rs-${index}`));
    await bindings.learn(hard.map((key) => ({ key, binding: bound('x', 'hard') })));
    for (let index = 0; index < 5000; index++) await bindings.create(bindingKey(tenant(`sybil-${index}`), 'session', 's'), bound('y'));
    expect((await bindings.read(hard)).filter((entry) => entry !== undefined).length).toBe(400);
    expect(bindings.size).toBeLessThanOrEqual(500);
  });

  it('the largest partition gives way, soft entries first; a small principal keeps its hard entry', async () => {
    const { store: bindings } = store(6);
    const flooder = tenant('flooder');
    for (let index = 0; index < 6; index++) await bindings.create(bindingKey(flooder, 'session', `f${index}`), bound('y'));
    const victim = hardId(tenant('victim'), 'resp_v');
    await bindings.learn([victim]);
    await bindings.learn([hardId(tenant('third'), 'resp_g')]);
    await bindings.learn([hardId(tenant('fourth'), 'resp_h')]);
    expect((await bindings.read([victim.key]))[0]?.account).toBe('x');
    expect(bindings.size).toBe(6);
  });

  it('expired entries go before live ones, whatever their place in the recency list', async () => {
    const { store: bindings, clock } = store(2);
    const conversation = bindingKey(A, 'conversation', 'conv_1');
    await bindings.learn([{ key: conversation, binding: bound('x', 'hard') }]);
    await bindings.learn([{ key: bindingKey(A, 'turn_state', 'token'), binding: bound('x', 'hard') }]);
    await bindings.read([conversation]);
    clock.now = 3000; // the token (2 s) expired, the conversation (9 s) lives
    await bindings.learn([hardId(A, 'resp_new')]);
    expect((await bindings.read([conversation]))[0]?.account).toBe('x');
  });

  it('a store full of hard entries stores no other principal’s soft binding, but always keeps an exclusion', async () => {
    const refused: string[] = [];
    const clock = { now: 0 };
    const bindings = new MemoryBindingStore({ maxEntries: 2, maxEntriesPerPrincipal: 2, ttls: TTLS, slideFraction: 0.5, now: () => clock.now, onRefuse: (entry) => refused.push(entry.kind) });
    await bindings.learn([hardId(A, '1'), hardId(A, '2')]);
    const key = bindingKey(tenant('b'), 'session', 's');
    await bindings.create(key, bound('y'));
    expect([(await bindings.read([key]))[0], refused]).toEqual([undefined, ['session']]);
    await bindings.exclude(exclusionKey(key), { domain: 'org-a' });
    expect(await bindings.readExclusion(exclusionKey(key))).toEqual({ domains: ['org-a'], accounts: [] });
  });

  it('concurrent exclusions of one session both stay (the merge is atomic)', async () => {
    const { store: bindings } = store();
    const key = exclusionKey(bindingKey(A, 'session', 'parallel'));
    await Promise.all([bindings.exclude(key, { domain: 'org-a' }), bindings.exclude(key, { domain: 'org-b' })]);
    expect([...((await bindings.readExclusion(key))?.domains ?? [])].sort()).toEqual(['org-a', 'org-b']);
  });

  it('keeps each kind its own key space for one raw id too (keys built without bindingKey)', async () => {
    const { store: bindings, clock } = store();
    const id = 'same-digest';
    const session = { kind: 'session' as const, partition: 'p', id };
    const response = { kind: 'response' as const, partition: 'p', id };
    const conversation = { kind: 'conversation' as const, partition: 'p', id };
    const nul = { kind: 'session' as const, partition: 'p', id: '\u0000b' + id };
    await bindings.create(session, bound('s'));
    await bindings.learn([{ key: response, binding: bound('r', 'hard') }]);
    await bindings.create(conversation, bound('c', 'hard'));
    await bindings.create(nul, bound('n'));
    await bindings.exclude({ partition: 'p', id }, { domain: 'org-x' });
    expect((await bindings.read([session, response, conversation, nul])).map((entry) => entry?.account)).toEqual(['s', 'r', 'c', 'n']);
    expect(await bindings.readExclusion({ partition: 'p', id })).toEqual({ domains: ['org-x'], accounts: [] });
    expect(bindings.size).toBe(5);
    // The first one gone, the others stay where they are and are rewritten in place.
    const [stored] = await bindings.read([session]);
    expect(await bindings.deleteIf(session, stored!.version)).toBe(true);
    const [current] = await bindings.read([response]);
    expect((await bindings.compareAndSet(response, current!.version, bound('r2', 'hard'))).written).toBe(true);
    await bindings.create(session, bound('s2'));
    expect((await bindings.read([session, response, conversation, nul])).map((entry) => entry?.account)).toEqual(['s2', 'r2', 'c', 'n']);
    expect(bindings.size).toBe(5);
    expect(bindings.forget(conversation)).toBe(true);
    expect((await bindings.read([conversation]))[0]).toBeUndefined();
    clock.now += 1_000_000;
    await bindings.read([session, response, conversation, nul]);
    await bindings.readExclusion({ partition: 'p', id });
    expect(bindings.size).toBe(0);
  });

  it('returns bindings as written, whatever their numbers and names', async () => {
    const { store: bindings } = store();
    const key = bindingKey(A, 'session', 's');
    const binding: Binding = { account: '', domain: 'd-\u00e9', strength: 'none', createdAt: 1_764_489_600_123.5, lastSeenAt: -3 };
    const { binding: created } = await bindings.create(key, binding);
    expect((await bindings.read([key]))[0]).toEqual(created);
    expect(created).toEqual({ ...binding, version: created.version });
  });

  it('keeps its count exact and within both bounds under any sequence of operations', async () => {
    const operation = fc.record({
      op: fc.constantFrom('create', 'cas', 'learn', 'exclude', 'delete', 'forget', 'tick'),
      principal: fc.integer({ min: 0, max: 4 }),
      id: fc.integer({ min: 0, max: 12 }),
      hard: fc.boolean(),
      kind: fc.constantFrom('session', 'response', 'turn_state', 'conversation') as fc.Arbitrary<'session' | 'response' | 'turn_state' | 'conversation'>,
      /** the same raw id for every kind (and the exclusion): keys that only their kind tells apart */
      raw: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(operation, { maxLength: 200 }), async (operations) => {
        const { store: bindings, clock } = store(7, undefined, 4);
        const seen = new Map<string, ReturnType<typeof bindingKey>>();
        for (const step of operations) {
          const scope = tenant(`p${step.principal}`);
          const key = step.raw ? { kind: step.kind, partition: partitionOf(scope), id: `session:v${step.id}` } : bindingKey(scope, step.kind, `v${step.id}`);
          seen.set(`${key.partition}:${key.kind}:${key.id}`, key);
          if (step.op === 'create') await bindings.create(key, bound('x', step.hard ? 'hard' : 'soft'));
          else if (step.op === 'cas') {
            const [current] = await bindings.read([key]);
            await bindings.compareAndSet(key, current?.version, bound('y', step.hard ? 'hard' : 'soft'));
          } else if (step.op === 'learn') await bindings.learn([{ key, binding: bound('z', 'hard') }]);
          else if (step.op === 'exclude') await bindings.exclude(exclusionKey(key), { domain: `d${step.id}` });
          else if (step.op === 'delete') {
            const [current] = await bindings.read([key]);
            if (current) await bindings.deleteIf(key, current.version);
          } else if (step.op === 'forget') bindings.forget(key);
          else clock.now += 700;
          expect(bindings.size).toBeLessThanOrEqual(7);
        }
        // Every live entry is counted once; expired ones are only ever fewer.
        const live = (await bindings.read([...seen.values()])).filter((entry) => entry !== undefined).length;
        expect(live).toBeLessThanOrEqual(bindings.size);
        // Once everything has expired and been looked at, nothing is left counted.
        clock.now += 1_000_000;
        await bindings.read([...seen.values()]);
        for (const key of seen.values()) await bindings.readExclusion(exclusionKey(key));
        expect(bindings.size).toBe(0);
      }),
      { numRuns: 300 },
    );
  });
});
