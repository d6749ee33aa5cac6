// Sentinels that require their own password (as many charts turn on).
import { randomUUID } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisClient } from '../../src/redis/client.js';
import { parseConfig } from '../../src/config/load.js';
import { redisCli, startRedisSentinel, type RedisSentinelHandle } from '../support/redis-servers.js';

let sentinel: RedisSentinelHandle;
const clients: Array<Redis | Cluster> = [];
const PASSWORD_ENV = `CODEX_AFFINITY_SENTINEL_PASSWORD_${randomUUID().slice(0, 8)}`;
const PASSWORD = `sentinel-${randomUUID()}`;

beforeAll(async () => {
  process.env[PASSWORD_ENV] = PASSWORD;
  sentinel = await startRedisSentinel();
  const port = Number(sentinel.sentinels[0]!.split(':')[1]);
  await redisCli(port, ['ACL', 'SETUSER', 'default', `>${PASSWORD}`]);
}, 60_000);

afterAll(async () => {
  clients.forEach((client) => client.disconnect());
  await sentinel?.stop();
  delete process.env[PASSWORD_ENV];
});

function client(withPassword: boolean) {
  const config = parseConfig({
    accounts: [{ name: 'a', cluster: 'c' }],
    store: { kind: 'redis', sentinels: sentinel.sentinels, name: sentinel.name, hmacSecret: { env: PASSWORD_ENV }, deadline: '1s', ...(withPassword ? { sentinelPassword: { env: PASSWORD_ENV } } : {}) },
  });
  if (config.store.kind !== 'redis') throw new Error('expected a Redis store');
  const created = createRedisClient(config.store);
  clients.push(created);
  return created;
}

const readyWithin = (redis: Redis | Cluster, milliseconds: number) =>
  new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), milliseconds);
    redis.once('ready', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });

describe('Sentinel with a password of its own', () => {
  it('store.sentinelPassword reaches the sentinels; without it the master is never found', async () => {
    const authenticated = client(true);
    expect(await readyWithin(authenticated, 5000)).toBe(true);
    expect(await authenticated.ping()).toBe('PONG');
    expect(await readyWithin(client(false), 2000)).toBe(false);
  });
});
