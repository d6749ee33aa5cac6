import { describe, expect, it } from 'vitest';
import type { Account } from '../../src/accounts/account.js';
import type { AccountHealthView } from '../../src/accounts/health.js';
import type { StoredBinding } from '../../src/bindings/binding.js';
import type { Anchor, DecisionInput } from '../../src/routing/decide.js';
import { headroomShare } from '../../src/routing/placement.js';
import { A1, A2, B1, decisionInput, NOW, routeOf } from './decision-input.js';

const binding = (to: Account, strength: StoredBinding['strength']): StoredBinding => ({ account: to.name, domain: to.domain, strength, createdAt: 0, lastSeenAt: 0, version: 1 });
const encryptedAnchor = (to: Account): Anchor => ({ kind: 'encrypted_item', source: 'encrypted_item', binding: binding(to, 'hard') });
const KEYS = Array.from({ length: 200 }, (_, index) => `session:key-${index}`);
const input = decisionInput;

const IDLE = { reason: 'idle', leave: false, salt: '0' } as const;
const HOT_A1 = { a1: { usedPercent: 80 } };

describe('placement prefers usage-window headroom', () => {
  it('the weight share is the headroom to the fourth power, with a floor', () => {
    expect([headroomShare(0), headroomShare(60), headroomShare(100)]).toEqual([1, expect.closeTo(0.0256, 9), 0.01]);
  });

  it('new sessions mostly avoid an account at 80% while the others are empty', () => {
    const onHot = KEYS.filter((placementKey) => routeOf(input({ placementKey, health: HOT_A1 })).account === A1).length;
    expect(onHot).toBeLessThan(KEYS.length * 0.06);
    expect(onHot).toBeGreaterThan(0);
  });
});

describe('placement stays replica-consistent while readings differ a little', () => {
  it('usage readings a few points apart (inside one 10-point step) place every session alike', () => {
    const one = KEYS.map((placementKey) => routeOf(input({ placementKey, health: { a1: { usedPercent: 31 }, a2: { usedPercent: 12 } } })).account.name);
    const two = KEYS.map((placementKey) => routeOf(input({ placementKey, health: { a1: { usedPercent: 38.5 }, a2: { usedPercent: 19 } } })).account.name);
    expect(two).toEqual(one);
  });

  it('per-minute budgets never move placement; they steer per-request choices only', () => {
    const calm = KEYS.map((placementKey) => routeOf(input({ placementKey })).account.name);
    const busy = KEYS.map((placementKey) => routeOf(input({ placementKey, health: { a1: { budgetUsedPercent: 95 } } })).account.name);
    expect(busy).toEqual(calm);
    const unbound = routeOf(input({ stickySource: undefined, placementKey: undefined, health: { a1: { budgetUsedPercent: 95 }, a2: { inFlight: 1 } } }));
    expect(unbound.account).toBe(B1);
  });
});

describe('decide with balancing: soft sessions', () => {
  it('an idle soft session is re-chosen by placement: it drifts to headroom, outcome moved with reason idle', () => {
    const decisions = KEYS.map((placementKey) => routeOf(input({ placementKey, sessionBinding: binding(A1, 'soft'), rebalance: IDLE, health: HOT_A1 })));
    const moved = decisions.filter((decision) => decision.outcome === 'moved');
    expect(moved.length).toBeGreaterThan(KEYS.length * 0.9);
    for (const decision of moved) expect([decision.moveReason, decision.sessionWrite, decision.sessionWriteStrength, decision.account === A1]).toEqual(['idle', 'move', 'soft', false]);
  });

  it('an idle re-choice that lands on its own account is no move', () => {
    const decision = routeOf(input({ sessionBinding: binding(A1, 'soft'), rebalance: IDLE, health: { a2: { coolingDownUntil: NOW + 1 }, b1: { coolingDownUntil: NOW + 1 } } }));
    expect([decision.account, decision.outcome, decision.moveReason, decision.sessionWrite]).toEqual([A1, 'bound', undefined, 'none']);
  });

  it('leave: the own account is never the choice; with nowhere usable to go, it stays', () => {
    for (const placementKey of KEYS.slice(0, 50)) {
      expect(routeOf(input({ placementKey, sessionBinding: binding(A1, 'soft'), rebalance: { reason: 'latency', leave: true, salt: '0' } })).account).not.toBe(A1);
    }
    const stuck = routeOf(input({ sessionBinding: binding(A1, 'soft'), rebalance: { reason: 'latency', leave: true, salt: '0' }, health: { a2: { coolingDownUntil: NOW + 1 }, b1: { recentFailures: 9 } } }));
    expect([stuck.account, stuck.outcome]).toEqual([A1, 'bound']);
  });

  it('no advice: a soft session on a usable account stays, as before', () => {
    expect(routeOf(input({ sessionBinding: binding(A1, 'soft'), health: HOT_A1 })).outcome).toBe('bound');
  });

  it('its account cooling down: moved with reason cooling_down; failing: reason unhealthy (routing/move-reason.ts)', () => {
    expect(routeOf(input({ sessionBinding: binding(A1, 'soft'), health: { a1: { coolingDownUntil: NOW + 1 } } })).moveReason).toBe('cooling_down');
    expect(routeOf(input({ sessionBinding: binding(A1, 'soft'), health: { a1: { recentFailures: 9 } } })).moveReason).toBe('unhealthy');
  });

  it('degraded accounts get no new sessions while another is usable', () => {
    for (const placementKey of KEYS.slice(0, 50)) expect(routeOf(input({ placementKey, degraded: new Set(['a1', 'b1']) })).account).toBe(A2);
  });
});

