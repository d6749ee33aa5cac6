import type { Account, Pool } from '../accounts/account.js';
import type { Binding, Strength } from '../bindings/binding.js';
import type { SignalSource } from '../signals/signals.js';
import type { Candidate, SelectionContext } from './select.js';
import { inDomain, pickLeastLoaded, selectNewAccount, usableAt } from './select.js';

/** A binding that names the account holding the request's state outright. */
export interface Anchor {
  readonly source: SignalSource;
  readonly binding: Binding;
  /**
   * Turn-state tokens are the issuing account's own routing state: they stay on
   * that exact account while it is configured, even when it cools down.
   */
  readonly exactAccount: boolean;
}

export interface DecisionInput {
  readonly pool: Pool;
  /** Every pool account with its state. */
  readonly candidates: readonly Candidate[];
  readonly context: SelectionContext;
  readonly strength: Strength;
  /** Source of the session key, when the request has one. */
  readonly stickySource: SignalSource | undefined;
  /** Account facts in precedence order (turn-state token, previous_response_id, encrypted item). */
  readonly anchors: readonly Anchor[];
  readonly sessionBinding: Binding | undefined;
  readonly parentBinding: Binding | undefined;
}

export type Outcome =
  /** followed an existing binding or anchor */
  | 'bound'
  /** hard session, own account unusable: another account of the same domain */
  | 'domain_failover'
  /** soft session moved off an unusable account */
  | 'moved'
  /** new session, new binding */
  | 'new'
  /** sub-agent thread started beside its parent */
  | 'parent'
  /** no sticky key: chosen per request */
  | 'unbound';

export interface RouteDecision {
  readonly kind: 'route';
  readonly account: Account;
  readonly strength: Strength;
  readonly source: SignalSource | 'none';
  readonly outcome: Outcome;
  /** What to write for the session key: nothing, create-if-absent, or overwrite. */
  readonly sessionWrite: 'none' | 'create' | 'put';
  /** A turn-state / response anchor disagreed with the session's binding. */
  readonly anchorConflict: boolean;
}

export interface RejectDecision {
  readonly kind: 'reject';
  readonly status: number;
  readonly code: 'account_domain_unavailable' | 'no_accounts';
  readonly message: string;
  readonly strength: Strength;
  readonly source: SignalSource | 'none';
}

export type Decision = RouteDecision | RejectDecision;

function findCandidate(candidates: readonly Candidate[], name: string): Candidate | undefined {
  return candidates.find((candidate) => candidate.account.name === name);
}

/**
 * Where a request bound to `binding`'s account goes: that account while usable,
 * else a usable account of its domain, else the account itself (the client sees
 * the upstream's answer), else any account of the domain; never another domain.
 */
function resolveWithinDomain(
  binding: Binding,
  input: DecisionInput,
  exactAccount = false,
): { account: Account; outcome: 'bound' | 'domain_failover' } | undefined {
  const { candidates, context } = input;
  const own = findCandidate(candidates, binding.account);
  // The account itself holds the state: when it is still configured, its current
  // domain label counts (an operator may add or rename labels), not the stored one.
  const domain = own ? own.account.domain : binding.domain;
  if (own && (exactAccount || usableAt(context)(own))) return { account: own.account, outcome: 'bound' };
  const sameDomain = selectNewAccount(candidates, context, [inDomain(domain)]);
  if (sameDomain) return { account: sameDomain, outcome: sameDomain.name === binding.account ? 'bound' : 'domain_failover' };
  if (own) return { account: own.account, outcome: 'bound' };
  const anyOfDomain = pickLeastLoaded(candidates.filter(inDomain(domain)), context);
  return anyOfDomain ? { account: anyOfDomain, outcome: 'domain_failover' } : undefined;
}

function domainGone(source: SignalSource): RejectDecision {
  return {
    kind: 'reject',
    status: 409,
    code: 'account_domain_unavailable',
    message:
      'This session holds state (encrypted reasoning, a previous response or a turn token) that only the upstream account that produced it can read, and no account of that organisation is configured in this pool any more. Start a new session.',
    strength: 'hard',
    source,
  };
}

