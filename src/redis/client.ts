import { readFileSync } from 'node:fs';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { Config } from '../config/schema.js';
import { readSource } from '../credentials/secret-source.js';

export type RedisStoreConfig = Extract<Config['store'], { kind: 'redis' }>;

function hostAndPort(address: string): { host: string; port: number } {
  const separator = address.lastIndexOf(':');
  return { host: address.slice(0, separator), port: Number(address.slice(separator + 1)) };
}

/**
 * The ioredis client for the configured topology. Commands fail fast while
 * disconnected (no offline queue) and time out at the deadline, so a request
 * never waits on Redis past it.
 */
export function createRedisClient(store: RedisStoreConfig): Redis | Cluster {
  const client = connect(store);
  // Connection errors surface on the calls (the guarded store counts and logs them once);
  // without a listener ioredis would print every reconnect attempt.
  client.on('error', () => undefined);
  return client;
}

function connect(store: RedisStoreConfig): Redis | Cluster {
  const tlsWanted = store.tls || store.url?.startsWith('rediss://') === true;
  // Certificates are always verified; a private CA is named by file, never switched off.
  const tls = tlsWanted ? (store.tlsCaFile ? { ca: readFileSync(store.tlsCaFile) } : {}) : undefined;
  const common: RedisOptions = {
    enableOfflineQueue: false,
    commandTimeout: store.deadline,
    maxRetriesPerRequest: 0,
    // Reconnect at most a second apart: when Redis returns, replicas leave the degraded state quickly.
    retryStrategy: (attempt: number) => Math.min(attempt * 100, 1000),
    connectTimeout: Math.max(1000, store.deadline * 20),
    ...(store.username ? { username: readSource(store.username) } : {}),
    ...(store.password ? { password: readSource(store.password) } : {}),
    ...(tls ? { tls } : {}),
  };
  if (store.nodes) {
    const options: ClusterOptions = { redisOptions: common, enableOfflineQueue: false, scaleReads: 'master' };
    return new Cluster(store.nodes.map(hostAndPort), options);
  }
  if (store.sentinels) {
    return new Redis({
      ...common,
      sentinels: store.sentinels.map(hostAndPort),
      name: store.name!,
      ...(store.sentinelUsername ? { sentinelUsername: readSource(store.sentinelUsername) } : {}),
      ...(store.sentinelPassword ? { sentinelPassword: readSource(store.sentinelPassword) } : {}),
      ...(tls ? { sentinelTLS: tls, enableTLSForSentinelMode: true } : {}),
    });
  }
  return new Redis(store.url!, common);
}

/** A client that cannot say goodbye (disconnected, no offline queue) is cut: no reconnecting after stop. */
export async function quitOrDisconnect(client: Redis | Cluster): Promise<void> {
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}
