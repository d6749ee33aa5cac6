import type { Account, Pool } from '../accounts/account.js';
import { describeCapabilities, hasCapabilities, type Capability, type CapabilityNeeds } from '../accounts/capabilities.js';
import type { Binding, BindingKind, Exclusion, Strength, StoredBinding } from '../bindings/binding.js';
import { OWNER_SCOPE } from '../ownership/owner-scope.js';
import type { SignalSource } from '../signals/signals.js';
import { moveReason as reasonLeft, type MoveReason } from './move-reason.js';
import { place } from './placement.js';
import type { Candidate } from './candidate.js';
import type { SelectionContext } from './select.js';
import { acceptsNewSessions, inDomain, pickLeastLoaded, usableAt } from './select.js';

/** A learned binding that names the account holding some of the request's state. */
export interface Anchor {
  readonly kind: Exclude<BindingKind, 'session'>;
  readonly source: SignalSource;
  readonly binding: Binding;
}

export interface DecisionInput {
  readonly pool: Pool;
  /** Every pool account with its state. */
  readonly candidates: readonly Candidate[];
  readonly context: SelectionContext;
  /** As hard as the strictest state the request carries (or its transport). */
  readonly strength: Strength;
  /** Source of the session key, when the request has one. */
  readonly stickySource: SignalSource | undefined;
  /** Source of the strictest state the request carries, for reporting an orphan without a session key. */
  readonly stateSource: SignalSource | undefined;
  /** Digest the rendezvous placement hashes (session key, else the request's state); undefined: none. */
  readonly placementKey: string | undefined;
  /** Found anchors, strictest first (see ANCHOR_PRECEDENCE). */
  readonly anchors: readonly Anchor[];
  /**
   * The request carries state whose owner is the exact account (a stored
   * object, a turn-state token, an account-bound transport), not just its domain.
   */
  readonly accountScoped: boolean;
  /**
   * A WebSocket: its state flows over the socket, out of sight. The session is
   * account-bound from its first 101; before that it is placed like any other.
   */
  readonly accountBoundTransport: boolean;
  /** The request carries state (ids, a conversation) whose owner the store does not know. */
  readonly carriesUnknownState: boolean;
  readonly sessionBinding: StoredBinding | undefined;
  readonly parentBinding: Binding | undefined;
  /** Where this session's orphaned requests were already refused. */
  readonly exclusion: Exclusion | undefined;
  readonly needs: CapabilityNeeds;
  /** Balancing asks this session to be re-chosen (see balance/reconsider.ts); absent: it stays while usable. */
  readonly rebalance?: { readonly reason: MoveReason; readonly leave: boolean; readonly salt: string } | undefined;
  /** The pool's stickiness is `soft-off`: soft requests are spread by load and headroom, bindings or not. */
  readonly spreadSoft?: boolean;
  /** Accounts judged slow or failing: new and moving sessions go elsewhere when they can. */
  readonly degraded?: ReadonlySet<string>;
}

export type Outcome =
  /** followed an existing binding or anchor */
  | 'bound'
  /** encrypted content, own account unusable: another account of the same domain */
  | 'domain_failover'
  /** soft session moved off an unusable account */
  | 'moved'
  /** new session, new binding */
  | 'new'
  /** sub-agent thread started beside its parent */
  | 'parent'
  /** no sticky key: chosen per request */
  | 'unbound'
  /** hard request whose owner is unknown: placed, proved by its answer */
  | 'orphan';

export interface RouteDecision {
  readonly kind: 'route';
  readonly account: Account;
  readonly strength: Strength;
  readonly source: SignalSource | 'none';
  readonly outcome: Outcome;
  /**
   * What to write for the session key now (always soft): nothing, first-writer-wins
   * create, or a compare-and-set move from the version read.
   */
  readonly sessionWrite: 'none' | 'create' | 'move';
  /** A 2xx from this account proves it holds the request's state: the session binding becomes hard. */
  readonly hardenOnSuccess: boolean;
  /** The account was a guess: an unreadable-state answer excludes it for the session's next try. */
  readonly orphan: boolean;
  /** An anchor disagreed with the session's binding. */
  readonly anchorConflict: boolean;
  /** An exact-account anchor disagreed: once proved, the session binding follows it even when hard. */
  readonly followsAnchor: boolean;
  /** Why the session left its account (outcome `moved` or `domain_failover` of a bound session). */
  readonly moveReason: MoveReason | undefined;
  /** Strength of the session binding written by a move: `hard` for encrypted content moved inside its domain. */
  readonly sessionWriteStrength: 'soft' | 'hard';
}

