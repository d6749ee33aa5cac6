// The Redis store over TLS, with the certificate of a private CA named in the config.
import { randomUUID } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BindingScope } from '../../src/bindings/binding.js';
import { createRedisClient } from '../../src/redis/client.js';
import { RedisBindingStore } from '../../src/bindings/redis-store.js';
import { parseConfig } from '../../src/config/load.js';
import { startRedisTls, type RedisTlsHandle } from '../support/redis-servers.js';
import { CONTRACT_TTLS, storeContract } from './store-contract.js';

let server: RedisTlsHandle;
const clients: Array<Redis | Cluster> = [];
const SECRET_ENV = `CODEX_AFFINITY_TLS_HMAC_${randomUUID().slice(0, 8)}`;

function redisConfig(extra: Record<string, unknown> = {}) {
  const config = parseConfig({ accounts: [{ name: 'a', cluster: 'c' }], store: { kind: 'redis', url: server.url, tlsCaFile: server.caFile, hmacSecret: { env: SECRET_ENV }, deadline: '2s', ...extra } });
  if (config.store.kind !== 'redis') throw new Error('expected a Redis store');
  return config.store;
}

async function ready(client: Redis | Cluster): Promise<void> {
  if (client.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('TLS client not ready within 5 s')), 5000);
    client.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

const opened: RedisBindingStore[] = [];
const prefix = `ca-tls-${randomUUID().slice(0, 6)}`;
function open(): RedisBindingStore {
  const client = createRedisClient(redisConfig());
  clients.push(client);
  const store = new RedisBindingStore({ client, hmacSecret: 'tls', keyPrefix: prefix, ttls: CONTRACT_TTLS, slideFraction: 0.5 });
  opened.push(store);
  return store;
}

beforeAll(async () => {
  process.env[SECRET_ENV] = 'tls-secret';
  server = await startRedisTls();
  // The contract opens stores synchronously: connect a few ahead and wait for them.
  for (let index = 0; index < 2; index++) open();
  await Promise.all(clients.map(ready));
}, 60_000);

afterAll(async () => {
  clients.forEach((client) => client.disconnect());
  await server?.stop();
  delete process.env[SECRET_ENV];
});

let principal = 0;
const scope = (): BindingScope => ({ pool: 'default', principal: `tls-${principal++}` });
let handed = 0;

describe('Redis store over TLS (private CA from tlsCaFile)', () => {
  // Stores opened ahead are connected; the contract takes them in turn.
  storeContract(() => opened[handed++ % opened.length]!, scope);

  it('verifies the certificate: without the CA the connection is refused', async () => {
    const client = createRedisClient(redisConfig({ tlsCaFile: undefined }));
    clients.push(client);
    const error = await new Promise<Error>((resolve) => client.once('error', resolve));
    expect(error.message).toMatch(/self[- ]signed|unable to verify|certificate/i);
    expect(client.status).not.toBe('ready');
  });
});
