import type { Config } from '../config/schema.js';
import { readSource } from '../credentials/secret-source.js';
import { createRedisClient } from '../redis/client.js';
import { bindingTtls } from './create-store.js';
import { RedisBindingStore } from './redis-store.js';

export function createRedisStore(config: Config): RedisBindingStore {
  if (config.store.kind !== 'redis') throw new Error('not a Redis store configuration');
  const store = config.store;
  return new RedisBindingStore({
    client: createRedisClient(store),
    hmacSecret: readSource(store.hmacSecret!),
    keyPrefix: store.keyPrefix,
    ttls: bindingTtls(config.bindings),
    slideFraction: config.bindings.slideFraction,
  });
}
