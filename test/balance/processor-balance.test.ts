import { afterEach, describe, expect, it } from 'vitest';
import type { BindingStore } from '../../src/bindings/store.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { codexRequest, startTestProcessor, type TestProcessor } from '../support/processor.js';
import { memoryStore, unclosable } from '../support/stores.js';
import { metricSum, softRequest, turn, type ElapsedClock, type Turn, type UpstreamBehaviour } from './support.js';

const MINUTE = 60_000;
const ACCOUNTS: ConfigInput['accounts'] = [
  { name: 'a1', cluster: 'cluster-a1', domain: 'org-a' },
  { name: 'a2', cluster: 'cluster-a2', domain: 'org-a' },
  { name: 'b1', cluster: 'cluster-b1', domain: 'org-b' },
];

let processor: TestProcessor | undefined;
let elapsed: ElapsedClock;
afterEach(async () => {
  await processor?.close();
  processor = undefined;
});

async function start(overrides: Partial<ConfigInput> = {}, options: { store?: BindingStore } = {}): Promise<TestProcessor> {
  elapsed = { now: 0 };
  processor = await startTestProcessor({ accounts: ACCOUNTS, ...overrides }, { elapsed: () => elapsed.now, ...options });
  return processor;
}

/** Usage readings as the upstream's headers would record them, at the processor's current time. */
function usage(target: TestProcessor, percents: Record<string, number>): void {
  for (const [account, percent] of Object.entries(percents)) target.server.context.accountState.recordUsage(account, percent, target.clock.now);
}

/** Soft sessions whose first turn landed on `account` (the others are left where placement put them). */
async function softSessionsOn(target: TestProcessor, account: string, count: number, prefix: string, options: { extendedRetention?: boolean } = {}): Promise<string[]> {
  const sessions: string[] = [];
  for (let index = 0; sessions.length < count && index < count * 20; index++) {
    const session = `${prefix}-${index}`;
    if ((await turn(target, elapsed, softRequest(session, options))).account === account) sessions.push(session);
  }
  expect(sessions).toHaveLength(count);
  return sessions;
}

/** Codex sessions made hard on `account`: turn 1 places them, turn 2 resends turn 1's encrypted reasoning (learned for its domain). */
async function hardSessionsOn(target: TestProcessor, account: string, count: number, prefix: string): Promise<string[]> {
  const sessions: string[] = [];
  for (let index = 0; sessions.length < count && index < count * 20; index++) {
    const session = `${prefix}-${index}`;
    const first = await turn(target, elapsed, codexRequest({ session, turn: 1 }), {}, `rs_${session}_1`);
    if (first.account !== account) continue;
    const second = await turn(target, elapsed, codexRequest({ session, turn: 2 }), {}, `rs_${session}_2`);
    expect([second.account, second.strength]).toEqual([account, 'hard']);
    sessions.push(session);
  }
  expect(sessions).toHaveLength(count);
  return sessions;
}

async function everyTurn(target: TestProcessor, sessions: readonly string[], request: (session: string) => { headers: Record<string, string>; body: object }, behaviour: UpstreamBehaviour = {}): Promise<Turn[]> {
  const turns: Turn[] = [];
  for (const session of sessions) turns.push(await turn(target, elapsed, request(session), behaviour));
  return turns;
}

