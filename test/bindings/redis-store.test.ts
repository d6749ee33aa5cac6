import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { connectTestRedis, dropKeysAndQuit, TEST_REDIS_URL } from '../support/redis.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindingKey, type BindingScope } from '../../src/bindings/binding.js';
import { RedisBindingStore } from '../../src/bindings/redis-store.js';
import { CONTRACT_TTLS, storeContract } from './store-contract.js';

const REDIS_URL = TEST_REDIS_URL;
const prefix = `ca-test-${randomUUID().slice(0, 8)}`;
const clients: Redis[] = [];
let admin: Redis;

function open(): RedisBindingStore {
  const client = new Redis(REDIS_URL, { lazyConnect: false, maxRetriesPerRequest: 1, commandTimeout: 2000 });
  clients.push(client);
  return new RedisBindingStore({ client, hmacSecret: 'test-secret', keyPrefix: prefix, ttls: CONTRACT_TTLS, slideFraction: 0.5 });
}

beforeAll(async () => {
  admin = await connectTestRedis();
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.quit().catch(() => undefined)));
  await dropKeysAndQuit(admin, prefix);
});

let principal = 0;
const scope = (): BindingScope => ({ pool: 'default', principal: `principal-${principal++}` });

describe('Redis store: the binding store contract', () => {
  storeContract(open, scope);
});

describe('Redis store: versions and foreign values', () => {
  it('a key written again after it expired or was deleted never repeats a version', async () => {
    const store = open();
    const key = bindingKey(scope(), 'session', 'again');
    const seen = new Set<number>();
    for (let round = 0; round < 50; round++) {
      const { binding } = await store.create(key, { account: 'a', domain: 'd', strength: 'soft', createdAt: 1, lastSeenAt: 1 });
      expect(seen.has(binding.version)).toBe(false);
      seen.add(binding.version);
      await admin.del(store.redisKey(key));
    }
  });

  it('a value that is not the store’s counts as absent and is replaced', async () => {
    const store = open();
    const key = bindingKey(scope(), 'session', 'garbage');
    await admin.set(store.redisKey(key), 'not a binding', 'PX', 60_000);
    expect((await store.read([key]))[0]).toBeUndefined();
    const created = await store.create(key, { account: 'a', domain: 'd', strength: 'soft', createdAt: 1, lastSeenAt: 1 });
    expect([created.created, created.binding.account]).toEqual([true, 'a']);
  });
});

describe('Redis store: what reaches Redis', () => {
  it('keys are HMAC digests under the prefix, one hash tag per partition; no raw value in any key or value', async () => {
    const store = open();
    const tenant: BindingScope = { pool: 'default', principal: 'credential:sk-live-secret-principal' };
    const raw = ['session-id-7f3a-raw', 'resp_raw_abc', 'rs_raw_item', 'conv_raw_1', 'turn-token-raw'];
    await store.create(bindingKey(tenant, 'session', raw[0]!), { account: 'acct-a', domain: 'org-1', strength: 'soft', createdAt: 1, lastSeenAt: 1 });
    await store.learn(
      (['response', 'encrypted_item', 'conversation', 'turn_state'] as const).map((kind, index) => ({
        key: bindingKey(tenant, kind, raw[index + 1]!),
        binding: { account: 'acct-a', domain: 'org-1', strength: 'hard', createdAt: 1, lastSeenAt: 1 },
      })),
    );
    const keys = await admin.keys(`${prefix}:*`);
    const mine = keys.filter((key) => key.includes(store.redisKey(bindingKey(tenant, 'session', raw[0]!)).split(':')[1]!));
    expect(mine.length).toBe(5); // five bindings, nothing else
    const tags = new Set(mine.map((key) => /\{([^}]+)\}/.exec(key)?.[1]));
    expect(tags.size).toBe(1);
    const values = await Promise.all(mine.map((key) => admin.get(key)));
    const everything = [...mine, ...values].join('\n');
    for (const secret of [...raw, 'sk-live-secret-principal', 'principal']) expect(everything).not.toContain(secret);
    // Another secret gives other keys: digests are not guessable without it.
    const other = new RedisBindingStore({ client: admin, hmacSecret: 'another-secret', keyPrefix: prefix, ttls: CONTRACT_TTLS, slideFraction: 0.5 });
    expect(other.redisKey(bindingKey(tenant, 'session', raw[0]!))).not.toBe(store.redisKey(bindingKey(tenant, 'session', raw[0]!)));
  });
});
