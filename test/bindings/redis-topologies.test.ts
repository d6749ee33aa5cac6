// The binding store contract on the other Redis topologies the config accepts:
// a 3-master Cluster and a Sentinel-watched master with a replica, each made of
// throwaway redis-server processes (test/support/redis-servers.ts), with the
// client built by the processor's own createRedisClient.
import { randomUUID } from 'node:crypto';
import { Redis, type Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindingKey, exclusionKey, type Binding, type BindingScope } from '../../src/bindings/binding.js';
import { createRedisClient } from '../../src/redis/client.js';
import { RedisBindingStore } from '../../src/bindings/redis-store.js';
import type { BindingStore } from '../../src/bindings/store.js';
import { parseConfig } from '../../src/config/load.js';
import { readSource } from '../../src/credentials/secret-source.js';
import { startRedisCluster, startRedisSentinel, type RedisClusterHandle, type RedisSentinelHandle } from '../support/redis-servers.js';
import { CONTRACT_TTLS, storeContract } from './store-contract.js';

type RedisStoreConfig = Parameters<typeof createRedisClient>[0];

/**
 * The store section as the processor gets it: through the config schema (defaults,
 * validation), so fields the schema adds later are filled in here too.
 */
function redisStoreConfig(topology: { nodes: string[] } | { sentinels: string[]; name: string }): RedisStoreConfig {
  const config = parseConfig({
    accounts: [{ name: 'placeholder', cluster: 'placeholder' }],
    store: { kind: 'redis', ...topology, tls: false, keyPrefix: prefix, hmacSecret: { env: secretVariable }, deadline: '2s' },
  });
  if (config.store.kind !== 'redis') throw new Error('expected a Redis store');
  return config.store;
}

const prefix = `ca-topo-${randomUUID().slice(0, 8)}`;
const secretVariable = `CODEX_AFFINITY_TEST_HMAC_${randomUUID().slice(0, 8).replace(/-/g, '')}`;
const TOPOLOGY_START_TIMEOUT = 40_000;

const sleep = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds));
const bound = (account: string, strength: Binding['strength'] = 'soft'): Binding => ({ account, domain: `d-${account}`, strength, createdAt: 1, lastSeenAt: 2 });

let principal = 0;
const scope = (): BindingScope => ({ pool: 'default', principal: `topology-principal-${principal++}` });

