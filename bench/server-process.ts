import { PerformanceObserver } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { parseConfig } from '../src/config/load.js';
import { createLogger } from '../src/logging/logger.js';
import { startServer } from '../src/server.js';
import { startFloorProcessor } from './floor-processors.js';

/**
 * Runs one processor in its own process (so the load generator and the server
 * do not share an event loop). Prints its address as the first stdout line,
 * then answers each `stats` line on stdin with its CPU time, RSS and garbage-collection pauses.
 *
 * Kinds: noop, echo (floors); affinity (openai accounts), affinity-codex
 * (chatgpt-codex accounts: bodies rewritten), affinity-redis (Redis store with
 * its near cache), affinity-redis-direct (Redis, no near cache).
 */
const kind = process.argv[2];
if (kind === 'noop' || kind === 'echo') {
  const floor = await startFloorProcessor(kind);
  process.stdout.write(`${JSON.stringify({ address: floor.address })}\n`);
} else {
  const profile = kind === 'affinity-codex' ? 'chatgpt-codex' : 'openai';
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

// Garbage-collection pauses of the main thread: every one holds all streams, so they are
// what a small request waits behind when large bodies come in (external memory makes V8 collect).
const gc = { pauses: 0, milliseconds: 0, longestMilliseconds: 0 };
new PerformanceObserver((entries) => {
  for (const entry of entries.getEntries()) {
    gc.pauses++;
    gc.milliseconds += entry.duration;
    gc.longestMilliseconds = Math.max(gc.longestMilliseconds, entry.duration);
  }
}).observe({ entryTypes: ['gc'] });

createInterface({ input: process.stdin }).on('line', (line) => {
  const command = line.trim();
  if (command !== 'stats' && command !== 'stats window') return;
  const cpu = process.cpuUsage();
  // `stats window` starts a measured window: the longest pause it reports is since the last one.
  process.stdout.write(`${JSON.stringify({ cpuMicroseconds: cpu.user + cpu.system, rssBytes: process.memoryUsage.rss(), gcPauses: gc.pauses, gcMilliseconds: gc.milliseconds, gcLongestMilliseconds: gc.longestMilliseconds })}\n`);
  if (command === 'stats window') gc.longestMilliseconds = 0;
});
process.stdin.on('end', () => process.exit(0));