export interface RejectDecision {
  readonly kind: 'reject';
  readonly status: number;
  readonly code: 'account_domain_unavailable' | 'no_accounts' | 'capability_unavailable';
  readonly message: string;
  readonly strength: Strength;
  readonly source: SignalSource | 'none';
}

export type Decision = RouteDecision | RejectDecision;

function findCandidate(candidates: readonly Candidate[], name: string): Candidate | undefined {
  return candidates.find((candidate) => candidate.account.name === name);
}

const GONE_MESSAGE =
  'This session holds state (encrypted reasoning, a stored response, item or conversation, or a turn token) that only the upstream account that produced it can read, and that account is not configured in this pool any more. Start a new session.';
const REFUSED_MESSAGE =
  'This session holds state (encrypted reasoning, a stored response, item or conversation) that every account of this pool able to serve it has refused as unreadable. Start a new session.';

function stateGone(source: SignalSource, message = GONE_MESSAGE): RejectDecision {
  return {
    kind: 'reject',
    status: 409,
    code: 'account_domain_unavailable',
    message,
    strength: 'hard',
    source,
  };
}

function capabilityMissing(required: readonly Capability[], strength: Strength, source: SignalSource | 'none'): RejectDecision {
  return {
    kind: 'reject',
    status: 400,
    code: 'capability_unavailable',
    message: `This request needs ${describeCapabilities(required)}, which no account of this pool supports (ChatGPT Codex accounts keep no state between requests).`,
    strength,
    source,
  };
}

function noAccounts(strength: Strength, source: SignalSource | 'none'): RejectDecision {
  return { kind: 'reject', status: 503, code: 'no_accounts', message: 'No upstream account is configured for this pool.', strength, source };
}

/**
 * A new or moving session's account: usable accounts that can serve it
 * (preferring those with the capabilities it would like), by rendezvous
 * placement when there is a key, else least loaded; when nothing is usable,
 * the same over all of them (the upstream answers).
 */
function choose(candidates: readonly Candidate[], input: DecisionInput): Account | undefined {
  const accepting = candidates.filter(acceptsNewSessions(input.context));
  // Drained accounts come back only when nothing else is usable (an operator drained everything).
  const usable = avoidDegraded(accepting.length > 0 ? accepting : candidates.filter(usableAt(input.context)), input);
  const preferred = usable.filter((candidate) => hasCapabilities(candidate.account.profile, input.needs.preferred));
  const pool = preferred.length > 0 ? preferred : usable.length > 0 ? usable : candidates;
  if (input.placementKey === undefined) return pickLeastLoaded(pool, input.context);
  return place(input.placementKey, pool, input.context.policy);
}

/**
 * A re-chosen session draws again: its placement key salted with the moment
 * balancing reconsidered it (the binding's last-seen time, which every replica
 * reads alike). Re-placing it under the same key would only repeat the
 * original draw, conditioned on having won it; a fresh draw lands in
 * proportion to today's weights, headroom included.
 */
function redrawn(input: DecisionInput): DecisionInput {
  if (!input.rebalance || input.placementKey === undefined) return input;
  return { ...input, placementKey: `${input.placementKey}\u0000${input.rebalance.salt}` };
}

/** Usable accounts that are not slow or failing, when any is left. */
function avoidDegraded(usable: readonly Candidate[], input: DecisionInput): readonly Candidate[] {
  const degraded = input.degraded;
  if (!degraded || degraded.size === 0) return usable;
  const fine = usable.filter((candidate) => !degraded.has(candidate.account.name));
  return fine.length > 0 ? fine : usable;
}

/** Soft-off stickiness: the least loaded usable account by weight and headroom, whatever the binding says. */
function spread(candidates: readonly Candidate[], input: DecisionInput): Account | undefined {
  const accepting = candidates.filter(acceptsNewSessions(input.context));
  const usable = avoidDegraded(accepting.length > 0 ? accepting : candidates.filter(usableAt(input.context)), input);
  const preferred = usable.filter((candidate) => hasCapabilities(candidate.account.profile, input.needs.preferred));
  return pickLeastLoaded(preferred.length > 0 ? preferred : usable.length > 0 ? usable : candidates, input.context);
}