describe('decide with balancing: encrypted content moves only inside its domain', () => {
  const hardSession = (placementKey: string, extra: Partial<DecisionInput> & { health?: Record<string, Partial<AccountHealthView>> } = {}) =>
    routeOf(input({ placementKey, strength: 'hard', anchors: [encryptedAnchor(A1)], sessionBinding: binding(A1, 'hard'), rebalance: IDLE, health: HOT_A1, ...extra }));

  it('idle past its cache: moves to the other account of its domain, binding written hard there, never to another domain', () => {
    const decisions = KEYS.map((placementKey) => hardSession(placementKey));
    expect(decisions.some((decision) => decision.account === A2)).toBe(true);
    for (const decision of decisions) {
      expect(decision.account.domain).toBe('org-a');
      if (decision.account === A2) expect([decision.outcome, decision.sessionWrite, decision.sessionWriteStrength, decision.moveReason]).toEqual(['moved', 'move', 'hard', 'idle']);
      else expect([decision.outcome, decision.sessionWrite]).toEqual(['bound', 'none']);
    }
  });

  it('even when the only account with headroom is in another domain', () => {
    for (const placementKey of KEYS) {
      expect(hardSession(placementKey, { health: { a1: { usedPercent: 99 }, a2: { usedPercent: 99 } } }).account.domain).toBe('org-a');
    }
  });

  it('stored objects or a turn-state token (account-scoped): never moves', () => {
    for (const placementKey of KEYS) {
      const decision = hardSession(placementKey, { accountScoped: true });
      expect([decision.account, decision.sessionWrite]).toEqual([A1, 'none']);
    }
  });

  it('a WebSocket session (account-bound transport): never moves', () => {
    for (const placementKey of KEYS.slice(0, 50)) expect(hardSession(placementKey, { accountBoundTransport: true }).account).toBe(A1);
  });

  it('soft-off stickiness leaves hard sessions pinned', () => {
    for (const placementKey of KEYS.slice(0, 50)) {
      const decision = routeOf(input({ placementKey, strength: 'hard', anchors: [encryptedAnchor(A1)], sessionBinding: binding(A1, 'hard'), spreadSoft: true, health: HOT_A1 }));
      expect(decision.account).toBe(A1);
    }
  });
});

describe('decide with soft-off stickiness', () => {
  it('a soft session goes to the least loaded account by weight and headroom, whatever its binding', () => {
    const health = { a1: { inFlight: 5 }, a2: { inFlight: 0, usedPercent: 50 }, b1: { inFlight: 1 } };
    const decision = routeOf(input({ sessionBinding: binding(A1, 'soft'), spreadSoft: true, health }));
    // a2: 1 / 0.25 = 4; b1: 2 / 1 = 2; a1: 6.
    expect([decision.account, decision.outcome, decision.moveReason]).toEqual([B1, 'moved', 'operator']);
  });

  it('a new session too', () => {
    expect(routeOf(input({ spreadSoft: true, health: { a1: { inFlight: 3 }, a2: { inFlight: 3 } } })).account).toBe(B1);
  });
});