describe('cache-aware rebalancing: a soft session idle past its cache lifetime is re-chosen', () => {
  it('warm sessions stay for an hour (their last-seen time is refreshed); idle 9 minutes they stay; idle past 10 minutes they drift to headroom', async () => {
    const target = await start();
    const sessions = await softSessionsOn(target, 'a1', 12, 'idle');
    // a1 fuller than the others, but within the usage gap: only idleness can move these sessions.
    const readings = { a1: 30, a2: 10, b1: 10 };
    for (let step = 0; step < 12; step++) {
      target.clock.now += 5 * MINUTE;
      usage(target, readings);
      const turns = await everyTurn(target, sessions, (session) => softRequest(session));
      expect(turns.map((entry) => entry.account)).toEqual(sessions.map(() => 'a1'));
    }
    target.clock.now += 9 * MINUTE;
    usage(target, readings);
    expect((await everyTurn(target, sessions, (session) => softRequest(session))).every((entry) => entry.account === 'a1' && entry.outcome === 'bound')).toBe(true);

    target.clock.now += 12 * MINUTE;
    usage(target, readings);
    const after = await everyTurn(target, sessions, (session) => softRequest(session));
    const moved = after.filter((entry) => entry.account !== 'a1');
    expect(moved.length).toBeGreaterThanOrEqual(sessions.length / 2);
    for (const entry of moved) expect([entry.outcome, entry.moveReason]).toEqual(['moved', 'idle']);
    expect(after.filter((entry) => entry.account === 'a1').every((entry) => entry.moveReason === undefined)).toBe(true);
    expect(await metricSum(target, 'codex_affinity_binding_moves_total', { reason: 'idle', account: 'a1', pool: 'default' })).toBe(moved.length);
    // The move is followed on the next turn, which is warm again.
    const next = await everyTurn(target, sessions, (session) => softRequest(session));
    expect(next.map((entry) => entry.account)).toEqual(after.map((entry) => entry.account));
    const logged = target.logs.filter((line) => line.includes('session moved'));
    expect(logged).toHaveLength(moved.length);
    expect(logged.every((line) => line.includes('"reason":"idle"') && line.includes('"from":"a1"'))).toBe(true);
    expect(logged.join('')).not.toContain('idle-');
  });

  it('a store that refuses the last-seen refresh costs the request nothing: routed, bound, no 503', async () => {
    const inner = memoryStore({ now: () => processor?.clock.now ?? 0 });
    const refusing = { ...unclosable(inner), compareAndSet: () => Promise.reject(new Error('store exploded')) };
    elapsed = { now: 0 };
    processor = await startTestProcessor({ accounts: ACCOUNTS }, { store: refusing, elapsed: () => elapsed.now });
    const target = processor;
    const first = await turn(target, elapsed, softRequest('untouched'));
    // Two refreshes refused, ten minutes: within the cache's lifetime, so nothing else writes.
    for (let step = 0; step < 2; step++) {
      target.clock.now += 5 * MINUTE;
      const next = await turn(target, elapsed, softRequest('untouched'));
      expect([next.account, next.outcome]).toEqual([first.account, 'bound']);
    }
    await inner.close();
  });

  it('a request asking for prompt_cache_retention "24h" keeps its account through a two-hour pause', async () => {
    const target = await start();
    const sessions = await softSessionsOn(target, 'a1', 6, 'retained', { extendedRetention: true });
    target.clock.now += 120 * MINUTE;
    usage(target, { a1: 25, a2: 10, b1: 10 });
    const turns = await everyTurn(target, sessions, (session) => softRequest(session, { extendedRetention: true }));
    expect(turns.every((entry) => entry.account === 'a1' && entry.outcome === 'bound')).toBe(true);
  });

  it('a longer cacheLifetime per pool keeps idle sessions longer', async () => {
    const target = await start({ balance: { cacheLifetime: '1h' } });
    const sessions = await softSessionsOn(target, 'a1', 6, 'pool-lifetime');
    target.clock.now += 30 * MINUTE;
    usage(target, { a1: 25, a2: 10, b1: 10 });
    expect((await everyTurn(target, sessions, (session) => softRequest(session))).every((entry) => entry.account === 'a1')).toBe(true);
  });
});

describe('cache-aware rebalancing under restarts and races', () => {
  it('a restart keeps idle time: the last-seen time lives in the store, so a warm session stays and an idle one moves after it', async () => {
    const shared = memoryStore({ now: () => processor?.clock.now ?? 0 });
    let target = await start({}, { store: unclosable(shared) });
    const sessions = await softSessionsOn(target, 'a1', 8, 'restarted');
    const readings = { a1: 35, a2: 10, b1: 10 };
    const restart = async (at: number) => {
      await target.close();
      target = await start({}, { store: unclosable(shared) });
      target.clock.now = at;
      usage(target, readings);
    };
    const before = target.clock.now;
    await restart(before + 5 * MINUTE);
    expect((await everyTurn(target, sessions, (session) => softRequest(session))).every((entry) => entry.account === 'a1' && entry.outcome === 'bound')).toBe(true);
    await restart(target.clock.now + 12 * MINUTE);
    const after = await everyTurn(target, sessions, (session) => softRequest(session));
    expect(after.filter((entry) => entry.outcome === 'moved').length).toBeGreaterThanOrEqual(4);
    processor = target;
    await shared.close();
  });

  it('two requests of one idle session racing (another replica, a retry) end on one account', async () => {
    const target = await start();
    const sessions = await softSessionsOn(target, 'a1', 8, 'racing');
    target.clock.now += 12 * MINUTE;
    usage(target, { a1: 35, a2: 10, b1: 10 });
    for (const session of sessions) {
      const [one, two] = await Promise.all([turn(target, elapsed, softRequest(session)), turn(target, elapsed, softRequest(session))]);
      expect(one.account).toBe(two.account);
      expect((await turn(target, elapsed, softRequest(session))).account).toBe(one.account);
    }
  });
});