/** Why a session left an account it could not stay on (routing/move-reason.ts). */
function unusableReason(own: Candidate | undefined, input: DecisionInput): MoveReason {
  return reasonLeft(own, input.context, input.needs);
}

/** The account has what the request would like, or no usable account has it. */
function servesPreferences(own: Candidate, capable: readonly Candidate[], input: DecisionInput): boolean {
  if (hasCapabilities(own.account.profile, input.needs.preferred)) return true;
  const usable = usableAt(input.context);
  return !capable.some((candidate) => usable(candidate) && hasCapabilities(candidate.account.profile, input.needs.preferred));
}

/** Failing over inside a domain, drained accounts are the last resort. */
function preferAccepting(usable: readonly Candidate[], input: DecisionInput): readonly Candidate[] {
  const accepting = usable.filter(acceptsNewSessions(input.context));
  return accepting.length > 0 ? accepting : usable;
}

/** Where state readable in `domain` goes: its own account, else placement inside the domain. */
function withinDomain(
  input: DecisionInput,
  candidates: readonly Candidate[],
  domain: string,
  preferredAccounts: readonly string[],
): { account: Account; outcome: 'bound' | 'domain_failover' } | undefined {
  const usable = usableAt(input.context);
  for (const name of preferredAccounts) {
    const own = findCandidate(candidates, name);
    if (own && own.account.domain === domain && usable(own)) return { account: own.account, outcome: 'bound' };
  }
  const sameDomain = candidates.filter(inDomain(domain));
  const usableSameDomain = preferAccepting(sameDomain.filter(usable), input);
  if (usableSameDomain.length > 0) {
    const account = input.placementKey !== undefined ? place(input.placementKey, usableSameDomain, input.context.policy) : pickLeastLoaded(usableSameDomain, input.context);
    return { account: account!, outcome: 'domain_failover' };
  }
  // Nothing of the domain is usable: its own account answers (the client sees its 429).
  const own = preferredAccounts.map((name) => findCandidate(sameDomain, name)).find((candidate) => candidate !== undefined);
  if (own) return { account: own.account, outcome: 'bound' };
  const any = input.placementKey !== undefined ? place(input.placementKey, sameDomain, input.context.policy) : pickLeastLoaded(sameDomain, input.context);
  return any ? { account: any, outcome: 'domain_failover' } : undefined;
}

function route(
  input: DecisionInput,
  account: Account,
  fields: {
    strength: Strength;
    source: SignalSource | 'none';
    outcome: Outcome;
    sessionWrite?: RouteDecision['sessionWrite'];
    orphan?: boolean;
    anchorConflict?: boolean;
    followsAnchor?: boolean;
    moveReason?: MoveReason;
    sessionWriteStrength?: 'soft' | 'hard';
  },
): RouteDecision {
  const session = input.sessionBinding;
  const hardenOnSuccess =
    (fields.strength === 'hard' || input.accountBoundTransport) &&
    input.stickySource !== undefined &&
    // A content seed groups strangers who open alike: it only ever asks for cache locality.
    input.stickySource !== 'content_seed' &&
    (session === undefined || session.strength !== 'hard' || (fields.followsAnchor === true && session.account !== account.name));
  return {
    kind: 'route',
    account,
    strength: input.accountBoundTransport ? 'hard' : fields.strength,
    source: fields.source,
    outcome: fields.outcome,
    sessionWrite: fields.sessionWrite ?? 'none',
    hardenOnSuccess,
    orphan: fields.orphan ?? false,
    anchorConflict: fields.anchorConflict ?? false,
    followsAnchor: fields.followsAnchor ?? false,
    moveReason: fields.moveReason,
    sessionWriteStrength: fields.sessionWriteStrength ?? 'soft',
  };
}

/**
 * The routing decision: (request state, bindings, account states) → account. Pure.
 * A request never leaves the owner scope of the strictest state it carries:
 * the exact account for stored objects and turn-state tokens, the domain for
 * encrypted content; a session key is a preference. Nothing here writes a
 * hard binding: that waits for the upstream's 2xx.
 */
