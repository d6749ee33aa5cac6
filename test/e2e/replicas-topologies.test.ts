// The replicated workload on a Redis Cluster (3 masters) and on Sentinel, started on
// loopback for this file: the same promise as on a standalone Redis.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisCluster, startRedisSentinel, type RedisClusterHandle, type RedisSentinelHandle } from '../support/redis-servers.js';
import { firstRequestRaceScenario, sharedCooldownScenario, showRun, workloadScenario } from './replicas-scenarios.js';

const HMAC_ENV = `CODEX_AFFINITY_TOPOLOGY_HMAC_${randomUUID().slice(0, 8)}`;
let cluster: RedisClusterHandle | undefined;
let sentinel: RedisSentinelHandle | undefined;

beforeAll(async () => {
  process.env[HMAC_ENV] = `topology-secret-${randomUUID()}`;
  [cluster, sentinel] = await Promise.all([startRedisCluster({ masters: 3 }), startRedisSentinel()]);
}, 60_000);

afterAll(async () => {
  await Promise.all([cluster?.stop(), sentinel?.stop()]);
  delete process.env[HMAC_ENV];
});

describe('three replicas on a Redis Cluster and on Sentinel', () => {
  const choiceFor = (topology: 'cluster' | 'sentinel') => ({
    store: 'redis' as const,
    hmacSecretEnv: HMAC_ENV,
    redisTopology: topology === 'cluster' ? { nodes: [...cluster!.nodes] } : { sentinels: [...sentinel!.sentinels], name: sentinel!.name },
  });

  it.each(['cluster', 'sentinel'] as const)('%s: a Codex workload spread per request with a replica restarted mid-run, 0 failures, every session on one account, a 429 shared', { timeout: 90_000 }, async (topology) => {
    const choice = choiceFor(topology);
    const { run, restarts } = await workloadScenario(choice, { replicas: 3, sessions: 40, turns: 4, concurrency: 10, seed: 81, restarts: [{ pod: 1, atFraction: 0.5 }] });
    expect(restarts).toHaveLength(1);
    const limitedHits = await sharedCooldownScenario(choice, { replicas: 3, sessions: 20 });
    console.log(`replicas on ${topology}: ${showRun(run)}; a 429 on one account reached ${limitedHits} of 20 new sessions`);
    expect(run.failed).toBe(0);
    expect(run.oneAccount).toBe(run.sessions);
    expect(run.counters.storeErrors).toBe(0);
    expect(run.counters.orphans).toBe(0);
    expect(limitedHits).toBe(1);
  });

  it.each(['cluster', 'sentinel'] as const)('%s: 200 sessions whose first request hits all 3 replicas at once end on one account each', { timeout: 90_000 }, async (topology) => {
    const figures = await firstRequestRaceScenario(choiceFor(topology), { replicas: 3, sessions: 200, laterTurns: 1, concurrency: 24, seed: 82 });
    console.log(`replicas first-request race on ${topology}: ${figures.sessions} sessions, ${figures.firstFailed} failed, ${figures.split} split, ${figures.moved} moved later, store errors ${figures.counters.storeErrors}`);
    expect([figures.firstFailed, figures.split, figures.laterFailed, figures.moved, figures.severalAccounts]).toEqual([0, 0, 0, 0, 0]);
  });
});