describe('hard sessions: encrypted content moves only inside its domain; stored objects never move', () => {
  it('a Codex session (hard from turn 2) idle past its cache moves to the other account of its domain, hard, and stays there', async () => {
    const target = await start();
    const sessions = await hardSessionsOn(target, 'a1', 8, 'codex');
    target.clock.now += 12 * MINUTE;
    usage(target, { a1: 80, a2: 10, b1: 0 });
    const third = await everyTurn(target, sessions, (session) => codexRequest({ session, turn: 3 }));
    expect(third.every((entry) => entry.account === 'a1' || entry.account === 'a2')).toBe(true);
    expect(third.every((entry) => entry.strength === 'hard')).toBe(true);
    const moved = third.filter((entry) => entry.account === 'a2');
    expect(moved.length).toBeGreaterThanOrEqual(sessions.length / 2);
    expect(await metricSum(target, 'codex_affinity_binding_moves_total', { reason: 'idle', account: 'a1' })).toBe(moved.length);
    const fourth = await everyTurn(target, sessions, (session) => codexRequest({ session, turn: 4 }));
    expect(fourth.map((entry) => entry.account)).toEqual(third.map((entry) => entry.account));
  });

  it('a Codex session in a domain of one account stays however idle and however full its account', async () => {
    const target = await start();
    const sessions = await hardSessionsOn(target, 'b1', 4, 'codex-alone');
    target.clock.now += 60 * MINUTE;
    usage(target, { a1: 0, a2: 0, b1: 85 });
    const turns = await everyTurn(target, sessions, (session) => codexRequest({ session, turn: 3 }));
    expect(turns.every((entry) => entry.account === 'b1')).toBe(true);
  });

  it('a previous_response_id chain (a stored response) never moves: idle, usage, flushes, latency', async () => {
    const target = await start();
    const chains: Array<{ session: string; responseId: string; account: string }> = [];
    for (let index = 0; chains.length < 4; index++) {
      const session = `chain-${index}`;
      const first = await turn(target, elapsed, { ...softRequest(session), body: { ...softRequest(session).body, store: true } });
      if (first.account === 'a1') chains.push({ session, responseId: first.responseId!, account: first.account });
    }
    target.clock.now += 60 * MINUTE;
    usage(target, { a1: 80, a2: 0, b1: 0 });
    target.server.context.balance.flushAccount('a1', target.clock.now);
    target.server.context.balance.flushPool('default', target.clock.now);
    for (const chain of chains) {
      const request = softRequest(chain.session);
      const next = await turn(target, elapsed, { ...request, body: { ...request.body, store: true, previous_response_id: chain.responseId } }, { firstEvent: { a1: 4000 } });
      expect([next.account, next.strength]).toEqual(['a1', 'hard']);
    }
  });
});