export function decide(input: DecisionInput): Decision {
  const { strength, stickySource, sessionBinding, needs } = input;
  const source: SignalSource | 'none' = stickySource ?? input.stateSource ?? 'none';
  if (input.candidates.length === 0) return noAccounts(strength, source);
  const capable = input.candidates.filter((candidate) => hasCapabilities(candidate.account.profile, needs.required));
  if (capable.length === 0) return capabilityMissing(needs.required, strength, source);
  const createIfNew: RouteDecision['sessionWrite'] = stickySource !== undefined && sessionBinding === undefined ? 'create' : 'none';

  const anchor = input.anchors[0];
  if (anchor) {
    const conflict = sessionBinding !== undefined && sessionBinding.account !== anchor.binding.account;
    // An anchor that agrees with the session binding adds nothing but hardness: the
    // session key stays the reported source. A turn-state token is always reported.
    const reported = anchor.kind === 'turn_state' || sessionBinding === undefined || conflict ? anchor.source : source;
    if (OWNER_SCOPE[anchor.kind] === 'account') {
      // Stored objects and turn tokens live on one account: there, cooling or not.
      const own = findCandidate(input.candidates, anchor.binding.account);
      if (!own) return stateGone(anchor.source);
      // Its owner cannot do what the request also asks (a ChatGPT Codex account's turn
      // token with a previous_response_id): no account can serve it.
      if (!capable.includes(own)) return capabilityMissing(needs.required, 'hard', anchor.source);
      return route(input, own.account, { strength: 'hard', source: reported, outcome: 'bound', sessionWrite: createIfNew, anchorConflict: conflict, followsAnchor: conflict });
    }
    const own = findCandidate(input.candidates, anchor.binding.account);
    // The account holds the state: its current domain label counts, not the stored one.
    const domain = own ? own.account.domain : anchor.binding.domain;
    const preferred = [...(sessionBinding ? [sessionBinding.account] : []), anchor.binding.account];
    const moved = sessionBinding && !conflict ? moveInsideDomain(input, capable, domain, sessionBinding) : undefined;
    if (moved) return route(input, moved.account, { strength: 'hard', source: reported, outcome: 'moved', sessionWrite: 'move', moveReason: moved.reason, sessionWriteStrength: sessionBinding!.strength === 'hard' ? 'hard' : 'soft' });
    const resolved = withinDomain(input, capable, domain, preferred);
    if (!resolved) return stateGone(anchor.source);
    const disagrees = sessionBinding !== undefined && sessionBinding.account !== resolved.account.name;
    const moveReason = resolved.outcome === 'domain_failover' ? unusableReason(findCandidate(capable, preferred[0]!), input) : undefined;
    return route(input, resolved.account, { strength: 'hard', source: reported, outcome: resolved.outcome, sessionWrite: createIfNew, anchorConflict: disagrees && conflict, ...(moveReason ? { moveReason } : {}) });
  }

  if (strength === 'hard' || (input.accountBoundTransport && sessionBinding?.strength === 'hard')) {
    if (sessionBinding?.strength === 'hard') {
      // A 2xx proved this account reads the session's state.
      const own = findCandidate(input.candidates, sessionBinding.account);
      const domain = own ? own.account.domain : sessionBinding.domain;
      if (input.accountScoped ? !own : !input.candidates.some(inDomain(domain))) return stateGone(source as SignalSource);
      // What the request carries was never learned (evicted, another replica's, or new
      // ids): the session's account is the best guess, but still a guess.
      if (input.carriesUnknownState || !capable.includes(own!)) return orphan(input, capable, source);
      if (input.accountScoped) return route(input, own!.account, { strength: 'hard', source, outcome: 'bound' });
      const resolved = withinDomain(input, capable, domain, [sessionBinding.account]);
      if (!resolved) return stateGone(source as SignalSource);
      return route(input, resolved.account, { strength, source, outcome: resolved.outcome });
    }
    return orphan(input, capable, source);
  }

  if (sessionBinding) {
    const own = findCandidate(capable, sessionBinding.account);
    if (sessionBinding.strength === 'hard') {
      // A soft request of a hard session: it carries nothing bound, but the session's
      // next turn will; it stays in the domain and changes no binding.
      const resolved = own ? withinDomain(input, capable, own.account.domain, [own.account.name]) : undefined;
      if (resolved) return route(input, resolved.account, { strength, source, outcome: resolved.outcome });
      // Its account cannot serve this request: it goes elsewhere, the hard binding stays.
      return route(input, choose(capable, input)!, { strength, source, outcome: 'moved' });
    }
    if (input.spreadSoft) {
      const account = spread(capable, input)!;
      if (account.name === sessionBinding.account) return route(input, account, { strength, source, outcome: 'bound' });
      return route(input, account, { strength, source, outcome: 'moved', sessionWrite: 'move', moveReason: 'operator' });
    }
    // A drained account keeps no soft session (accounts/operator-state.ts).
    const stays = own !== undefined && acceptsNewSessions(input.context)(own) && servesPreferences(own, capable, input);
    if (stays && !input.rebalance) return route(input, own.account, { strength, source, outcome: 'bound' });
    // Re-chosen by normal selection; when its own account is the problem, without it.
    const from = stays && input.rebalance!.leave ? capable.filter((candidate) => candidate !== own) : capable;
    if (stays && !from.some(acceptsNewSessions(input.context))) return route(input, own.account, { strength, source, outcome: 'bound' });
    const moved = choose(from, stays ? redrawn(input) : input)!;
    if (moved.name === sessionBinding.account) return route(input, moved, { strength, source, outcome: 'bound' });
    const moveReason = stays ? input.rebalance!.reason : unusableReason(own, input);
    return route(input, moved, { strength, source, outcome: 'moved', sessionWrite: 'move', moveReason });
  }

  if (input.parentBinding) {
    const parent = input.parentBinding;
    const own = findCandidate(capable, parent.account);
    const usable = capable.filter(acceptsNewSessions(input.context));
    const account =
      (own && acceptsNewSessions(input.context)(own) ? own.account : undefined) ??
      (input.placementKey !== undefined ? place(input.placementKey, usable.filter(inDomain(parent.domain)), input.context.policy) : undefined);
    if (account) {
      return route(input, account, { strength: strength === 'none' ? 'soft' : strength, source: 'parent_thread', outcome: 'parent', sessionWrite: createIfNew });
    }
  }

  const account = (input.spreadSoft ? spread(capable, input) : choose(capable, input))!;
  return route(input, account, { strength, source, outcome: stickySource === undefined ? 'unbound' : 'new', sessionWrite: createIfNew });
}

