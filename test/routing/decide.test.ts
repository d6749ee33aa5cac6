import { describe, expect, it } from 'vitest';
import type { Account, Pool } from '../../src/accounts/account.js';
import { HEALTHY, type AccountHealthView } from '../../src/accounts/health.js';
import type { Binding } from '../../src/bindings/binding.js';
import { decide, type DecisionInput } from '../../src/routing/decide.js';
import { createWeightedRoundRobin, selectNewAccount, type Candidate } from '../../src/routing/select.js';

const NOW = 1_000_000;
const account = (name: string, domain: string, weight = 1): Account => ({ name, cluster: `c-${name}`, profile: 'openai', weight, domain });
const A1 = account('a1', 'org-a');
const A2 = account('a2', 'org-a');
const B1 = account('b1', 'org-b');
const healthy: AccountHealthView = HEALTHY;
const cooling: AccountHealthView = { ...healthy, coolingDownUntil: NOW + 60_000 };
const failing: AccountHealthView = { ...healthy, recentFailures: 10 };
const binding = (to: Account, strength: Binding['strength'] = 'soft'): Binding => ({ account: to.name, domain: to.domain, strength, createdAt: 0, lastSeenAt: 0 });

function input(overrides: Partial<DecisionInput> & { health?: Record<string, AccountHealthView>; accounts?: Account[] }): DecisionInput {
  const accounts = overrides.accounts ?? [A1, A2, B1];
  const pool: Pool = { name: 'default', accounts };
  const candidates: Candidate[] = accounts.map((entry) => ({ account: entry, health: overrides.health?.[entry.name] ?? healthy }));
  return {
    pool,
    candidates,
    context: { now: NOW, policy: { failureWindowMilliseconds: 60_000, failureThreshold: 5, nearLimitPercent: 90 }, tieBreaker: (tied) => tied[0]! },
    strength: 'soft',
    stickySource: 'session_header',
    anchors: [],
    sessionBinding: undefined,
    parentBinding: undefined,
    ...overrides,
  };
}

const routeOf = (decisionInput: DecisionInput) => {
  const decision = decide(decisionInput);
  if (decision.kind !== 'route') throw new Error(`expected a route, got ${JSON.stringify(decision)}`);
  return decision;
};

describe('decide: new sessions', () => {
  it('creates a binding on the least loaded usable account', () => {
    const decision = routeOf(input({ health: { a1: { ...healthy, inFlight: 3 }, a2: cooling, b1: { ...healthy, inFlight: 1 } } }));
    expect([decision.account.name, decision.outcome, decision.sessionWrite]).toEqual(['b1', 'new', 'create']);
  });

  it('without a sticky key routes per request and writes nothing', () => {
    const decision = routeOf(input({ stickySource: undefined, strength: 'none' }));
    expect([decision.outcome, decision.sessionWrite, decision.source]).toEqual(['unbound', 'none', 'none']);
  });

  it('when nothing is usable still routes (the upstream answers), never fails', () => {
    const decision = routeOf(input({ health: { a1: cooling, a2: failing, b1: cooling } }));
    expect(['a1', 'a2', 'b1']).toContain(decision.account.name);
  });

  it('rejects with 503 when the pool has no accounts', () => {
    expect(decide(input({ accounts: [] }))).toMatchObject({ kind: 'reject', status: 503, code: 'no_accounts' });
  });
});

describe('decide: soft sessions', () => {
  it('stay on their account while it is usable', () => {
    expect(routeOf(input({ sessionBinding: binding(B1), health: { b1: { ...healthy, inFlight: 50 } } })).account.name).toBe('b1');
  });

  it.each([['cooling down', cooling], ['unhealthy', failing]])('move off an account that is %s and are rebound', (_name, state) => {
    const decision = routeOf(input({ sessionBinding: binding(B1), health: { b1: state } }));
    expect(decision.account.name).not.toBe('b1');
    expect([decision.outcome, decision.sessionWrite]).toEqual(['moved', 'put']);
  });
});

