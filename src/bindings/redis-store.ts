import { createHmac } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import type { Binding, BindingKey, Exclusion, ExclusionKey, StoredBinding } from './binding.js';
import { quitOrDisconnect } from '../redis/client.js';
import { COMPARE_AND_SET, CREATE, DELETE_IF, LEARN, READ } from './redis-scripts.js';
import type { BindingStore, BindingTtls, CompareAndSetResult, CreateResult, LearnedBinding } from './store.js';

export interface RedisStoreOptions {
  readonly client: Redis | Cluster;
  /** Shared by all replicas: keys are HMAC-SHA256 digests under it, never client values. */
  readonly hmacSecret: string;
  readonly keyPrefix: string;
  readonly ttls: BindingTtls;
  readonly slideFraction: number;
}

type Scripted = {
  bindingRead(...args: Array<string | number>): Promise<string[]>;
  bindingCreate(...args: Array<string | number>): Promise<[number, string]>;
  bindingCompareAndSet(...args: Array<string | number>): Promise<[number, string]>;
  bindingLearn(...args: Array<string | number>): Promise<number>;
  bindingDeleteIf(...args: Array<string | number>): Promise<number>;
};

const KIND_CODES: Readonly<Record<string, string>> = {
  session: 's',
  response: 'r',
  stored_item: 'i',
  encrypted_item: 'e',
  conversation: 'c',
  turn_state: 't',
  exclusion: 'x',
};

interface Encoded {
  readonly a: string;
  readonly d: string;
  readonly s: Binding['strength'];
  readonly c: number;
  readonly l: number;
}

function encode(binding: Binding): string {
  const value: Encoded = { a: binding.account, d: binding.domain, s: binding.strength, c: binding.createdAt, l: binding.lastSeenAt };
  return JSON.stringify(value);
}

function decode(stored: string | null | undefined): StoredBinding | undefined {
  if (!stored) return undefined;
  const separator = stored.indexOf('|');
  if (separator <= 0) return undefined;
  try {
    const value = JSON.parse(stored.slice(separator + 1)) as Encoded;
    return { account: value.a, domain: value.d, strength: value.s, createdAt: value.c, lastSeenAt: value.l, version: Number(stored.slice(0, separator)) };
  } catch {
    return undefined;
  }
}

/**
 * Bindings in Redis (standalone, Sentinel or Cluster), with the store
 * contract kept by Lua scripts: first-writer-wins creation, compare-and-set on
 * versions (the server's clock in microseconds, never repeated for a key), batch learning in one round trip, TTL per kind slid only when
 * little is left. One partition (pool + principal) shares a hash tag, so every
 * request's keys sit in one slot. Eviction is Redis's (see the README on
 * maxmemory-policy).
 */
export class RedisBindingStore implements BindingStore {
  private readonly scripted: Scripted;

  constructor(private readonly options: RedisStoreOptions) {
    const client = options.client;
    client.defineCommand('bindingRead', { lua: READ });
    client.defineCommand('bindingCreate', { numberOfKeys: 1, lua: CREATE });
    client.defineCommand('bindingCompareAndSet', { numberOfKeys: 1, lua: COMPARE_AND_SET });
    client.defineCommand('bindingLearn', { lua: LEARN });
    client.defineCommand('bindingDeleteIf', { numberOfKeys: 1, lua: DELETE_IF });
    this.scripted = client as unknown as Scripted;
  }

  private digest(value: string, length: number): string {
    return createHmac('sha256', this.options.hmacSecret).update(value).digest('base64url').slice(0, length);
  }

  private tag(partition: string): string {
    return `${this.options.keyPrefix}:{${this.digest(`partition\u0000${partition}`, 16)}}`;
  }

  /** The Redis key of a binding: prefix, the partition's hash tag, the kind, an HMAC of the id. */
  redisKey(key: BindingKey | (ExclusionKey & { kind: 'exclusion' })): string {
    return `${this.tag(key.partition)}:${KIND_CODES[key.kind]}:${this.digest(`${key.kind}\u0000${key.id}`, 27)}`;
  }

