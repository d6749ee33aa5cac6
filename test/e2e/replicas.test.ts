// The production topology end to end: three pods (an Envoy stand-in with its own processor
// replica each) behind a client-side spreader that sends every request to the next pod, as a
// mesh does, so one session's turns land on different replicas. With a shared Redis store
// every session stays on one account however its requests are spread, whatever replica sees
// its first request, and across a replica restart; and nothing the clients sent or the
// upstream issued reaches Redis in the clear. Scenario drivers: replicas-scenarios.ts; the
// stack: replicas.ts. Loopback only; every test bounded. Needs Redis 7 (REDIS_URL, default
// 127.0.0.1:6379): without it every test fails (startReplicatedStack throws) saying what to install.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { firstRequestRaceScenario, leakScenario, sharedCooldownScenario, showRun, workloadScenario } from './replicas-scenarios.js';

const E2E_TIMEOUT = { timeout: 60_000 };
const REPLICAS = 3;
// The shared HMAC secret of every Redis replica, read by the processors from this variable.
const HMAC_ENV = `CODEX_AFFINITY_REPLICAS_HMAC_${randomUUID().slice(0, 8)}`;
const redis = { store: 'redis' as const, hmacSecretEnv: HMAC_ENV };
const memory = { store: 'memory' as const };

beforeAll(() => {
  process.env[HMAC_ENV] = `replicas-secret-${randomUUID()}`;
});

afterAll(() => {
  delete process.env[HMAC_ENV];
});