/** Resolves once the client is ready: createRedisClient turns the offline queue off, so earlier calls would fail. */
function ready(client: Redis | Cluster, timeoutMilliseconds = 10_000): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Redis client not ready after ${timeoutMilliseconds} ms (status ${client.status})`)), timeoutMilliseconds);
    client.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** A store whose calls wait for its client to be ready (the contract's open() is synchronous). */
function afterReady(store: BindingStore, whenReady: Promise<void>): BindingStore {
  return {
    read: async (keys) => (await whenReady, store.read(keys)),
    create: async (key, binding) => (await whenReady, store.create(key, binding)),
    compareAndSet: async (key, version, binding) => (await whenReady, store.compareAndSet(key, version, binding)),
    learn: async (bindings) => (await whenReady, store.learn(bindings)),
    deleteIf: async (key, version) => (await whenReady, store.deleteIf(key, version)),
    readExclusion: async (key) => (await whenReady, store.readExclusion(key)),
    exclude: async (key, entry) => (await whenReady, store.exclude(key, entry)),
    close: () => store.close(),
  };
}

/** Opens stores on one topology, as the processor would (createRedisClient), and disconnects them all at the end. */
function storeFactory(config: () => RedisStoreConfig) {
  const clients: Array<Redis | Cluster> = [];
  const openRedis = (): { store: RedisBindingStore; client: Redis | Cluster } => {
    const store = config();
    const client = createRedisClient(store);
    clients.push(client);
    return { client, store: new RedisBindingStore({ client, hmacSecret: readSource(store.hmacSecret!), keyPrefix: store.keyPrefix, ttls: CONTRACT_TTLS, slideFraction: 0.5 }) };
  };
  return {
    open: (): BindingStore => {
      const { client, store } = openRedis();
      return afterReady(store, ready(client));
    },
    openReady: async (): Promise<{ store: RedisBindingStore; client: Redis | Cluster }> => {
      const opened = openRedis();
      await ready(opened.client);
      return opened;
    },
    /** disconnect(), not quit(): also ends a client still reconnecting to a killed master. */
    closeAll: () => clients.splice(0).forEach((client) => client.disconnect()),
  };
}

function hostAndPort(address: string): { host: string; port: number } {
  const separator = address.lastIndexOf(':');
  return { host: address.slice(0, separator), port: Number(address.slice(separator + 1)) };
}

/** A plain connection to one node, for checks behind the store's back. */
function direct(address: string): Redis {
  return new Redis({ ...hostAndPort(address), maxRetriesPerRequest: 1, connectTimeout: 2000, commandTimeout: 2000, lazyConnect: false });
}

beforeAll(() => {
  process.env[secretVariable] = 'topology-tests-share-this-secret';
});

afterAll(() => {
  delete process.env[secretVariable];
});

describe('Redis Cluster (3 masters)', () => {
  let cluster: RedisClusterHandle | undefined;
  const admins: Redis[] = [];
  const stores = storeFactory(() => redisStoreConfig({ nodes: [...cluster!.nodes] }));

  beforeAll(async () => {
    cluster = await startRedisCluster({ masters: 3 });
    admins.push(...cluster.nodes.map(direct));
  }, TOPOLOGY_START_TIMEOUT);

  afterAll(async () => {
    stores.closeAll();
    admins.splice(0).forEach((admin) => admin.disconnect());
    await cluster?.stop();
  }, 15_000);

  describe('the binding store contract', () => {
    storeContract(stores.open, scope);
  });

  /** The port of the master serving a key's slot, from CLUSTER SLOTS. */
  async function owner(key: string): Promise<{ slot: number; port: number }> {
    const slot = Number(await admins[0]!.call('CLUSTER', 'KEYSLOT', key));
    const ranges = (await admins[0]!.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number, ...unknown[]], ...unknown[]]>;
    const range = ranges.find(([start, end]) => start <= slot && slot <= end);
    if (!range) throw new Error(`slot ${slot} is not served`);
    return { slot, port: Number(range[2][1]) };
  }

  async function keysUnderPrefix(): Promise<Array<{ key: string; port: number }>> {
    const perNode = await Promise.all(admins.map(async (admin) => (await admin.keys(`${prefix}:*`)).map((key) => ({ key, port: admin.options.port! }))));
    return perNode.flat();
  }

  it("one partition's keys (bindings of every kind and the exclusion) all sit in one slot, on the master serving it", async () => {
    const { store } = await stores.openReady();
    const tenant = scope();
    const session = bindingKey(tenant, 'session', 'slot-session');
    await store.create(session, bound('acct-a'));
    await store.learn((['response', 'stored_item', 'encrypted_item', 'conversation', 'turn_state'] as const).map((kind) => ({ key: bindingKey(tenant, kind, `slot-${kind}`), binding: bound('acct-a', 'hard') })));
    await store.exclude(exclusionKey(session), { domain: 'org-x' });
    const tag = /\{([^}]+)\}/.exec(store.redisKey(session))![1]!;
    const mine = (await keysUnderPrefix()).filter(({ key }) => key.includes(`{${tag}}`));
    expect(mine).toHaveLength(7); // six bindings and the exclusion
    const slots = await Promise.all(mine.map(({ key }) => admins[0]!.call('CLUSTER', 'KEYSLOT', key)));
    expect(new Set(slots).size).toBe(1);
    const served = await owner(mine[0]!.key);
    expect(Number(slots[0])).toBe(served.slot);
    expect(new Set(mine.map(({ port }) => port))).toEqual(new Set([served.port]));
  });

  it('one read and one learn across two partitions on two masters work (the store groups keys by partition)', async () => {
    const { store } = await stores.openReady();
    // Two principals whose partitions are served by different masters.
    const first = scope();
    const firstOwner = await owner(store.redisKey(bindingKey(first, 'session', 'x')));
    let second = scope();
    for (let attempt = 0; attempt < 100 && (await owner(store.redisKey(bindingKey(second, 'session', 'x')))).port === firstOwner.port; attempt++) second = scope();
    const secondOwner = await owner(store.redisKey(bindingKey(second, 'session', 'x')));
    expect(secondOwner.port).not.toBe(firstOwner.port);

    const keys = [bindingKey(first, 'session', 'cross'), bindingKey(second, 'session', 'cross'), bindingKey(first, 'conversation', 'conv'), bindingKey(second, 'response', 'resp')];
    await store.learn(keys.map((key, index) => ({ key, binding: bound(`acct-${index}`, 'hard') })));
    expect((await store.read(keys)).map((entry) => entry?.account)).toEqual(['acct-0', 'acct-1', 'acct-2', 'acct-3']);
    // The grouping is what makes this work: one command over both partitions' keys is refused.
    const onFirstOwner = admins.find((admin) => admin.options.port === firstOwner.port)!;
    await expect(onFirstOwner.exists(store.redisKey(keys[0]!), store.redisKey(keys[1]!))).rejects.toThrow(/CROSSSLOT/);
  });
});

describe('Redis Sentinel (master, replica, one sentinel)', () => {
  let sentinel: RedisSentinelHandle | undefined;
  const stores = storeFactory(() => redisStoreConfig({ sentinels: [...sentinel!.sentinels], name: sentinel!.name }));

  beforeAll(async () => {
    sentinel = await startRedisSentinel();
  }, TOPOLOGY_START_TIMEOUT);

  afterAll(async () => {
    stores.closeAll();
    await sentinel?.stop();
  }, 15_000);

  describe('the binding store contract', () => {
    storeContract(stores.open, scope);
  });

  // Runs last in this block: it kills the master.
  it('after the master dies and the sentinel promotes the replica, the same client writes and reads again', async () => {
    const { store } = await stores.openReady();
    const tenant = scope();
    // Conversations: the contract's TTLs give them 60 s (sessions only 1 s, less than a failover).
    const before = bindingKey(tenant, 'conversation', 'before-failover');
    await store.create(before, bound('acct-before'));
    // Replicated before the kill, so it survives the failover (replication is asynchronous otherwise).
    const master = direct(sentinel!.master);
    try {
      expect(await master.call('WAIT', '1', '2000')).toBe(1);
    } finally {
      master.disconnect();
    }

    const killedAt = Date.now();
    await sentinel!.killMaster();
    // down-after-milliseconds is 1 s; election and promotion take a few more.
    const deadline = killedAt + 20_000;
    while ((await sentinel!.masterAddress()) !== sentinel!.replica) {
      if (Date.now() > deadline) throw new Error(`no failover within 20 s (sentinel still says ${await sentinel!.masterAddress()})`);
      await sleep(200);
    }
    // The client reconnects through the sentinel; calls fail fast (no offline queue) until it has.
    const after = bindingKey(tenant, 'conversation', 'after-failover');
    let created: Awaited<ReturnType<RedisBindingStore['create']>> | undefined;
    let lastError: unknown;
    while (!created) {
      if (Date.now() > deadline) throw new Error(`no write within 20 s of the kill: ${String(lastError)}`);
      try {
        created = await store.create(after, bound('acct-after'));
      } catch (error) {
        lastError = error;
        await sleep(100);
      }
    }
    expect(created.created).toBe(true);
    expect((await store.read([before, after])).map((entry) => entry?.account)).toEqual(['acct-before', 'acct-after']);
    const promoted = direct(sentinel!.replica);
    try {
      expect(((await promoted.call('ROLE')) as unknown[])[0]).toBe('master');
      expect(await promoted.exists(store.redisKey(after))).toBe(1);
    } finally {
      promoted.disconnect();
    }
  }, 30_000);
});
