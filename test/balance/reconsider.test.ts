import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Account } from '../../src/accounts/account.js';
import { HEALTHY, type AccountHealthView } from '../../src/accounts/health.js';
import type { Mobility } from '../../src/routing/move-reason.js';
import { UNMEASURED, type PerformanceView } from '../../src/balance/performance.js';
import { idleThreshold } from '../../src/balance/policy.js';
import { degradation, reconsider, usageExcess, type BalanceCandidate, type ReconsiderInput } from '../../src/balance/reconsider.js';
import { parseConfig } from '../../src/config/load.js';

const POLICY = parseConfig({ accounts: [{ name: 'x', cluster: 'x' }] }).balance;
const NOW = 10_000_000_000;
const MINUTE = 60_000;
const account = (name: string, domain: string): Account => ({ name, cluster: `c-${name}`, profile: 'openai', weight: 1, domain });
const A1 = account('a1', 'org-a');
const A2 = account('a2', 'org-a');
const B1 = account('b1', 'org-b');
const measured = (firstEvent: number, errorRate = 0): PerformanceView => ({
  headersMilliseconds: 100,
  headersSamples: 10,
  firstEventMilliseconds: firstEvent,
  firstEventSamples: 10,
  errorRate,
  outcomeSamples: 10,
});

function candidate(entry: Account, overrides: { health?: Partial<AccountHealthView>; performance?: PerformanceView; usable?: boolean } = {}): BalanceCandidate {
  return { account: entry, health: { ...HEALTHY, ...overrides.health }, performance: overrides.performance ?? UNMEASURED, usable: overrides.usable ?? true };
}

function input(overrides: Partial<ReconsiderInput> & { lastSeenAgo?: number; createdAgo?: number }): ReconsiderInput {
  return {
    policy: POLICY,
    now: NOW,
    mobility: 'pool',
    binding: { account: 'a1', createdAt: NOW - (overrides.createdAgo ?? 60 * MINUTE), lastSeenAt: NOW - (overrides.lastSeenAgo ?? 5_000) },
    lifetime: POLICY.cacheLifetime,
    candidates: [candidate(A1), candidate(A2), candidate(B1)],
    flush: { pool: 0, account: 0 },
    ...overrides,
  };
}

describe('reconsider: idle sessions are re-chosen once their prompt cache is gone', () => {
  it('defaults follow the cache facts: 10 minutes, 24 hours for extended retention', () => {
    expect([POLICY.cacheLifetime, POLICY.extendedCacheLifetime]).toEqual([10 * MINUTE, 24 * 60 * MINUTE]);
  });

  it.each<[Mobility, string]>([
    ['pool', 'move'],
    ['domain', 'move'],
    ['pinned', 'stay'],
  ])('%s session idle past the lifetime and its touch lag: %s', (mobility, kind) => {
    expect(reconsider(input({ mobility, lastSeenAgo: idleThreshold(POLICY.cacheLifetime) + 1 })).kind).toBe(kind);
  });

  it('a session idle less than the lifetime plus the touch lag stays: its cache may still be warm', () => {
    expect(reconsider(input({ lastSeenAgo: POLICY.cacheLifetime })).kind).toBe('stay');
    expect(reconsider(input({ lastSeenAgo: idleThreshold(POLICY.cacheLifetime) })).kind).toBe('stay');
  });

  it('extended retention: idle for an hour is still warm under a 24 h lifetime', () => {
    expect(reconsider(input({ lastSeenAgo: 60 * MINUTE, lifetime: POLICY.extendedCacheLifetime })).kind).toBe('stay');
    expect(reconsider(input({ lastSeenAgo: 25 * 60 * MINUTE, lifetime: POLICY.extendedCacheLifetime }))).toMatchObject({ kind: 'move', reason: 'idle', leave: false });
  });

  it('an idle move may keep its account (re-chosen, not evicted) and spends no usage budget', () => {
    expect(reconsider(input({ lastSeenAgo: 11 * 60 * MINUTE }))).toEqual({ kind: 'move', reason: 'idle', leave: false, budgeted: false });
  });
});

