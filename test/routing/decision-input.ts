// A decision's input for table-driven tests: three accounts (a1, a2 in org-a; b1 in org-b),
// all healthy, a soft session-header request, overridable field by field.
import type { Account, Pool } from '../../src/accounts/account.js';
import { resolveTenancy } from '../../src/config/tenancy.js';
import { HEALTHY, type AccountHealthView } from '../../src/accounts/health.js';
import { decide, type DecisionInput, type RouteDecision } from '../../src/routing/decide.js';
import type { Candidate } from '../../src/routing/candidate.js';

export const NOW = 1_000_000;
export const POLICY = { failureWindowMilliseconds: 60_000, failureThreshold: 5, nearLimitPercent: 90 };
export const account = (name: string, domain: string, weight = 1, profile: Account['profile'] = 'openai'): Account => ({ name, cluster: `c-${name}`, profile, weight, domain });
export const A1 = account('a1', 'org-a');
export const A2 = account('a2', 'org-a');
export const B1 = account('b1', 'org-b');

export type InputOverrides = Partial<DecisionInput> & { health?: Record<string, Partial<AccountHealthView>>; accounts?: Account[] };

export function decisionInput(overrides: InputOverrides): DecisionInput {
  const accounts = overrides.accounts ?? [A1, A2, B1];
  const pool: Pool = { name: 'default', accounts, tenancy: resolveTenancy(false, {}, {}) };
  const candidates: Candidate[] = accounts.map((entry) => ({ account: entry, health: { ...HEALTHY, ...overrides.health?.[entry.name] } }));
  const { health: _health, accounts: _accounts, ...fields } = overrides;
  return {
    pool,
    candidates,
    context: { now: NOW, policy: POLICY, tieBreaker: (tied) => tied[0]! },
    strength: 'soft',
    stickySource: 'session_header',
    stateSource: undefined,
    placementKey: 'session:key-1',
    anchors: [],
    accountScoped: false,
    accountBoundTransport: false,
    carriesUnknownState: false,
    sessionBinding: undefined,
    parentBinding: undefined,
    exclusion: undefined,
    needs: { required: [], preferred: [] },
    ...fields,
  };
}

export function routeOf(input: DecisionInput): RouteDecision {
  const decision = decide(input);
  if (decision.kind !== 'route') throw new Error(`expected a route, got ${JSON.stringify(decision)}`);
  return decision;
}
