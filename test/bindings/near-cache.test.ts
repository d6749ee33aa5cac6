// The near cache in front of Redis: hot bindings without a round trip, every replica's
// copy dropped when one replica changes a binding, and answers while Redis is away.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { connectTestRedis, dropKeysAndQuit, TEST_REDIS_URL } from '../support/redis.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindingKey, type Binding, type BindingScope } from '../../src/bindings/binding.js';
import { GuardedStore } from '../../src/bindings/guarded-store.js';
import { NearCache } from '../../src/bindings/near-cache.js';
import { RedisBindingStore } from '../../src/bindings/redis-store.js';
import { createLogger } from '../../src/logging/logger.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { CONTRACT_TTLS } from './store-contract.js';

const REDIS_URL = TEST_REDIS_URL;
const prefix = `ca-near-${randomUUID().slice(0, 8)}`;
const clients: Redis[] = [];
const connect = () => {
  const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, commandTimeout: 2000 });
  clients.push(client);
  return client;
};
const bound = (account: string, strength: Binding['strength'] = 'soft'): Binding => ({ account, domain: `d-${account}`, strength, createdAt: 1, lastSeenAt: 1 });
const scope: BindingScope = { pool: 'default', principal: 'near-cache' };

/** One replica's store: Redis behind the deadline guard, the near cache in front. */
const clock = { now: Date.now() };
function replica(client: Redis = connect()) {
  const metrics = new Metrics();
  const redis = new RedisBindingStore({ client, hmacSecret: 'near', keyPrefix: prefix, ttls: CONTRACT_TTLS, slideFraction: 0.5 });
  const guarded = new GuardedStore(redis, { deadline: 500, metrics, logger: createLogger('silent') });
  const store = new NearCache(guarded, { maxEntries: 1000, ttl: 60_000, metrics, degraded: () => guarded.isDegraded, now: () => clock.now, keyOf: (key) => redis.redisKey(key), bus: { client: connect(), subscriber: connect(), channel: `${prefix}:{bindings}:changed` } });
  return { store, metrics, client };
}

const lookups = async (metrics: Metrics) => {
  const text = await metrics.registry.getSingleMetricAsString('codex_affinity_near_cache_lookups_total');
  return { hit: Number(/result="hit"} (\d+)/.exec(text)?.[1] ?? 0), miss: Number(/result="miss"} (\d+)/.exec(text)?.[1] ?? 0) };
};

async function eventually(condition: () => Promise<boolean>, milliseconds = 2000): Promise<void> {
  const started = Date.now();
  while (!(await condition())) {
    if (Date.now() - started > milliseconds) throw new Error(`not within ${milliseconds} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

let admin: Redis;
beforeAll(async () => {
  admin = await connectTestRedis();
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.quit().catch(() => undefined)));
  await dropKeysAndQuit(admin, prefix);
});

describe('near cache in front of Redis', () => {
  it('a hot binding is read from the cache, with its hit ratio counted', async () => {
    const { store, metrics } = replica();
    const key = bindingKey(scope, 'session', 'hot');
    await store.create(key, bound('x'));
    for (let index = 0; index < 10; index++) expect((await store.read([key]))[0]?.account).toBe('x');
    expect(await lookups(metrics)).toEqual({ hit: 10, miss: 0 });
  });

  it('a move on one replica drops the other replicas’ copies at once', async () => {
    const [one, two] = [replica(), replica()];
    await new Promise((resolve) => setTimeout(resolve, 100)); // subscriptions in place
    const key = bindingKey(scope, 'session', 'moved');
    const { binding } = await one.store.create(key, bound('x'));
    expect((await two.store.read([key]))[0]?.account).toBe('x'); // now cached on two
    expect((await one.store.compareAndSet(key, binding.version, bound('y', 'hard'))).written).toBe(true);
    await eventually(async () => (await two.store.read([key]))[0]?.account === 'y');
    // And a decision taken on a stale copy cannot overwrite: compare-and-set on the old version loses.
    expect((await two.store.compareAndSet(key, binding.version, bound('z'))).written).toBe(false);
  });

  it('while Redis does not answer, cached bindings still do, even past their TTL', async () => {
    const client = connect();
    const { store, metrics } = replica(client);
    const key = bindingKey(scope, 'session', 'cached-before-outage');
    await store.create(key, bound('x', 'hard'));
    const unknown = bindingKey(scope, 'session', 'never-seen');
    client.disconnect();
    const [cached, missing] = await store.read([key, unknown]);
    expect([cached?.account, missing]).toEqual(['x', undefined]);
    clock.now += 120_000; // past the near cache's TTL: asked again, Redis fails, the copy answers
    expect((await store.read([key]))[0]?.account).toBe('x');
    expect(await metrics.registry.getSingleMetricAsString('codex_affinity_near_cache_lookups_total')).toMatch(/result="stale_while_degraded"} 1/);
  });

  it('a copy past its TTL is asked for again while Redis answers', async () => {
    const [one, two] = [replica(), replica()];
    const key = bindingKey(scope, 'session', 'refreshed');
    const { binding } = await one.store.create(key, bound('x'));
    // Let the create's own invalidation reach the other replica first: arriving after the
    // read below, it would drop the copy this test wants to see kept.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await two.store.read([key]))[0]?.account).toBe('x');
    // Changed behind the caches' back (no message): only the TTL brings the new value.
    await new RedisBindingStore({ client: admin, hmacSecret: 'near', keyPrefix: prefix, ttls: CONTRACT_TTLS, slideFraction: 0.5 }).compareAndSet(key, binding.version, bound('y'));
    expect((await two.store.read([key]))[0]?.account).toBe('x');
    clock.now += 120_000;
    expect((await two.store.read([key]))[0]?.account).toBe('y');
  });
});
