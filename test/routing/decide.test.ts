import { describe, expect, it } from 'vitest';
import type { Account } from '../../src/accounts/account.js';
import { HEALTHY, type AccountHealthView } from '../../src/accounts/health.js';
import type { Exclusion, StoredBinding } from '../../src/bindings/binding.js';
import { decide, type Anchor } from '../../src/routing/decide.js';
import { placementOrder } from '../../src/routing/placement.js';
import type { Candidate } from '../../src/routing/candidate.js';
import { createWeightedRoundRobin, pickLeastLoaded } from '../../src/routing/select.js';
import { A1, A2, account, B1, decisionInput, NOW, POLICY, routeOf } from './decision-input.js';

const CODEX = account('codex', 'ws-c', 1, 'chatgpt-codex');
const healthy: AccountHealthView = HEALTHY;
const cooling: AccountHealthView = { ...healthy, coolingDownUntil: NOW + 60_000 };
const failing: AccountHealthView = { ...healthy, recentFailures: 10 };
const binding = (to: Account, strength: StoredBinding['strength'] = 'soft', version = 1): StoredBinding => ({ account: to.name, domain: to.domain, strength, createdAt: 0, lastSeenAt: 0, version });
const anchor = (kind: Anchor['kind'], to: Account): Anchor => ({
  kind,
  source: ({ turn_state: 'turn_state', conversation: 'conversation', response: 'previous_response', stored_item: 'stored_item', encrypted_item: 'encrypted_item' } as const)[kind],
  binding: binding(to, 'hard'),
});
const input = decisionInput;

/** The account rendezvous placement ranks first for a key among these candidates. */
const firstChoice = (key: string, accounts: Account[]) => placementOrder(key, accounts.map((entry) => ({ account: entry, health: healthy })), POLICY)[0]!.account.name;