/** Any account at all, least loaded, for when nothing is usable: the upstream answers. */
function lastResort(input: DecisionInput): Account | undefined {
  return selectNewAccount(input.candidates, input.context) ?? pickLeastLoaded(input.candidates, input.context);
}

/** The routing decision: (request signals, bindings, account states) → account. Pure. */
export function decide(input: DecisionInput): Decision {
  const { strength, stickySource, sessionBinding } = input;

  const anchor = input.anchors[0];
  // A response id or item that agrees with the session binding adds nothing but
  // hardness: the session key stays the reported source. A turn-state token is
  // always reported, being first in the precedence.
  const anchorDecides = anchor !== undefined && (anchor.source === 'turn_state' || sessionBinding?.account !== anchor.binding.account);
  if (anchor && anchorDecides) {
    const resolved = resolveWithinDomain(anchor.binding, input, anchor.exactAccount);
    if (!resolved) return domainGone(anchor.source);
    const conflict = sessionBinding !== undefined && sessionBinding.account !== resolved.account.name;
    const sessionWrite = stickySource === undefined ? 'none' : sessionBinding === undefined ? 'create' : conflict || sessionBinding.strength !== 'hard' ? 'put' : 'none';
    return { kind: 'route', account: resolved.account, strength: 'hard', source: anchor.source, outcome: resolved.outcome, sessionWrite, anchorConflict: conflict };
  }

  const source = stickySource ?? 'none';
  if (sessionBinding) {
    if (strength === 'hard' || sessionBinding.strength === 'hard') {
      const resolved = resolveWithinDomain(sessionBinding, input);
      if (!resolved) return domainGone(source as SignalSource);
      const upgrade = sessionBinding.strength !== 'hard' || resolved.account.name !== sessionBinding.account;
      return { kind: 'route', account: resolved.account, strength: 'hard', source, outcome: resolved.outcome, sessionWrite: upgrade ? 'put' : 'none', anchorConflict: false };
    }
    const own = findCandidate(input.candidates, sessionBinding.account);
    if (own && usableAt(input.context)(own)) {
      return { kind: 'route', account: own.account, strength, source, outcome: 'bound', sessionWrite: 'none', anchorConflict: false };
    }
    const moved = selectNewAccount(input.candidates, input.context);
    if (moved) return { kind: 'route', account: moved, strength, source, outcome: 'moved', sessionWrite: 'put', anchorConflict: false };
    const fallback = own?.account ?? lastResort(input);
    if (!fallback) return noAccounts(strength, source);
    return { kind: 'route', account: fallback, strength, source, outcome: own ? 'bound' : 'moved', sessionWrite: own ? 'none' : 'put', anchorConflict: false };
  }

  if (input.parentBinding) {
    const parent = input.parentBinding;
    const own = findCandidate(input.candidates, parent.account);
    const account =
      (own && usableAt(input.context)(own) ? own.account : undefined) ??
      selectNewAccount(input.candidates, input.context, [inDomain(parent.domain)]);
    if (account) {
      return {
        kind: 'route',
        account,
        strength: strength === 'none' ? 'soft' : strength,
        source: 'parent_thread',
        outcome: 'parent',
        sessionWrite: stickySource === undefined ? 'none' : 'create',
        anchorConflict: false,
      };
    }
  }

  const account = lastResort(input);
  if (!account) return noAccounts(strength, source);
  return {
    kind: 'route',
    account,
    strength,
    source,
    outcome: stickySource === undefined ? 'unbound' : 'new',
    sessionWrite: stickySource === undefined ? 'none' : 'create',
    anchorConflict: false,
  };
}

function noAccounts(strength: Strength, source: SignalSource | 'none'): RejectDecision {
  return { kind: 'reject', status: 503, code: 'no_accounts', message: 'No upstream account is configured for this pool.', strength, source };
}
