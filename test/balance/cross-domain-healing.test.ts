import { afterEach, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import { codexRequest, startTestProcessor, type TestProcessor } from '../support/processor.js';
import { metricSum, turn, type ElapsedClock } from './support.js';

const MINUTE = 60_000;
const ACCOUNTS: ConfigInput['accounts'] = [
  { name: 'a1', cluster: 'cluster-a1', domain: 'org-a' },
  { name: 'a2', cluster: 'cluster-a2', domain: 'org-a' },
  { name: 'b1', cluster: 'cluster-b1', domain: 'org-b' },
];
const FULL_DOMAIN = { a1: 85, a2: 80, b1: 5 };

let processor: TestProcessor | undefined;
let elapsed: ElapsedClock;
afterEach(async () => {
  await processor?.close();
  processor = undefined;
});

async function start(crossDomainHealing: boolean): Promise<TestProcessor> {
  elapsed = { now: 0 };
  processor = await startTestProcessor({ accounts: ACCOUNTS, balance: { crossDomainHealing } }, { elapsed: () => elapsed.now });
  return processor;
}

function usage(target: TestProcessor, percents: Record<string, number>): void {
  for (const [account, percent] of Object.entries(percents)) target.server.context.accountState.recordUsage(account, percent, target.clock.now);
}

/** Codex sessions hard in org-a after two turns. */
async function codexSessionsInOrgA(target: TestProcessor, count: number, prefix: string): Promise<string[]> {
  const sessions: string[] = [];
  for (let index = 0; sessions.length < count && index < 200; index++) {
    const session = `${prefix}-${index}`;
    if ((await turn(target, elapsed, codexRequest({ session, turn: 1 }), {}, `rs_${session}_1`)).account === 'b1') continue;
    expect((await turn(target, elapsed, codexRequest({ session, turn: 2 }), {}, `rs_${session}_2`)).strength).toBe('hard');
    sessions.push(session);
  }
  return sessions;
}

describe('cross-domain healing of idle hard sessions (opt-in per pool)', () => {
  it('off by default: an idle Codex session whose domain is full stays in its domain', async () => {
    const target = await start(false);
    const sessions = await codexSessionsInOrgA(target, 4, 'stays');
    target.clock.now += 30 * MINUTE;
    usage(target, FULL_DOMAIN);
    for (const session of sessions) {
      const third = await turn(target, elapsed, codexRequest({ session, turn: 3 }));
      expect(['a1', 'a2']).toContain(third.account);
      expect(third.clientHeaders.has('x-codex-affinity-healed')).toBe(false);
    }
  });

  it('on: healed onto the other domain with its reasoning dropped and the client told; later turns drop the old reasoning again and stay', async () => {
    const target = await start(true);
    const sessions = await codexSessionsInOrgA(target, 3, 'healed');
    target.clock.now += 30 * MINUTE;
    usage(target, FULL_DOMAIN);
    for (const session of sessions) {
      const third = await turn(target, elapsed, codexRequest({ session, turn: 3 }), {}, `rs_${session}_3`);
      expect(third.account).toBe('b1');
      expect(third.clientHeaders.get('x-codex-affinity-healed')).toBe('dropped-reasoning-items=2');
      expect(third.sentBody?.input?.some((item) => item.encrypted_content !== undefined)).toBe(false);
      // The client resends all its reasoning: org-a's is dropped again, b1's own is kept, and the session is hard on b1.
      const fourth = await turn(target, elapsed, codexRequest({ session, turn: 4 }), {}, `rs_${session}_4`);
      expect([fourth.account, fourth.strength]).toEqual(['b1', 'hard']);
      expect(fourth.sentBody?.input?.filter((item) => item.encrypted_content !== undefined).map((item) => item.encrypted_content)).toEqual(['ENC-x-3']);
    }
    expect(await metricSum(target, 'codex_affinity_heals_total', { outcome: 'rebalanced' })).toBe(sessions.length);
    expect(await metricSum(target, 'codex_affinity_binding_moves_total', { reason: 'usage' })).toBe(sessions.length);
  });

  it('never while a turn is in progress: a request answering a tool call stays in its domain', async () => {
    const target = await start(true);
    const [session] = await codexSessionsInOrgA(target, 1, 'mid-turn');
    target.clock.now += 30 * MINUTE;
    usage(target, FULL_DOMAIN);
    const request = codexRequest({ session: session!, turn: 3 });
    const input = [...(request.body.input as unknown[]), { type: 'function_call_output', call_id: 'call_1', output: 'exit code 0' }];
    const midTurn = await turn(target, elapsed, { ...request, body: { ...request.body, input } });
    expect(['a1', 'a2']).toContain(midTurn.account);
    expect(midTurn.clientHeaders.has('x-codex-affinity-healed')).toBe(false);
  });

  it('a warm session is never healed, however full its domain', async () => {
    const target = await start(true);
    const sessions = await codexSessionsInOrgA(target, 3, 'warm');
    target.clock.now += 2 * MINUTE;
    usage(target, FULL_DOMAIN);
    for (const session of sessions) expect(['a1', 'a2']).toContain((await turn(target, elapsed, codexRequest({ session, turn: 3 }))).account);
  });
});