/**
 * Encrypted content readable across its domain, idle past its cache's life:
 * re-chosen by placement among the domain's usable accounts (never outside
 * it). Undefined when balancing did not ask, or the choice is where it is.
 */
function moveInsideDomain(
  input: DecisionInput,
  capable: readonly Candidate[],
  domain: string,
  session: StoredBinding,
): { account: Account; reason: MoveReason } | undefined {
  const rebalance = input.rebalance;
  if (!rebalance || input.accountScoped || input.accountBoundTransport || input.placementKey === undefined) return undefined;
  if (session.domain !== domain || !capable.some((candidate) => candidate.account.name === session.account)) return undefined;
  const sameDomain = avoidDegraded(preferAccepting(capable.filter(inDomain(domain)).filter(usableAt(input.context)), input), input);
  const from = rebalance.leave ? sameDomain.filter((candidate) => candidate.account.name !== session.account) : sameDomain;
  const account = place(redrawn(input).placementKey!, from, input.context.policy);
  return account && account.name !== session.account ? { account, reason: rebalance.reason } : undefined;
}

/**
 * A hard request whose owner is unknown (lost, evicted, another replica's):
 * the session's own account when it has one, else rendezvous placement, in
 * both cases skipping what already refused this session. Nothing is recorded
 * until a 2xx proves the choice.
 */
function orphan(input: DecisionInput, capable: readonly Candidate[], source: SignalSource | 'none'): Decision {
  const excludedDomains = new Set(input.exclusion?.domains ?? []);
  const excludedAccounts = new Set(input.exclusion?.accounts ?? []);
  const allowed = capable.filter((candidate) => !excludedDomains.has(candidate.account.domain) && !excludedAccounts.has(candidate.account.name));
  // Every account that could serve it has refused this session's state: nobody here can read it.
  if (allowed.length === 0) return stateGone(source === 'none' ? 'encrypted_item' : source, REFUSED_MESSAGE);
  const session = input.sessionBinding ? findCandidate(allowed, input.sessionBinding.account) : undefined;
  // The session's own account most likely produced its state: that account for stored
  // objects, its domain for encrypted content (cooling or not), so a guess never sends
  // the state where it is certainly unreadable.
  const inSessionDomain = !session
    ? undefined
    : input.accountScoped
      ? { account: session.account }
      : withinDomain(input, allowed, session.account.domain, [session.account.name]);
  const account = inSessionDomain?.account ?? choose(allowed, input)!;
  return route(input, account, { strength: 'hard', source, outcome: 'orphan', orphan: true });
}