  async read(keys: readonly BindingKey[]): Promise<(StoredBinding | undefined)[]> {
    const results: (StoredBinding | undefined)[] = new Array(keys.length).fill(undefined);
    const byPartition = new Map<string, number[]>();
    keys.forEach((key, index) => byPartition.set(key.partition, [...(byPartition.get(key.partition) ?? []), index]));
    await Promise.all(
      [...byPartition.values()].map(async (indexes) => {
        const group = indexes.map((index) => keys[index]!);
        const values = await this.scripted.bindingRead(
          group.length,
          ...group.map((key) => this.redisKey(key)),
          this.options.slideFraction,
          ...group.map((key) => this.options.ttls[key.kind]),
        );
        indexes.forEach((index, position) => (results[index] = decode(values[position])));
      }),
    );
    return results;
  }

  async create(key: BindingKey, binding: Binding): Promise<CreateResult> {
    const [created, value] = await this.scripted.bindingCreate(this.redisKey(key), encode(binding), this.options.ttls[key.kind]);
    const stored = decode(value);
    if (!stored) throw new Error('binding store: unreadable value after create');
    return { created: created === 1, binding: stored } as CreateResult;
  }

  async compareAndSet(key: BindingKey, expectedVersion: number | undefined, binding: Binding): Promise<CompareAndSetResult> {
    const [written, value] = await this.scripted.bindingCompareAndSet(
      this.redisKey(key),
      expectedVersion === undefined ? '' : String(expectedVersion),
      encode(binding),
      this.options.ttls[key.kind],
    );
    const current = decode(value);
    return written === 1 ? { written: true, binding: current! } : { written: false, binding: current };
  }

  async learn(bindings: readonly LearnedBinding[]): Promise<void> {
    const byPartition = new Map<string, LearnedBinding[]>();
    for (const learned of bindings) byPartition.set(learned.key.partition, [...(byPartition.get(learned.key.partition) ?? []), learned]);
    await Promise.all(
      [...byPartition.values()].map((group) =>
        this.scripted.bindingLearn(
          group.length,
          ...group.map((learned) => this.redisKey(learned.key)),
          ...group.flatMap((learned) => [encode(learned.binding), this.options.ttls[learned.key.kind]]),
        ),
      ),
    );
  }

  async deleteIf(key: BindingKey, expectedVersion: number): Promise<boolean> {
    return (await this.scripted.bindingDeleteIf(this.redisKey(key), String(expectedVersion))) === 1;
  }

  private exclusionRedisKey(key: ExclusionKey): string {
    return this.redisKey({ ...key, kind: 'exclusion' });
  }

  async readExclusion(key: ExclusionKey): Promise<Exclusion | undefined> {
    const members = await this.options.client.smembers(this.exclusionRedisKey(key));
    return members.length === 0 ? undefined : toExclusion(members);
  }

  /** A set per session: SADD is the atomic merge. */
  async exclude(key: ExclusionKey, entry: { readonly domain?: string; readonly account?: string }): Promise<Exclusion> {
    const redisKey = this.exclusionRedisKey(key);
    const member = entry.domain !== undefined ? `d:${entry.domain}` : `a:${entry.account ?? ''}`;
    const result = await this.options.client.multi().sadd(redisKey, member).pexpire(redisKey, this.options.ttls.exclusion).smembers(redisKey).exec();
    const members = (result?.[2]?.[1] as string[] | undefined) ?? [member];
    return toExclusion(members);
  }

  /** Resolves once connected, or after `timeout` (the store then starts degraded and recovers by itself). */
  async ready(timeout: number): Promise<boolean> {
    const client = this.options.client;
    if (client.status === 'ready') return true;
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeout);
      client.once('ready', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  async close(): Promise<void> {
    await quitOrDisconnect(this.options.client);
  }
}

function toExclusion(members: readonly string[]): Exclusion {
  return {
    domains: members.filter((member) => member.startsWith('d:')).map((member) => member.slice(2)),
    accounts: members.filter((member) => member.startsWith('a:')).map((member) => member.slice(2)),
  };
}