describe('decide: new sessions are placed by rendezvous hashing', () => {
  it('the same key lands on the same account whatever the load: replicas and restarts agree', () => {
    for (let index = 0; index < 50; index++) {
      const key = `session:k${index}`;
      const busy = routeOf(input({ placementKey: key, health: { a1: { ...healthy, inFlight: 40 }, b1: { ...healthy, inFlight: 7 } } }));
      const idle = routeOf(input({ placementKey: key }));
      expect(busy.account.name).toBe(idle.account.name);
      expect(idle.account.name).toBe(firstChoice(key, [A1, A2, B1]));
      expect([idle.outcome, idle.sessionWrite, idle.hardenOnSuccess]).toEqual(['new', 'create', false]);
    }
  });

  it('spreads keys in proportion to weight', () => {
    const heavy = account('heavy', 'x', 3);
    const light = account('light', 'y', 1);
    const counts = new Map<string, number>();
    for (let index = 0; index < 4000; index++) {
      const chosen = routeOf(input({ accounts: [heavy, light], placementKey: `session:${index}` })).account.name;
      counts.set(chosen, (counts.get(chosen) ?? 0) + 1);
    }
    expect(counts.get('heavy')! / 4000).toBeGreaterThan(0.7);
    expect(counts.get('heavy')! / 4000).toBeLessThan(0.8);
  });

  it('skips cooling and failing accounts, and a removed account moves only its own keys', () => {
    const keys = Array.from({ length: 200 }, (_, index) => `session:m${index}`);
    for (const key of keys) {
      const before = routeOf(input({ placementKey: key })).account.name;
      const withoutA2 = routeOf(input({ placementKey: key, health: { a2: cooling } })).account.name;
      expect(withoutA2).not.toBe('a2');
      if (before !== 'a2') expect(withoutA2).toBe(before);
      expect(routeOf(input({ placementKey: key, health: { b1: failing } })).account.name).not.toBe('b1');
    }
  });

  it('without a sticky key routes per request by load and writes nothing', () => {
    const decision = routeOf(input({ stickySource: undefined, placementKey: undefined, strength: 'none', health: { a1: { ...healthy, inFlight: 3 }, a2: { ...healthy, inFlight: 2 } } }));
    expect([decision.account.name, decision.outcome, decision.sessionWrite, decision.source]).toEqual(['b1', 'unbound', 'none', 'none']);
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
  it('stay on their account while it is usable, whatever placement would say', () => {
    expect(routeOf(input({ sessionBinding: binding(B1), health: { b1: { ...healthy, inFlight: 50 } } })).account.name).toBe('b1');
  });

  it.each([['cooling down', cooling], ['unhealthy', failing]])('move off an account that is %s with a compare-and-set', (_name, state) => {
    const decision = routeOf(input({ sessionBinding: binding(B1), health: { b1: state } }));
    expect(decision.account.name).not.toBe('b1');
    expect([decision.outcome, decision.sessionWrite]).toEqual(['moved', 'move']);
  });

  it('a content seed never asks for a hard binding, even for a request carrying encrypted content', () => {
    const decision = routeOf(input({ stickySource: 'content_seed', strength: 'hard', anchors: [anchor('encrypted_item', B1)], sessionBinding: binding(B1) }));
    expect([decision.account.name, decision.hardenOnSuccess]).toEqual(['b1', false]);
    // A stranger opening the same way, soft, moves off the seed's cooling account.
    const stranger = routeOf(input({ stickySource: 'content_seed', sessionBinding: binding(B1), health: { b1: cooling } }));
    expect([stranger.outcome, stranger.sessionWrite]).toEqual(['moved', 'move']);
    expect(stranger.account.name).not.toBe('b1');
  });
});

describe('decide: hard requests never harden a guess', () => {
  it('a soft binding and a hard request: routed to the session account, made hard only by a 2xx', () => {
    const decision = routeOf(input({ strength: 'hard', sessionBinding: binding(B1, 'soft') }));
    expect([decision.account.name, decision.strength, decision.sessionWrite, decision.hardenOnSuccess, decision.orphan]).toEqual(['b1', 'hard', 'none', true, true]);
  });

  it('an orphan (no binding, no anchor) is placed by rendezvous, writes nothing and is proved later', () => {
    for (let index = 0; index < 30; index++) {
      const key = `session:o${index}`;
      const decision = routeOf(input({ strength: 'hard', placementKey: key, health: { a1: { ...healthy, inFlight: 9 } } }));
      expect([decision.account.name, decision.outcome, decision.sessionWrite, decision.orphan, decision.hardenOnSuccess]).toEqual([firstChoice(key, [A1, A2, B1]), 'orphan', 'none', true, true]);
    }
  });

  it('an orphan skips what refused it: excluded domains, then excluded accounts; never stuck', () => {
    const key = 'session:x';
    const exclusion = (domains: string[], accounts: string[] = []): Exclusion => ({ domains, accounts });
    expect(routeOf(input({ strength: 'hard', placementKey: key, exclusion: exclusion(['org-a']) })).account.name).toBe('b1');
    expect(routeOf(input({ strength: 'hard', placementKey: key, exclusion: exclusion(['org-b'], ['a1']) })).account.name).toBe('a2');
    // Everything refused: no account here can read it, and the client is told so (409, healable).
    expect(decide(input({ strength: 'hard', placementKey: key, exclusion: exclusion(['org-a', 'org-b']) }))).toMatchObject({ kind: 'reject', status: 409, code: 'account_domain_unavailable' });
  });

  it('an orphan with a soft session binding guesses the session’s own place: its account for stored objects, its domain for encrypted content', () => {
    const stored = routeOf(input({ strength: 'hard', accountScoped: true, sessionBinding: binding(A1), health: { a1: cooling } }));
    expect([stored.account.name, stored.orphan]).toEqual(['a1', true]);
    const encrypted = routeOf(input({ strength: 'hard', sessionBinding: binding(A1), health: { a1: cooling } }));
    expect([encrypted.account.name, encrypted.orphan]).toEqual(['a2', true]);
  });

  it('an orphan prefers usable accounts, and takes a cooling one only when nothing else is left', () => {
    const decision = routeOf(input({ strength: 'hard', exclusion: { domains: ['org-b'], accounts: [] }, health: { a1: cooling } }));
    expect(decision.account.name).toBe('a2');
    expect(routeOf(input({ strength: 'hard', exclusion: { domains: ['org-a'], accounts: [] }, health: { b1: cooling } })).account.name).toBe('b1');
  });
});

describe('decide: owner scopes', () => {
  it('encrypted content fails over inside its domain when its account cools down', () => {
    const decision = routeOf(input({ strength: 'hard', anchors: [anchor('encrypted_item', A1)], health: { a1: cooling } }));
    expect([decision.account.name, decision.outcome]).toEqual(['a2', 'domain_failover']);
  });

  it('encrypted content never leaves its domain: with the whole domain cooling it stays on its own account', () => {
    expect(routeOf(input({ strength: 'hard', anchors: [anchor('encrypted_item', A1)], health: { a1: cooling, a2: cooling } })).account.name).toBe('a1');
  });

  it.each([['response'], ['stored_item'], ['conversation'], ['turn_state']] as const)('a %s stays on its exact account even while it cools down', (kind) => {
    const decision = routeOf(input({ strength: 'hard', accountScoped: true, anchors: [anchor(kind, A1)], health: { a1: cooling } }));
    expect([decision.account.name, decision.outcome]).toEqual(['a1', 'bound']);
  });

  it('a stored object outranks encrypted content of another account', () => {
    const decision = routeOf(input({ strength: 'hard', accountScoped: true, anchors: [anchor('response', A2), anchor('encrypted_item', A1)] }));
    expect(decision.account.name).toBe('a2');
  });

  it('a turn-state token wins over a disagreeing session binding; the binding changes only on proof', () => {
    const decision = routeOf(input({ strength: 'hard', accountScoped: true, anchors: [anchor('turn_state', B1)], sessionBinding: binding(A1) }));
    expect([decision.account.name, decision.source, decision.strength, decision.anchorConflict, decision.sessionWrite, decision.hardenOnSuccess]).toEqual(['b1', 'turn_state', 'hard', true, 'none', true]);
  });

  it('an agreeing encrypted item leaves the session key as the reported source', () => {
    const decision = routeOf(input({ strength: 'hard', anchors: [anchor('encrypted_item', B1)], sessionBinding: binding(B1, 'hard') }));
    expect([decision.account.name, decision.source, decision.anchorConflict, decision.hardenOnSuccess]).toEqual(['b1', 'session_header', false, false]);
  });

  it('a hard session binding whose anchors are gone: encrypted content fails over in the domain, stored state does not', () => {
    expect(routeOf(input({ strength: 'hard', sessionBinding: binding(A1, 'hard'), health: { a1: cooling } })).account.name).toBe('a2');
    expect(routeOf(input({ strength: 'hard', accountScoped: true, sessionBinding: binding(A1, 'hard'), health: { a1: cooling } })).account.name).toBe('a1');
  });

  it('a soft request of a hard session stays in the domain and writes nothing', () => {
    const decision = routeOf(input({ strength: 'soft', sessionBinding: binding(B1, 'hard'), health: { b1: cooling } }));
    expect([decision.account.name, decision.sessionWrite]).toEqual(['b1', 'none']);
  });

  it('state whose account is no longer configured is refused with 409 (exact) or kept in the domain (encrypted)', () => {
    const gone = account('gone', 'org-gone');
    expect(decide(input({ strength: 'hard', anchors: [anchor('encrypted_item', gone)] }))).toMatchObject({ kind: 'reject', status: 409, code: 'account_domain_unavailable' });
    expect(decide(input({ strength: 'hard', accountScoped: true, anchors: [anchor('response', account('a9', 'org-a'))] }))).toMatchObject({ kind: 'reject', status: 409 });
    expect(routeOf(input({ strength: 'hard', anchors: [anchor('encrypted_item', account('a9', 'org-a'))] })).account.domain).toBe('org-a');
  });
});

describe('decide: review findings', () => {
  it('a hard session carrying state the store never learned is an orphan: a refusal moves its next try', () => {
    const first = routeOf(input({ strength: 'hard', accountScoped: true, carriesUnknownState: true, sessionBinding: binding(A1, 'hard') }));
    expect([first.account.name, first.outcome, first.orphan]).toEqual(['a1', 'orphan', true]);
    const next = routeOf(input({ strength: 'hard', accountScoped: true, carriesUnknownState: true, sessionBinding: binding(A1, 'hard'), exclusion: { domains: [], accounts: ['a1'] } }));
    expect([next.account.name === 'a1', next.orphan]).toEqual([false, true]);
  });

  it('a WebSocket reconnect of a proved session is bound, not an orphan', () => {
    const decision = routeOf(input({ strength: 'soft', accountBoundTransport: true, sessionBinding: binding(B1, 'hard'), health: { b1: cooling } }));
    expect([decision.account.name, decision.outcome, decision.strength]).toEqual(['b1', 'bound', 'hard']);
  });

  it('a request needing stored state never reaches a ChatGPT Codex account, whatever the session binding says', () => {
    const mixed = [A1, B1, CODEX];
    const needs = { required: ['previous_response' as const], preferred: [] };
    const decision = routeOf(input({ accounts: mixed, strength: 'hard', accountScoped: true, carriesUnknownState: true, needs, sessionBinding: binding(CODEX, 'hard') }));
    expect(decision.account.profile).toBe('openai');
    expect(decide(input({ accounts: mixed, strength: 'hard', accountScoped: true, needs, anchors: [anchor('turn_state', CODEX)] }))).toMatchObject({ kind: 'reject', status: 400, code: 'capability_unavailable' });
  });

  it('a soft request its hard session’s account cannot serve goes elsewhere without touching the binding', () => {
    const decision = routeOf(input({ accounts: [A1, B1, CODEX], sessionBinding: binding(CODEX, 'hard'), needs: { required: ['background'], preferred: [] } }));
    expect([decision.account.profile, decision.sessionWrite]).toEqual(['openai', 'none']);
  });
});

describe('decide: capabilities per profile', () => {
  const mixed = [A1, B1, CODEX];

  it('requests that need stored state go only to accounts that keep it', () => {
    for (let index = 0; index < 40; index++) {
      const decision = routeOf(input({ accounts: mixed, strength: 'hard', placementKey: `response:r${index}`, needs: { required: ['previous_response'], preferred: [] } }));
      expect(decision.account.profile).toBe('openai');
    }
  });

  it('with no capable account in the pool: a clear 400 naming what is missing', () => {
    const decision = decide(input({ accounts: [CODEX], strength: 'hard', needs: { required: ['conversations'], preferred: [] } }));
    expect(decision).toMatchObject({ kind: 'reject', status: 400, code: 'capability_unavailable' });
    expect(decision.kind === 'reject' && decision.message).toContain('conversation');
  });

  it('store true (or absent) prefers storing accounts, and falls back to any when none is usable', () => {
    for (let index = 0; index < 40; index++) {
      expect(routeOf(input({ accounts: mixed, placementKey: `session:s${index}`, needs: { required: [], preferred: ['stored_responses'] } })).account.profile).toBe('openai');
    }
    expect(routeOf(input({ accounts: mixed, needs: { required: [], preferred: ['stored_responses'] }, health: { a1: cooling, b1: cooling } })).account.name).toBe('codex');
  });

  it('a soft session bound to a non-storing account moves when it starts asking for storage', () => {
    const decision = routeOf(input({ accounts: mixed, sessionBinding: binding(CODEX), needs: { required: [], preferred: ['stored_responses'] } }));
    expect([decision.account.profile, decision.sessionWrite]).toEqual(['openai', 'move']);
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

  it('else by normal placement', () => {
    const decision = routeOf(input({ parentBinding: binding(A1), health: { a1: cooling, a2: cooling } }));
    expect([decision.account.name, decision.outcome]).toEqual(['b1', 'new']);
  });
});

describe('selection for requests without a key', () => {
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
    const chosen = pickLeastLoaded(candidates, { now: NOW, policy: { failureWindowMilliseconds: 1, failureThreshold: 5, nearLimitPercent: 90 }, tieBreaker: (tied) => tied[0]! });
    expect(chosen?.name).toBe('big');
  });
});