describe('reconsider: operator flushes move soft sessions only', () => {
  it('an account flush after the binding was written: the session leaves that account', () => {
    expect(reconsider(input({ flush: { pool: 0, account: NOW - 1000 } }))).toMatchObject({ kind: 'move', reason: 'flushed', leave: true });
  });

  it('a pool flush: re-chosen by normal selection', () => {
    expect(reconsider(input({ flush: { pool: NOW - 1000, account: 0 } }))).toMatchObject({ kind: 'move', reason: 'flushed', leave: false });
  });

  it('a binding written after the flush is not flushed again', () => {
    expect(reconsider(input({ createdAgo: 500, flush: { pool: NOW - 1000, account: NOW - 1000 } })).kind).toBe('stay');
  });

  it.each<Mobility>(['domain', 'pinned'])('a %s session ignores flushes: safety never switches off', (mobility) => {
    expect(reconsider(input({ mobility, flush: { pool: NOW - 1000, account: NOW - 1000 } })).kind).toBe('stay');
  });
});

describe('reconsider: escape from slow or failing accounts', () => {
  const slow = [candidate(A1, { performance: measured(2600) }), candidate(A2, { performance: measured(500) }), candidate(B1, { performance: measured(600) })];

  it('a soft session on an account 2 s slower to first event than the fastest leaves it', () => {
    expect(reconsider(input({ candidates: slow }))).toEqual({ kind: 'move', reason: 'latency', leave: true, budgeted: false });
  });

  it.each<Mobility>(['domain', 'pinned'])('a %s session stays and is reported as held', (mobility) => {
    expect(reconsider(input({ mobility, candidates: slow }))).toEqual({ kind: 'held', reason: 'latency' });
  });

  it('slower by less than the threshold is no reason', () => {
    const close = [candidate(A1, { performance: measured(1400) }), candidate(A2, { performance: measured(500) })];
    expect(reconsider(input({ candidates: close })).kind).toBe('stay');
  });

  it('too few samples judge nothing: one slow answer is not a slow account', () => {
    const thin: PerformanceView = { ...measured(5000), firstEventSamples: 1, headersSamples: 1, outcomeSamples: 1 };
    expect(reconsider(input({ candidates: [candidate(A1, { performance: thin }), candidate(A2, { performance: measured(500) })] })).kind).toBe('stay');
  });

  it('when every other account is unusable there is nowhere faster: stay', () => {
    const alone = [candidate(A1, { performance: measured(2600) }), candidate(A2, { performance: measured(500), usable: false })];
    expect(degradation(alone[0]!, alone, POLICY)).toBeUndefined();
  });

  it('an error rate at the threshold moves soft sessions; hard ones are held', () => {
    const failing = [candidate(A1, { performance: measured(500, 0.5) }), candidate(A2, { performance: measured(500, 0) })];
    expect(reconsider(input({ candidates: failing }))).toMatchObject({ kind: 'move', reason: 'errors' });
    expect(reconsider(input({ mobility: 'domain', candidates: failing }))).toEqual({ kind: 'held', reason: 'errors' });
  });

  it('every account failing alike: no account is better, nobody moves', () => {
    const all = [candidate(A1, { performance: measured(500, 0.6) }), candidate(A2, { performance: measured(500, 0.6) })];
    expect(reconsider(input({ candidates: all })).kind).toBe('stay');
  });

  it('headers time decides when streams were not measured', () => {
    const headersOnly = (milliseconds: number): PerformanceView => ({ ...UNMEASURED, headersMilliseconds: milliseconds, headersSamples: 5 });
    const candidates = [candidate(A1, { performance: headersOnly(3000) }), candidate(A2, { performance: headersOnly(200) })];
    expect(reconsider(input({ candidates }))).toMatchObject({ kind: 'move', reason: 'latency' });
  });
});

