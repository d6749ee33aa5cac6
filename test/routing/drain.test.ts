// A drained account (accounts/operator-state.ts) as decide() sees it: no new session,
// soft sessions move off it, hard sessions stay until they end, and when everything is
// drained the pool still answers.
import { describe, expect, it } from 'vitest';
import type { Account } from '../../src/accounts/account.js';
import { HEALTHY, type AccountHealthView } from '../../src/accounts/health.js';
import type { StoredBinding } from '../../src/bindings/binding.js';
import type { Anchor, DecisionInput } from '../../src/routing/decide.js';
import { moveReason } from '../../src/routing/move-reason.js';
import type { Candidate } from '../../src/routing/candidate.js';
import { A1, account, decisionInput, NOW, POLICY, routeOf } from './decision-input.js';

const binding = (to: Account, strength: StoredBinding['strength']): StoredBinding => ({ account: to.name, domain: to.domain, strength, createdAt: 0, lastSeenAt: 0, version: 1 });

function input(drained: readonly string[], overrides: Partial<DecisionInput> = {}, health: Record<string, AccountHealthView> = {}): DecisionInput {
  const base = decisionInput({ placementKey: 'session:k', health, ...overrides });
  const candidates: Candidate[] = base.candidates.map((candidate) => ({ ...candidate, drained: drained.includes(candidate.account.name) }));
  return { ...base, candidates };
}

const routed = routeOf;

describe('drained accounts in decide()', () => {
  it('a new session is never placed on a drained account (every key whose first choice it is goes elsewhere)', () => {
    let displaced = 0;
    for (let index = 0; index < 300; index++) {
      const key = `session:k${index}`;
      const free = routed(input([], { placementKey: key }));
      const drained = routed(input(['a1'], { placementKey: key }));
      expect(drained.account.name).not.toBe('a1');
      if (free.account.name === 'a1') displaced++;
      // Keys on other accounts stay where they were: a drain moves nothing else.
      else expect(drained.account.name).toBe(free.account.name);
    }
    expect(displaced).toBeGreaterThan(50);
  });

  it('a soft session bound to a drained account moves (a compare-and-set move), and the move reason is "drained"', () => {
    const decisionInput = input(['a1'], { sessionBinding: binding(A1, 'soft') });
    const decision = routed(decisionInput);
    expect(decision.account.name).not.toBe('a1');
    expect([decision.outcome, decision.sessionWrite]).toEqual(['moved', 'move']);
    expect(moveReason(decisionInput.candidates[0], decisionInput.context, decisionInput.needs)).toBe('drained');
  });

  it('a hard session (encrypted content) stays on its drained account; so does one whose anchor names it exactly', () => {
    const hard = routed(input(['a1'], { strength: 'hard', sessionBinding: binding(A1, 'hard') }));
    expect([hard.account.name, hard.outcome]).toEqual(['a1', 'bound']);
    const encrypted: Anchor = { kind: 'encrypted_item', source: 'encrypted_item', binding: binding(A1, 'hard') };
    expect(routed(input(['a1'], { strength: 'hard', anchors: [encrypted] })).account.name).toBe('a1');
    const stored: Anchor = { kind: 'response', source: 'previous_response', binding: binding(A1, 'hard') };
    expect(routed(input(['a1'], { strength: 'hard', anchors: [stored], accountScoped: true })).account.name).toBe('a1');
  });

  it('a soft request of a hard session on a drained account stays in place (its next turn will be hard)', () => {
    expect(routed(input(['a1'], { sessionBinding: binding(A1, 'hard') })).account.name).toBe('a1');
  });

  it('failing over inside a domain: a drained account still takes the state when it is the domain\'s only usable one', () => {
    const cooling = { a1: { ...HEALTHY, coolingDownUntil: NOW + 60_000 } };
    const anchorA1: Anchor = { kind: 'encrypted_item', source: 'encrypted_item', binding: binding(A1, 'hard') };
    const failover = routed(input([], { strength: 'hard', anchors: [anchorA1] }, cooling));
    expect([failover.account.name, failover.outcome]).toEqual(['a2', 'domain_failover']);
    // a2 drained: it is still the only usable account of the domain, so the state goes there rather than nowhere.
    expect(routed(input(['a2'], { strength: 'hard', anchors: [anchorA1] }, cooling)).account.name).toBe('a2');
  });

  it('everything drained: new sessions are still placed (among the usable accounts), not refused', () => {
    const decision = routed(input(['a1', 'a2', 'b1']));
    expect(['a1', 'a2', 'b1']).toContain(decision.account.name);
    const cooling = { a1: { ...HEALTHY, coolingDownUntil: NOW + 60_000 }, a2: { ...HEALTHY, coolingDownUntil: NOW + 60_000 } };
    expect(routed(input(['a1', 'a2', 'b1'], {}, cooling)).account.name).toBe('b1');
  });
});

describe('moveReason', () => {
  const context = { now: NOW, policy: POLICY, tieBreaker: (tied: readonly Account[]) => tied[0]! };
  const needs = { required: [], preferred: [] };
  const candidate = (health: Partial<AccountHealthView>, drained = false, profile: Account['profile'] = 'openai'): Candidate => ({
    account: account('x', 'd', 1, profile),
    health: { ...HEALTHY, ...health },
    drained,
  });
  it('names the strongest reason an account was left', () => {
    expect(moveReason(undefined, context, needs)).toBe('not_configured');
    expect(moveReason(candidate({ coolingDownUntil: NOW + 1 }, true), context, needs)).toBe('drained');
    expect(moveReason(candidate({ coolingDownUntil: NOW + 1, credentialFailedUntil: NOW + 1 }), context, needs)).toBe('cooling_down');
    expect(moveReason(candidate({ credentialFailedUntil: NOW + 1, recentFailures: 9 }), context, needs)).toBe('credential_failed');
    expect(moveReason(candidate({ recentFailures: 9 }), context, needs)).toBe('unhealthy');
    expect(moveReason(candidate({}, false, 'chatgpt-codex'), context, { required: ['stored_responses'], preferred: [] })).toBe('capability');
    expect(moveReason(candidate({ coolingDownUntil: NOW - 1 }), context, needs)).toBe('preference');
  });
});