describe('usage-aware choice: warm soft sessions leave an account far above the pool at a bounded rate', () => {
  it('at most movesPerMinute leave per minute, to accounts with headroom, and none comes back', async () => {
    const target = await start({ balance: { movesPerMinute: 3 } });
    const sessions = await softSessionsOn(target, 'a1', 12, 'hot');
    const readings = { a1: 70, a2: 10, b1: 10 };
    target.clock.now += 6 * MINUTE; // past minimumDwell, well inside the cache lifetime
    usage(target, readings);
    const where = new Map(sessions.map((session) => [session, 'a1']));
    const movedPerMinute: number[] = [];
    for (let minute = 0; minute < 4; minute++) {
      let moved = 0;
      for (const session of sessions) {
        const result = await turn(target, elapsed, softRequest(session));
        if (result.account !== where.get(session)) {
          expect(where.get(session)).toBe('a1');
          expect(result.outcome).toBe('moved');
          moved++;
        }
        where.set(session, result.account);
      }
      movedPerMinute.push(moved);
      target.clock.now += MINUTE;
      usage(target, readings);
    }
    expect(movedPerMinute).toEqual([3, 3, 3, 3]);
    expect(await metricSum(target, 'codex_affinity_binding_moves_total', { reason: 'usage', account: 'a1' })).toBe(12);
  });

  it('hard sessions on the full account are held and counted, not moved', async () => {
    const target = await start();
    const sessions = await hardSessionsOn(target, 'a1', 3, 'hot-hard');
    target.clock.now += 6 * MINUTE;
    usage(target, { a1: 70, a2: 10, b1: 10 });
    const turns = await everyTurn(target, sessions, (session) => codexRequest({ session, turn: 3 }));
    expect(turns.every((entry) => entry.account === 'a1')).toBe(true);
    expect(await metricSum(target, 'codex_affinity_moves_held_total', { reason: 'usage', account: 'a1' })).toBe(3);
  });
});

describe('escape: soft sessions leave a slow or failing account; hard ones stay and the operator sees why', () => {
  it('an account 2 s slower to its first event: soft sessions leave within two turns, hard sessions stay', async () => {
    const target = await start();
    const slow: UpstreamBehaviour = { firstEvent: { a1: 2300, a2: 300, b1: 300 } };
    const soft = await softSessionsOn(target, 'a1', 6, 'slow-soft');
    const hard = await hardSessionsOn(target, 'a1', 3, 'slow-hard');
    // Others keep the pool measured: the fast accounts answer too.
    await softSessionsOn(target, 'a2', 3, 'fast-a2');
    await softSessionsOn(target, 'b1', 3, 'fast-b1');
    target.clock.now += MINUTE;
    const first = await everyTurn(target, soft, (session) => softRequest(session), slow);
    const second = await everyTurn(target, soft, (session) => softRequest(session), slow);
    expect(second.every((entry) => entry.account !== 'a1')).toBe(true);
    expect([...first, ...second].filter((entry) => entry.outcome === 'moved').map((entry) => entry.moveReason)).toEqual(soft.map(() => 'latency'));
    const hardTurns = await everyTurn(target, hard, (session) => codexRequest({ session, turn: 3 }), slow);
    expect(hardTurns.every((entry) => entry.account === 'a1' && entry.strength === 'hard')).toBe(true);
    expect(await metricSum(target, 'codex_affinity_binding_moves_total', { reason: 'latency', account: 'a1' })).toBe(soft.length);
    expect(await metricSum(target, 'codex_affinity_moves_held_total', { reason: 'latency', account: 'a1' })).toBeGreaterThanOrEqual(hard.length);
    expect(await metricSum(target, 'codex_affinity_account_first_event_seconds', { account: 'a1' })).toBeGreaterThan(1.5);
    // New sessions avoid the slow account.
    for (let index = 0; index < 10; index++) expect((await turn(target, elapsed, softRequest(`new-${index}`), slow)).account).not.toBe('a1');
  });

  it('an account answering 500s: soft sessions leave it before the failure window marks it unhealthy', async () => {
    const target = await start({ health: { failureThreshold: 50 } });
    const soft = await softSessionsOn(target, 'a1', 4, 'failing');
    await softSessionsOn(target, 'a2', 2, 'fine-a2');
    const failing: UpstreamBehaviour = { failing: new Set(['a1']) };
    const turns = await everyTurn(target, soft, (session) => softRequest(session), failing);
    const again = await everyTurn(target, soft, (session) => softRequest(session), failing);
    expect(again.every((entry) => entry.account !== 'a1')).toBe(true);
    expect(turns.length).toBe(4);
    expect(await metricSum(target, 'codex_affinity_binding_moves_total', { reason: 'errors', account: 'a1' })).toBe(soft.length);
  });
});

