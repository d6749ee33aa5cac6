import { parseConfig } from '../src/config/load.js';
import { createLogger } from '../src/logging/logger.js';
import { startServer } from '../src/server.js';
import { startNoopProcessor } from './noop-processor.js';

/** Runs one processor in its own process (so client and server do not share a core's event loop). */
const kind = process.argv[2];
if (kind === 'noop') {
  const noop = await startNoopProcessor();
  process.stdout.write(`${JSON.stringify({ address: noop.address })}\n`);
} else {
  const profile = kind === 'affinity-codex' ? 'chatgpt-codex' : 'openai';
  // affinity-redis: the same processor on a Redis store (REDIS_URL, a prefix of its own).
  // affinity-redis-direct: the same without the near cache (every lookup a round trip).
  const store =
    kind === 'affinity-redis' || kind === 'affinity-redis-direct'
      ? {
          kind: 'redis',
          url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
          keyPrefix: `ca-bench-${process.pid}`,
          hmacSecret: { env: 'CODEX_AFFINITY_BENCH_SECRET' },
          ...(kind === 'affinity-redis-direct' ? { nearCache: { maxEntries: 0 } } : {}),
        }
      : { kind: 'memory' };
  process.env.CODEX_AFFINITY_BENCH_SECRET ??= 'bench-secret';
  const config = parseConfig({
    store,
    grpc: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0 },
    logging: { level: 'warn' },
    accounts: [
      { name: 'acct-a', cluster: 'cluster-a', domain: 'org-a', profile },
      { name: 'acct-b', cluster: 'cluster-b', domain: 'org-b', profile },
      { name: 'acct-c', cluster: 'cluster-c', domain: 'org-c', profile },
    ],
  });
  const server = await startServer(config, { logger: createLogger('warn') });
  process.stdout.write(`${JSON.stringify({ address: server.grpcAddress })}\n`);
}
