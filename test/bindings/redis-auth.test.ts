// Username and password for Redis from the environment or a file (a mounted Secret).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bindingKey } from '../../src/bindings/binding.js';
import { createRedisClient } from '../../src/redis/client.js';
import { RedisBindingStore } from '../../src/bindings/redis-store.js';
import { parseConfig } from '../../src/config/load.js';
import { redisCli, startRedisStandalone, type RedisStandaloneHandle } from '../support/redis-servers.js';
import { CONTRACT_TTLS } from './store-contract.js';

let server: RedisStandaloneHandle;
let dir: string;
const clients: Array<Redis | Cluster> = [];
const USER_ENV = `CODEX_AFFINITY_REDIS_USER_${randomUUID().slice(0, 8)}`;
const PASSWORD = `pw-${randomUUID()}`;

beforeAll(async () => {
  server = await startRedisStandalone();
  await redisCli(server.port, ['ACL', 'SETUSER', 'codex-affinity', 'on', `>${PASSWORD}`, '~*', '&*', '+@all']);
  await redisCli(server.port, ['ACL', 'SETUSER', 'default', 'off']);
  dir = mkdtempSync(join(tmpdir(), 'ca-redis-auth-'));
  writeFileSync(join(dir, 'password'), `${PASSWORD}\n`);
  process.env[USER_ENV] = 'codex-affinity';
}, 30_000);

afterAll(async () => {
  clients.forEach((client) => client.disconnect());
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
  delete process.env[USER_ENV];
});

function client(password: { file: string } | undefined) {
  const config = parseConfig({
    accounts: [{ name: 'a', cluster: 'c' }],
    store: { kind: 'redis', url: server.url, username: { env: USER_ENV }, ...(password ? { password } : {}), hmacSecret: { env: USER_ENV }, deadline: '2s' },
  });
  if (config.store.kind !== 'redis') throw new Error('expected a Redis store');
  const created = createRedisClient(config.store);
  clients.push(created);
  return created;
}

describe('Redis credentials', () => {
  it('the username from the environment and the password from a file open the store', async () => {
    const authenticated = client({ file: join(dir, 'password') });
    await new Promise<void>((resolve, reject) => {
      authenticated.once('ready', () => resolve());
      setTimeout(() => reject(new Error('not ready within 5 s')), 5000);
    });
    const store = new RedisBindingStore({ client: authenticated, hmacSecret: 's', keyPrefix: 'ca-auth', ttls: CONTRACT_TTLS, slideFraction: 0.5 });
    const key = bindingKey({ pool: 'default', principal: 'p' }, 'session', 's');
    expect((await store.create(key, { account: 'a', domain: 'd', strength: 'soft', createdAt: 1, lastSeenAt: 1 })).created).toBe(true);
  });

  it('without the password the server refuses, and the error names no secret', async () => {
    const refused = client(undefined);
    const error = await new Promise<Error>((resolve) => refused.once('error', resolve));
    expect(error.message).toMatch(/NOAUTH|WRONGPASS|auth|disabled/i);
    expect(error.message).not.toContain(PASSWORD);
  });
});