describe('operator control', () => {
  it('stickiness soft-off on one pool: its soft sessions are spread turn by turn; hard ones stay pinned; the other pool stays sticky', async () => {
    const target = await start({
      routing: { poolHeader: 'x-pool' },
      pools: [
        { name: 'free', accounts: ['a1', 'a2', 'b1'], balance: { stickiness: 'soft-off' } },
        { name: 'sticky', accounts: ['a1', 'a2', 'b1'] },
      ],
    });
    const inPool = (pool: string, request: { headers: Record<string, string>; body: object }) => ({ ...request, headers: { ...request.headers, 'x-pool': pool } });
    const free = new Set<string>();
    const sticky = new Set<string>();
    for (let index = 0; index < 6; index++) {
      free.add((await turn(target, elapsed, inPool('free', softRequest('spread')))).account);
      sticky.add((await turn(target, elapsed, inPool('sticky', softRequest('spread')))).account);
    }
    expect(free.size).toBe(3);
    expect(sticky.size).toBe(1);
    const hardAccounts = new Set<string>();
    const first = await turn(target, elapsed, inPool('free', codexRequest({ session: 'pinned', turn: 1 })), {}, 'rs_pinned_1');
    for (let turnNumber = 2; turnNumber < 6; turnNumber++) {
      hardAccounts.add((await turn(target, elapsed, inPool('free', codexRequest({ session: 'pinned', turn: turnNumber })), {}, `rs_pinned_${turnNumber}`)).account);
    }
    expect([...hardAccounts]).toEqual([first.account]);
    expect(await metricSum(target, 'codex_affinity_binding_moves_total', { reason: 'operator', pool: 'free' })).toBeGreaterThan(0);
    expect(await metricSum(target, 'codex_affinity_binding_moves_total', { pool: 'sticky' })).toBe(0);
  });

  it('flushing an account: its soft sessions leave on their next turn, hard ones stay; a pool flush re-chooses (placement may keep some)', async () => {
    const target = await start();
    const soft = await softSessionsOn(target, 'a1', 6, 'flush-soft');
    const hard = await hardSessionsOn(target, 'a1', 2, 'flush-hard');
    target.clock.now += MINUTE;
    target.server.context.balance.flushAccount('a1', target.clock.now);
    target.clock.now += 1000;
    const softTurns = await everyTurn(target, soft, (session) => softRequest(session));
    expect(softTurns.every((entry) => entry.account !== 'a1' && entry.outcome === 'moved')).toBe(true);
    const hardTurns = await everyTurn(target, hard, (session) => codexRequest({ session, turn: 3 }));
    expect(hardTurns.every((entry) => entry.account === 'a1')).toBe(true);
    // Flushed once: the next turns stay where they went.
    const after = await everyTurn(target, soft, (session) => softRequest(session));
    expect(after.map((entry) => entry.account)).toEqual(softTurns.map((entry) => entry.account));
    expect(await metricSum(target, 'codex_affinity_binding_moves_total', { reason: 'flushed', account: 'a1' })).toBe(soft.length);

    // A pool flush with a1 full: re-chosen by placement, which now prefers headroom.
    const back = await softSessionsOn(target, 'a1', 6, 'flush-pool');
    usage(target, { a1: 85, a2: 0, b1: 0 });
    target.clock.now += 1000;
    target.server.context.balance.flushPool('default', target.clock.now);
    target.clock.now += 1000;
    const pooled = await everyTurn(target, back, (session) => softRequest(session));
    expect(pooled.filter((entry) => entry.account !== 'a1').length).toBeGreaterThanOrEqual(5);
  });

  it('a client cannot steer balancing: usage or latency headers it sends are not account state', async () => {
    const target = await start();
    const sessions = await softSessionsOn(target, 'a1', 4, 'forged');
    target.clock.now += 6 * MINUTE;
    const forged = (session: string) => {
      const request = softRequest(session);
      return { ...request, headers: { ...request.headers, 'x-codex-primary-used-percent': '100', 'x-ratelimit-remaining-requests': '0' } };
    };
    const turns = await everyTurn(target, sessions, forged);
    expect(turns.every((entry) => entry.account === 'a1' && entry.outcome === 'bound')).toBe(true);
    expect(target.server.context.accountState.view('a1', target.clock.now).usedPercent).toBe(0);
  });
});