describe('decide: hard sessions', () => {
  it('always honour their binding while the account is usable', () => {
    const decision = routeOf(input({ strength: 'hard', sessionBinding: binding(B1, 'hard'), health: { b1: { ...healthy, inFlight: 99 } } }));
    expect([decision.account.name, decision.outcome, decision.sessionWrite]).toEqual(['b1', 'bound', 'none']);
  });

  it('upgrade a soft binding to hard when the request carries account-bound state', () => {
    const decision = routeOf(input({ strength: 'hard', sessionBinding: binding(B1, 'soft') }));
    expect([decision.account.name, decision.strength, decision.sessionWrite]).toEqual(['b1', 'hard', 'put']);
  });

  it('fail over inside their domain when their account cools down', () => {
    const decision = routeOf(input({ strength: 'hard', sessionBinding: binding(A1, 'hard'), health: { a1: cooling } }));
    expect([decision.account.name, decision.outcome]).toEqual(['a2', 'domain_failover']);
  });

  it('never leave their domain: with the whole domain cooling they stay on their own account', () => {
    const decision = routeOf(input({ strength: 'hard', sessionBinding: binding(A1, 'hard'), health: { a1: cooling, a2: cooling } }));
    expect(decision.account.name).toBe('a1');
  });

  it('a hard binding stays hard even for a soft request, and in its domain', () => {
    const decision = routeOf(input({ strength: 'soft', sessionBinding: binding(B1, 'hard'), health: { b1: cooling } }));
    expect(decision.account.name).toBe('b1');
  });

  it('are rejected with 409 when no account of their domain is configured any more', () => {
    const decision = decide(input({ strength: 'hard', sessionBinding: binding(account('gone', 'org-gone'), 'hard') }));
    expect(decision).toMatchObject({ kind: 'reject', status: 409, code: 'account_domain_unavailable' });
  });

  it('whose account was removed go to another account of the same domain', () => {
    const decision = routeOf(input({ strength: 'hard', sessionBinding: binding(account('a9', 'org-a'), 'hard') }));
    expect(decision.account.domain).toBe('org-a');
  });
});

describe('decide: anchors (turn-state tokens, previous_response_id, encrypted items)', () => {
  it('a turn-state token wins over a disagreeing session binding, which follows it', () => {
    const decision = routeOf(input({ anchors: [{ source: 'turn_state', binding: binding(B1, 'hard'), exactAccount: true }], sessionBinding: binding(A1) }));
    expect([decision.account.name, decision.source, decision.strength, decision.anchorConflict, decision.sessionWrite]).toEqual(['b1', 'turn_state', 'hard', true, 'put']);
  });

  it('a turn-state token stays on its exact account even while it cools down', () => {
    const decision = routeOf(input({ anchors: [{ source: 'turn_state', binding: binding(A1, 'hard'), exactAccount: true }], health: { a1: cooling } }));
    expect(decision.account.name).toBe('a1');
  });

  it('previous_response_id may fail over inside its domain', () => {
    const decision = routeOf(input({ stickySource: undefined, anchors: [{ source: 'previous_response', binding: binding(A1, 'hard'), exactAccount: false }], health: { a1: cooling } }));
    expect([decision.account.name, decision.sessionWrite]).toEqual(['a2', 'none']);
  });
});

describe('decide: sub-agent threads', () => {
  it('start on the parent account when usable', () => {
    const decision = routeOf(input({ parentBinding: binding(B1), health: { b1: { ...healthy, inFlight: 9 } } }));
    expect([decision.account.name, decision.outcome]).toEqual(['b1', 'parent']);
  });

  it('else inside the parent domain', () => {
    expect(routeOf(input({ parentBinding: binding(A1), health: { a1: cooling, b1: healthy } })).account.name).toBe('a2');
  });

  it('else by normal selection', () => {
    const decision = routeOf(input({ parentBinding: binding(A1), health: { a1: cooling, a2: cooling } }));
    expect([decision.account.name, decision.outcome]).toEqual(['b1', 'new']);
  });
});

describe('selection', () => {
  it('spreads ties in proportion to weight (smooth weighted round robin)', () => {
    const heavy = account('heavy', 'x', 3);
    const light = account('light', 'y', 1);
    const tieBreaker = createWeightedRoundRobin();
    const counts = new Map<string, number>();
    for (let round = 0; round < 400; round++) {
      const chosen = tieBreaker([heavy, light]);
      counts.set(chosen.name, (counts.get(chosen.name) ?? 0) + 1);
    }
    expect(counts.get('heavy')).toBe(300);
    expect(counts.get('light')).toBe(100);
  });

  it('prefers lower load per weight', () => {
    const candidates: Candidate[] = [
      { account: account('big', 'x', 4), health: { ...healthy, inFlight: 3 } },
      { account: account('small', 'y', 1), health: { ...healthy, inFlight: 1 } },
    ];
    const chosen = selectNewAccount(candidates, { now: NOW, policy: { failureWindowMilliseconds: 1, failureThreshold: 5, nearLimitPercent: 90 }, tieBreaker: (tied) => tied[0]! });
    expect(chosen?.name).toBe('big');
  });
});

describe('decide: agreeing anchors', () => {
  it('an encrypted item that agrees with the session binding leaves the session key as the source', () => {
    const decision = routeOf(input({ strength: 'hard', anchors: [{ source: 'encrypted_item', binding: binding(B1, 'hard'), exactAccount: false }], sessionBinding: binding(B1, 'hard') }));
    expect([decision.account.name, decision.source, decision.anchorConflict]).toEqual(['b1', 'session_header', false]);
  });
});