describe('reconsider: usage far above the pool moves warm soft sessions, bounded', () => {
  const hot = [candidate(A1, { health: { usedPercent: 60 } }), candidate(A2, { health: { usedPercent: 10 } }), candidate(B1, { health: { usedPercent: 5 } })];

  it('60% against 10% and 5%: 35 points above the mean, past the 20-point gap', () => {
    expect(usageExcess(hot[0]!, hot)).toBeCloseTo(35, 5);
    expect(reconsider(input({ candidates: hot }))).toEqual({ kind: 'move', reason: 'usage', leave: true, budgeted: true });
  });

  it('a session placed or moved less than minimumDwell ago stays: no thrashing', () => {
    expect(reconsider(input({ candidates: hot, createdAgo: POLICY.minimumDwell - 1 })).kind).toBe('stay');
  });

  it('within the gap nothing moves', () => {
    const near = [candidate(A1, { health: { usedPercent: 40 } }), candidate(A2, { health: { usedPercent: 25 } }), candidate(B1, { health: { usedPercent: 30 } })];
    expect(reconsider(input({ candidates: near })).kind).toBe('stay');
  });

  it('hard sessions are held, not moved, for usage', () => {
    expect(reconsider(input({ mobility: 'domain', candidates: hot }))).toEqual({ kind: 'held', reason: 'usage' });
  });

  it('movesPerMinute 0 turns usage moves off', () => {
    expect(reconsider(input({ candidates: hot, policy: { ...POLICY, movesPerMinute: 0 } })).kind).toBe('stay');
  });
});

describe('degradation, one pass', () => {
  /** The judgement as first written: each account against the others, filter by filter. */
  function reference(own: BalanceCandidate, candidates: readonly BalanceCandidate[]): 'errors' | 'latency' | undefined {
    const others = candidates.filter((other) => other.account.name !== own.account.name && other.usable);
    if (others.length === 0) return undefined;
    const enough = (samples: number) => samples >= POLICY.minimumSamples;
    const ownErrors = own.performance.errorRate;
    if (ownErrors !== undefined && enough(own.performance.outcomeSamples) && ownErrors >= POLICY.errorRate) {
      if (others.some((other) => (other.performance.errorRate ?? 0) < POLICY.errorRate)) return 'errors';
    }
    const measures = [
      (view: PerformanceView) => ({ mean: view.firstEventMilliseconds, samples: view.firstEventSamples }),
      (view: PerformanceView) => ({ mean: view.headersMilliseconds, samples: view.headersSamples }),
    ];
    for (const measure of measures) {
      const { mean, samples } = measure(own.performance);
      let fastest: number | undefined;
      for (const other of others) {
        const seen = measure(other.performance);
        if (seen.mean !== undefined && enough(seen.samples) && (fastest === undefined || seen.mean < fastest)) fastest = seen.mean;
      }
      if (mean !== undefined && enough(samples) && fastest !== undefined && mean - fastest >= POLICY.slowerBy) return 'latency';
    }
    return undefined;
  }

  it('judges every account of any pool as the filter-by-filter judgement does', () => {
    const view = fc.record({
      headersMilliseconds: fc.option(fc.integer({ min: 0, max: 20_000 }), { nil: undefined }),
      headersSamples: fc.double({ min: 0, max: 20, noNaN: true }),
      firstEventMilliseconds: fc.option(fc.integer({ min: 0, max: 20_000 }), { nil: undefined }),
      firstEventSamples: fc.double({ min: 0, max: 20, noNaN: true }),
      errorRate: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
      outcomeSamples: fc.double({ min: 0, max: 20, noNaN: true }),
    });
    const pool = fc.array(fc.tuple(view, fc.boolean()), { minLength: 1, maxLength: 6 }).map((entries) =>
      entries.map(([performance, usable], index) => candidate(account(`a${index}`, `org-${index % 2}`), { performance, usable })),
    );
    fc.assert(
      fc.property(pool, (candidates) => {
        for (const own of candidates) expect(degradation(own, candidates, POLICY)).toBe(reference(own, candidates));
      }),
      { numRuns: 1000 },
    );
  });
});