describe('replicas behind a mesh spreader (3 pods, one account per domain)', () => {
  it('a Codex workload spread per request over 3 replicas: with Redis 0 failures and every session on one account; memory per replica beside it', E2E_TIMEOUT, async () => {
    // 10 sessions at a time (not a multiple of the pods, so a session's turns rotate over them).
    const workload = { replicas: REPLICAS, sessions: 60, turns: 5, concurrency: 10, seed: 71 };
    const shared = (await workloadScenario(redis, workload)).run;
    const separate = (await workloadScenario(memory, workload)).run;
    console.log(`replicas workload 60 sessions × 5 turns over ${REPLICAS} pods; ${showRun(shared)}; ${showRun(separate)}`);
    expect(shared.requests).toBe(300);
    // The spreader really spreads: most sessions' turns land on several pods.
    expect(shared.sessionsOnSeveralPods).toBeGreaterThanOrEqual(0.75 * shared.sessions);
    expect(shared.failed).toBe(0);
    expect(shared.oneAccount).toBe(shared.sessions);
    // Redis is at least as good as a memory store per replica.
    expect(shared.failed).toBeLessThanOrEqual(separate.failed);
    expect(shared.oneAccount).toBeGreaterThanOrEqual(separate.oneAccount);
  });

  it("500 sessions whose first request hits all 3 replicas at once: the three answers come from one account, and so do the later turns", E2E_TIMEOUT, async () => {
    const figures = await firstRequestRaceScenario(redis, { replicas: REPLICAS, sessions: 500, laterTurns: 2, concurrency: 24, seed: 72 });
    console.log(
      `replicas first-request race: ${figures.sessions} sessions × ${REPLICAS} concurrent first requests (${figures.firstRequests}, ${figures.firstFailed} failed ${JSON.stringify(figures.firstFailedByCode)}), ` +
        `${figures.split} sessions split across accounts, homes ${JSON.stringify(figures.homes)}; later turns ${figures.laterRequests} (${figures.laterFailed} failed ${JSON.stringify(figures.laterFailedByCode)}), ` +
        `${figures.moved} sessions moved, ${figures.severalAccounts} sessions on ≥2 accounts; session creates ${figures.counters.sessionCreates} (lost races that named another account ${figures.counters.bindingRaces}), store errors ${figures.counters.storeErrors}, orphans ${figures.counters.orphans}; ${figures.seconds.toFixed(1)} s`,
    );
    expect(figures.firstRequests).toBe(500 * REPLICAS);
    expect(figures.firstFailed).toBe(0);
    expect(figures.split).toBe(0);
    expect(figures.laterRequests).toBe(500 * 2);
    expect(figures.laterFailed).toBe(0);
    expect(figures.moved).toBe(0);
    expect(figures.severalAccounts).toBe(0);
  });

  it('a replica restarted mid-run (two restarts, drained as a rolling update does): 0 failures with Redis', E2E_TIMEOUT, async () => {
    const workload = {
      replicas: REPLICAS,
      sessions: 60,
      turns: 5,
      concurrency: 10,
      seed: 73,
      restarts: [
        { pod: 1, atFraction: 0.3 },
        { pod: 2, atFraction: 0.6 },
      ],
    };
    const shared = await workloadScenario(redis, workload);
    const separate = await workloadScenario(memory, workload);
    const showRestarts = (restarts: typeof shared.restarts) => restarts.map((restart) => `pod ${restart.pod} at request ${restart.atRequest}→${restart.doneAtRequest} (${restart.milliseconds} ms)`).join(', ');
    console.log(
      `replicas restart mid-run: ${showRun(shared.run)}, restarts [${showRestarts(shared.restarts)}]; ` +
        `${showRun(separate.run)}, restarts [${showRestarts(separate.restarts)}]`,
    );
    expect(shared.restarts).toHaveLength(2);
    // The restarts happened while the workload ran.
    for (const restart of shared.restarts) expect(restart.doneAtRequest).toBeLessThan(300);
    expect(shared.run.requests).toBe(300);
    expect(shared.run.failed).toBe(0);
    expect(shared.run.oneAccount).toBe(shared.run.sessions);
  });

  it('nothing raw reaches Redis: no session or thread id, prompt text, turn-state token, response or item id, encrypted content or client key in any key or value', E2E_TIMEOUT, async () => {
    const figures = await leakScenario(redis, {
      replicas: REPLICAS,
      sessions: 30,
      turns: 3,
      chains: 10,
      chainSteps: 3,
      concurrency: 8,
      seed: 74,
      clientKey: `sk-proj-replicas-client-${randomUUID()}`,
      sdkKey: `sk-proj-replicas-sdk-${randomUUID()}`,
    });
    console.log(
      `replicas Redis contents: ${figures.requests} requests (${figures.failed} failed), ${figures.keys} keys ${JSON.stringify(figures.keysByKind)} types ${JSON.stringify(figures.types)}, ` +
        `${figures.valuesNamingAnAccount} values naming an account, ${figures.foreignKeys} outside the prefix; raw values checked ${JSON.stringify(figures.checked)}; ` +
        `found ${JSON.stringify(figures.found)}${figures.examples.length > 0 ? ` e.g. ${figures.examples.join('; ')}` : ''}`,
    );
    expect(figures.failed).toBe(0);
    expect(figures.keys).toBeGreaterThan(0);
    expect(figures.valuesNamingAnAccount).toBeGreaterThan(0);
    expect(figures.foreignKeys).toBe(0);
    for (const category of ['session/thread id', 'prompt text', 'turn-state token', 'response id', 'item id', 'client API key'] as const) {
      expect(figures.checked[category] ?? 0, `raw ${category}s collected`).toBeGreaterThan(0);
    }
    expect(figures.found).toEqual({});
  });

  it('a 429 seen by one replica keeps every replica’s new sessions off that account (memory per replica: each replica pays its own)', E2E_TIMEOUT, async () => {
    const shared = await sharedCooldownScenario(redis, { replicas: REPLICAS, sessions: 30 });
    const separate = await sharedCooldownScenario(memory, { replicas: REPLICAS, sessions: 30 });
    console.log(`replicas shared account state: 30 new sessions over ${REPLICAS} pods while one account answers 429: ${shared} reached it with Redis, ${separate} with memory per replica`);
    expect(shared).toBe(1);
    expect(separate).toBeGreaterThan(shared);
  });
});
