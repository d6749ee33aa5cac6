// Redis killed mid-run and brought back, under three replicas behind a mesh spreader:
// no exchange waits on the dead store past its deadline, sessions keep their accounts,
// every replica shows the degraded state and clears it when Redis answers again.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisStandalone, type RedisStandaloneHandle } from '../support/redis-servers.js';
import { CodexSession } from './codex-session.js';
import { THREE_DOMAINS_OPENAI } from './replicas-scenarios.js';
import { startReplicatedStack, type ReplicatedStack } from './replicas.js';

const HMAC_ENV = `CODEX_AFFINITY_OUTAGE_HMAC_${randomUUID().slice(0, 8)}`;
const OUTAGE_MILLISECONDS = 10_000;
const DEADLINE_MILLISECONDS = 200;
let redis: RedisStandaloneHandle;

beforeAll(async () => {
  process.env[HMAC_ENV] = `outage-secret-${randomUUID()}`;
  redis = await startRedisStandalone();
});

afterAll(async () => {
  await redis?.stop();
  delete process.env[HMAC_ENV];
});

interface Turn {
  session: number;
  status: number;
  account: string | null;
  milliseconds: number;
  phase: 'before' | 'outage' | 'after';
}

async function readyz(stack: ReplicatedStack): Promise<string[]> {
  return Promise.all(stack.pods.map(async (pod) => (await (await fetch(`http://127.0.0.1:${pod.processor.httpPort}/readyz`)).text()).split('\n')[1] ?? ''));
}

describe('Redis outage under three replicas', () => {
  it('Redis killed for 10 s mid-run: 0 failed turns, every session on its account, no turn waits on the dead store, degraded shown and cleared', { timeout: 90_000 }, async () => {
    const stack = await startReplicatedStack({
      accounts: THREE_DOMAINS_OPENAI,
      replicas: 3,
      store: 'redis',
      hmacSecretEnv: HMAC_ENV,
      redisUrl: redis.url,
      redisDeadline: `${DEADLINE_MILLISECONDS}ms`,
    });
    const turns: Turn[] = [];
    try {
      const sessions = Array.from({ length: 18 }, (_, index) => new CodexSession(stack.url, 500 + index));
      let phase: Turn['phase'] = 'before';
      const round = async () => {
        await Promise.all(
          sessions.map(async (session, index) => {
            const started = Date.now();
            const result = await session.turnOnce();
            turns.push({ session: index, status: result.status, account: result.headers['x-fake-account'] ?? null, milliseconds: Date.now() - started, phase });
          }),
        );
      };
      await round();
      await round();
      await redis.kill();
      phase = 'outage';
      // Sessions that start while Redis is away: decided by placement alone, reconciled later.
      for (let index = 0; index < 6; index++) sessions.push(new CodexSession(stack.url, 900 + index));
      const outageStarted = Date.now();
      let degradedSeen: string[] = [];
      while (Date.now() - outageStarted < OUTAGE_MILLISECONDS) {
        await round();
        degradedSeen = await readyz(stack);
      }
      await redis.restart();
      phase = 'after';
      // Replicas reconnect by themselves (at most a second apart); the first call after that clears the state.
      const back = Date.now();
      let cleared = await readyz(stack);
      while (!cleared.every((line) => line === 'store: redis ok') && Date.now() - back < 5000) {
        await round();
        cleared = await readyz(stack);
      }
      const recoveredIn = Date.now() - back;
      await round();
      const failed = turns.filter((turn) => turn.status !== 200);
      const accountsOf = new Map<number, Set<string | null>>();
      for (const turn of turns) accountsOf.set(turn.session, (accountsOf.get(turn.session) ?? new Set()).add(turn.account));
      const moved = [...accountsOf.values()].filter((accounts) => accounts.size > 1).length;
      const slowest = (which: Turn['phase']) => Math.max(...turns.filter((turn) => turn.phase === which).map((turn) => turn.milliseconds));
      const counters = await stack.counters();
      const reconciled = (
        await Promise.all(stack.pods.map(async (pod) => pod.processor.context.metrics.registry.getSingleMetricAsString('codex_affinity_store_reconciliations_total')))
      ).join('\n');
      const reconciledCount = [...reconciled.matchAll(/outcome="[a-z_]+"} (\d+)/g)].reduce((sum, match) => sum + Number(match[1]), 0);
      console.log(
        `redis outage: ${turns.length} turns (${turns.filter((turn) => turn.phase === 'outage').length} during the ${OUTAGE_MILLISECONDS / 1000} s outage), ${failed.length} failed, ` +
          `${moved} of ${sessions.length} sessions (6 started during the outage) changed account; slowest turn before ${slowest('before')} ms, during ${slowest('outage')} ms, after ${slowest('after')} ms; ` +
          `store errors ${counters.storeErrors}, sessions reconciled with Redis after it came back ${reconciledCount}; readyz during [${degradedSeen.join(' | ')}], after [${cleared.join(' | ')}] within ${recoveredIn} ms of Redis answering`,
      );
      expect(failed).toHaveLength(0);
      expect(moved).toBe(0);
      expect(turns.filter((turn) => turn.phase === 'outage').length).toBeGreaterThan(sessions.length);
      expect(counters.storeErrors).toBeGreaterThan(0);
      expect(reconciledCount).toBeGreaterThan(0);
      expect(degradedSeen.every((line) => line.startsWith('store: redis degraded'))).toBe(true);
      expect(cleared.every((line) => line === 'store: redis ok')).toBe(true);
      // A dead store costs a turn nothing near a timeout: calls fail at once (no offline
      // queue) or at the deadline, never more.
      expect(slowest('outage')).toBeLessThan(slowest('before') + 4 * DEADLINE_MILLISECONDS + 1000);
    } finally {
      await stack.close().catch(() => undefined);
    }
  });
});
