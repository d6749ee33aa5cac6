// Balancing with replicas on one Redis: the last-seen time one replica refreshes keeps a
// session warm for the others, and a move made by one is followed by the others.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { connectTestRedis, redisProcessorSuite, TEST_REDIS_URL } from '../support/redis.js';
import { codexRequest, startTestProcessor, type TestProcessor } from '../support/processor.js';
import { softRequest, turn, type ElapsedClock } from './support.js';

const suite = redisProcessorSuite('balance', { beforeAll, afterEach, afterAll });
const MINUTE = 60_000;
const ACCOUNTS: ConfigInput['accounts'] = [
  { name: 'a1', cluster: 'cluster-a1', domain: 'org-a' },
  { name: 'a2', cluster: 'cluster-a2', domain: 'org-a' },
  { name: 'b1', cluster: 'cluster-b1', domain: 'org-b' },
];
const elapsed: ElapsedClock = { now: 0 };

async function replica(): Promise<TestProcessor> {
  const processor = await startTestProcessor(
    { accounts: ACCOUNTS, store: { kind: 'redis', url: TEST_REDIS_URL, keyPrefix: suite.prefix, hmacSecret: { env: suite.secretVariable }, deadline: '200ms' } },
    { elapsed: () => elapsed.now },
  );
  suite.running.push(processor);
  return processor;
}

/** Both replicas' clocks move together (replicas' clocks are assumed in sync). */
function advance(replicas: readonly TestProcessor[], milliseconds: number): void {
  const now = replicas[0]!.clock.now + milliseconds;
  for (const processor of replicas) processor.clock.now = now;
}

function usage(replicas: readonly TestProcessor[], percents: Record<string, number>): void {
  for (const processor of replicas) for (const [account, percent] of Object.entries(percents)) processor.server.context.accountState.recordUsage(account, percent, processor.clock.now);
}

/** Lets a binding change's invalidation reach the other replica's near cache. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 150));

describe('balancing across replicas sharing Redis', () => {
  it('a session alternating between replicas stays warm for an hour, then an idle move by one replica is followed by the other', async () => {
    const replicas = [await replica(), await replica()];
    const [one, two] = replicas as [TestProcessor, TestProcessor];
    const sessions: string[] = [];
    for (let index = 0; sessions.length < 8 && index < 200; index++) {
      if ((await turn(one, elapsed, softRequest(`replicated-${index}`))).account === 'a1') sessions.push(`replicated-${index}`);
    }
    expect(sessions).toHaveLength(8);
    // a1 fuller, within the usage gap (35 against a mean of 18): only idleness moves these sessions.
    const readings = { a1: 35, a2: 10, b1: 10 };
    for (let step = 0; step < 12; step++) {
      advance(replicas, 5 * MINUTE);
      usage(replicas, { a1: 25, a2: 10, b1: 10 });
      const processor = step % 2 === 0 ? two : one;
      for (const session of sessions) expect((await turn(processor, elapsed, softRequest(session))).account).toBe('a1');
      await settle();
    }
    advance(replicas, 12 * MINUTE);
    usage(replicas, readings);
    const moved = new Map<string, string>();
    for (const session of sessions) moved.set(session, (await turn(two, elapsed, softRequest(session))).account);
    expect([...moved.values()].filter((account) => account !== 'a1').length).toBeGreaterThanOrEqual(4);
    await settle();
    for (const session of sessions) {
      const next = await turn(one, elapsed, softRequest(session));
      expect([next.account, next.outcome]).toEqual([moved.get(session), 'bound']);
    }
  });

  it('a flush on one replica reaches the other: its soft sessions leave the account, hard ones stay; a mark from the future waits', async () => {
    const replicas = [await replica(), await replica()];
    const [one, two] = replicas as [TestProcessor, TestProcessor];
    const soft: string[] = [];
    for (let index = 0; soft.length < 4 && index < 200; index++) if ((await turn(two, elapsed, softRequest(`flushed-${index}`))).account === 'a1') soft.push(`flushed-${index}`);
    const hard: string[] = [];
    for (let index = 0; hard.length < 2 && index < 200; index++) {
      const session = `flushed-codex-${index}`;
      if ((await turn(two, elapsed, codexRequest({ session, turn: 1 }), {}, `rs_${session}_1`)).account !== 'a1') continue;
      await turn(two, elapsed, codexRequest({ session, turn: 2 }), {}, `rs_${session}_2`);
      hard.push(session);
    }
    advance(replicas, 1000);
    one.server.context.balance.flushAccount('a1', one.clock.now);
    advance(replicas, 1000);
    // A forged mark an hour ahead (anything that can write to Redis) is not applied before its time.
    const admin = await connectTestRedis();
    await admin.hset(`${suite.prefix}:{operator}:state`, 'flush_pool:default', JSON.stringify({ kind: 'flush_pool', pool: 'default', at: one.clock.now + 3_600_000 }));
    await admin.quit();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    for (const processor of replicas) expect(processor.server.context.operatorState.marks('default', 'a1')).toEqual({ pool: 0, account: one.clock.now - 1000 });
    for (const session of soft) {
      const next = await turn(two, elapsed, softRequest(session));
      expect([next.account === 'a1', next.outcome]).toEqual([false, 'moved']);
    }
    for (const session of hard) expect((await turn(two, elapsed, codexRequest({ session, turn: 3 }))).account).toBe('a1');
    await settle();
    // Flushed once: the moved sessions stay where they went, on both replicas.
    advance(replicas, 1000);
    const where = new Map<string, string>();
    for (const session of soft) where.set(session, (await turn(two, elapsed, softRequest(session))).account);
    for (const session of soft) expect((await turn(one, elapsed, softRequest(session))).outcome).toBe('bound');
    expect([...where.values()].every((account) => account !== 'a1')).toBe(true);
  });

  it('a Codex session moved inside its domain by one replica is hard where it went, for the other', async () => {
    const replicas = [await replica(), await replica()];
    const [one, two] = replicas as [TestProcessor, TestProcessor];
    const sessions: string[] = [];
    for (let index = 0; sessions.length < 6 && index < 200; index++) {
      const session = `replicated-codex-${index}`;
      if ((await turn(one, elapsed, codexRequest({ session, turn: 1 }), {}, `rs_${session}_1`)).account !== 'a1') continue;
      expect((await turn(one, elapsed, codexRequest({ session, turn: 2 }), {}, `rs_${session}_2`)).strength).toBe('hard');
      sessions.push(session);
    }
    advance(replicas, 12 * MINUTE);
    usage(replicas, { a1: 80, a2: 10, b1: 0 });
    const third = new Map<string, string>();
    for (const session of sessions) third.set(session, (await turn(two, elapsed, codexRequest({ session, turn: 3 }), {}, `rs_${session}_3`)).account);
    expect([...third.values()].every((account) => account === 'a1' || account === 'a2')).toBe(true);
    expect([...third.values()].filter((account) => account === 'a2').length).toBeGreaterThanOrEqual(3);
    await settle();
    for (const session of sessions) {
      const fourth = await turn(one, elapsed, codexRequest({ session, turn: 4 }), {}, `rs_${session}_4`);
      expect([fourth.account, fourth.strength]).toEqual([third.get(session), 'hard']);
    }
  });
});
