// The replicated workload on a Redis Cluster (3 masters) and on Sentinel, started on
// loopback for this file: the same promise as on a standalone Redis.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisCluster, startRedisSentinel, type RedisClusterHandle, type RedisSentinelHandle } from '../support/redis-servers.js';
import { Redis } from 'ioredis';
import { runCodexWorkload } from '../workload/index.js';
import { firstRequestRaceScenario, sessionsOnOneAccount, sharedCooldownScenario, showRun, THREE_DOMAINS_OPENAI, workloadScenario } from './replicas-scenarios.js';
import { startReplicatedStack } from './replicas.js';

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

  // What these runs left in Redis, read on every node that holds data. Every key and value
  // must have the store's own shape (digests, account names, numbers): nothing else fits.
  it.each(['cluster', 'sentinel'] as const)('%s: every key and value in Redis has the store’s shape: no raw id, prompt, token or credential', { timeout: 30_000 }, async (topology) => {
    const nodes = topology === 'cluster' ? [...cluster!.nodes] : [await sentinel!.masterAddress()];
    const shapes = {
      binding: /^ca-rep-[0-9a-f]{8}:\{[A-Za-z0-9_-]{16}\}:[sriect]:[A-Za-z0-9_-]{27}$/,
      exclusion: /^ca-rep-[0-9a-f]{8}:\{[A-Za-z0-9_-]{16}\}:x:[A-Za-z0-9_-]{27}$/,
      state: /^ca-rep-[0-9a-f]{8}:\{accounts\}:state$/,
      operator: /^ca-rep-[0-9a-f]{8}:\{operator\}:state$/,
      value: /^\d+\|\{"a":"acct-[abc]","d":"org-[abc]","s":"(soft|hard)","c":\d+,"l":\d+\}$/,
    };
    let keys = 0;
    const misfits: string[] = [];
    for (const node of nodes) {
      const [host, port] = node.split(':');
      const client = new Redis({ host: host!, port: Number(port), maxRetriesPerRequest: 1 });
      try {
        for (const key of await client.keys('ca-rep-*')) {
          keys++;
          if (shapes.binding.test(key)) {
            const value = (await client.get(key)) ?? '';
            if (!shapes.value.test(value)) misfits.push(`${key} = ${value.slice(0, 80)}`);
          } else if (shapes.exclusion.test(key)) {
            for (const member of await client.smembers(key)) if (!/^(d:org-[abc]|a:acct-[abc])$/.test(member)) misfits.push(`${key} ∋ ${member}`);
          } else if (shapes.state.test(key)) {
            for (const [field, value] of Object.entries(await client.hgetall(key))) {
              const event = JSON.parse(value) as Record<string, unknown>;
              const allowed = new Set(['kind', 'account', 'until', 'at', 'percent', 'resetsAt']);
              if (!/^(cooldown|credential_failed|usage):acct-[abc]$/.test(field) || Object.keys(event).some((name) => !allowed.has(name))) misfits.push(`${key}.${field} = ${value}`);
            }
          } else if (shapes.operator.test(key)) {
            // Drains and flush marks (accounts/shared-operator-state.ts): names and times only.
            for (const [field, value] of Object.entries(await client.hgetall(key))) {
              const event = JSON.parse(value) as Record<string, unknown>;
              const allowed = new Set(['kind', 'account', 'pool', 'at']);
              if (!/^(drain|flush_account):acct-[abc]$|^flush_pool:[A-Za-z0-9_.-]+$/.test(field) || Object.keys(event).some((name) => !allowed.has(name))) misfits.push(`${key}.${field} = ${value}`);
            }
          } else misfits.push(key);
        }
      } finally {
        client.disconnect();
      }
    }
    console.log(`replicas on ${topology}, what reaches Redis: ${keys} keys on ${nodes.length} node(s), ${misfits.length} outside the store's shapes${misfits.length > 0 ? `: ${misfits.slice(0, 3).join('; ')}` : ''}`);
    expect(keys).toBeGreaterThan(100);
    expect(misfits).toEqual([]);
  });

  // Last: it kills the Sentinel master.
  it('sentinel: the master killed mid-run (failover to the replica): 0 failed turns, every session on one account', { timeout: 90_000 }, async () => {
    const stack = await startReplicatedStack({ accounts: THREE_DOMAINS_OPENAI, replicas: 3, ...choiceFor('sentinel') });
    try {
      let answered = 0;
      let killed: Promise<void> | undefined;
      const stats = await runCodexWorkload({
        baseUrl: stack.url,
        sessions: 30,
        turns: 6,
        concurrency: 6,
        seed: 83,
        onProgress: () => {
          answered++;
          if (answered === 60) killed = sentinel!.killMaster();
        },
      });
      await killed;
      const counters = await stack.counters();
      console.log(`replicas on sentinel through a failover: ${stats.requests} requests, ${stats.failedTotal} failed, ${sessionsOnOneAccount(stats)}/30 sessions on one account, store errors ${counters.storeErrors}`);
      expect(stats.failedTotal).toBe(0);
      expect(sessionsOnOneAccount(stats)).toBe(30);
    } finally {
      await stack.close();
    }
  });
});
