import type { Account, Pool } from '../accounts/account.js';
import { capabilityNeeds, type Capability, type CapabilityNeeds } from '../accounts/capabilities.js';
import { bindingKey, exclusionKey, type Binding, type BindingKey, type BindingScope, type Exclusion, type StoredBinding } from '../bindings/binding.js';
import type { BodyScan } from '../body/json-scan.js';
import { ANCHOR_PRECEDENCE } from '../ownership/owner-scope.js';
import { asksExtendedRetention } from '../balance/cache-retention.js';
import type { Mobility } from '../routing/move-reason.js';
import { decide, type Anchor, type Decision, type DecisionInput } from '../routing/decide.js';
import type { Candidate } from '../routing/candidate.js';
import { contentSeed } from '../signals/content-seed.js';
import type { SignalSource, Signals } from '../signals/signals.js';
import { chooseStickyKey, requestStrength, type StickyKey } from '../signals/sticky-key.js';
import type { BalanceAdvice } from '../balance/balancer.js';
import type { ProcessorContext } from './context.js';

/** The newest items are the ones most likely still bound; look up a few of each kind. */
const ITEMS_LOOKED_UP = 4;

type AnchorKind = Anchor['kind'];

const ANCHOR_SOURCE: Readonly<Record<AnchorKind, SignalSource>> = {
  turn_state: 'turn_state',
  conversation: 'conversation',
  response: 'previous_response',
  stored_item: 'stored_item',
  encrypted_item: 'encrypted_item',
};

/** The state a request carries, as store keys per kind (raw values kept to learn them once proved). */
export interface CarriedState {
  readonly kind: AnchorKind;
  readonly values: readonly string[];
}

export interface RoutedRequest {
  readonly decision: Decision;
  readonly stickyKey: StickyKey | undefined;
  /** The store key of the session binding (hashed, namespaced), when there is a sticky key. */
  readonly sessionKey: BindingKey | undefined;
  /** What the request carries whose owner the store did not know: learned when a 2xx proves it. */
  readonly unknownState: readonly CarriedState[];
  /** The key exclusions are kept under (the session's, else the request's state's; a seed's conversation: its state's). */
  readonly placementKey: BindingKey | undefined;
  /** What the decision read, for explaining it: the anchors found and the session binding it followed or replaced. */
  readonly anchors: readonly Anchor[];
  readonly sessionBinding: StoredBinding | undefined;
  readonly carried: readonly CarriedState[];
  /** Balancing asks to heal this idle session onto another domain (its pool opted in). */
  readonly healAcrossDomains: boolean;
}

function candidates(context: ProcessorContext, pool: Pool, now: number): Candidate[] {
  return pool.accounts.map((account) => ({ account, health: context.accountState.view(account.name, now), drained: context.operatorState.isDrained(account.name) }));
}

export function softBinding(account: Account, now: number): Binding {
  return { account: account.name, domain: account.domain, strength: 'soft', createdAt: now, lastSeenAt: now };
}

/** The state a request carries, strictest first. Turn-state tokens count only once known. */
function carriedState(signals: Signals): CarriedState[] {
  const carried: CarriedState[] = [];
  const values: Record<AnchorKind, string[]> = {
    turn_state: signals.turnState !== undefined ? [signals.turnState] : [],
    conversation: signals.conversation !== undefined ? [signals.conversation] : [],
    response: signals.previousResponseId !== undefined ? [signals.previousResponseId] : [],
    stored_item: signals.storedItemIds.slice(-ITEMS_LOOKED_UP).reverse(),
    encrypted_item: signals.encryptedItemIds.slice(-ITEMS_LOOKED_UP).reverse(),
  };
  for (const kind of ANCHOR_PRECEDENCE) if (values[kind].length > 0) carried.push({ kind, values: values[kind] });
  return carried;
}

/**
 * Reports a move written (one count per move, `binding_moves_total{pool,reason,account}`,
 * whatever moved it: an unusable or drained account, a flush, balancing), or a move the
 * session's state held back, and refreshes the
 * session's last-seen time when it is older than the touch interval: idle
 * time is what decides whether moving costs a prompt cache.
 */
async function afterBalancing(
  context: ProcessorContext,
  pool: Pool,
  sessionKey: BindingKey | undefined,
  session: StoredBinding,
  decision: Extract<Decision, { kind: 'route' }>,
  advice: BalanceAdvice,
  now: number,
  moveWritten: boolean,
): Promise<void> {
  const account = decision.account.name;
  if (account !== session.account) {
    // A binding moved. (A hard request sent to another account of its domain while its own
    // cools down leaves the binding where it is: no move.)
    if (decision.moveReason && decision.sessionWrite === 'move' && moveWritten) context.balance.moved(pool.name, decision.moveReason, session.account, account);
    return;
  }
  if (advice.held) context.balance.held(pool.name, advice.held, account);
  if (sessionKey && decision.sessionWrite === 'none' && now - session.lastSeenAt >= advice.touchAfter) {
    const { version, ...binding } = session;
    try {
      const touched = await context.store.compareAndSet(sessionKey, version, { ...binding, lastSeenAt: now });
      if (touched.written) context.metrics.bindingsWritten.inc({ kind: 'session', mode: 'touch' });
    } catch {
      // Best effort: a session not touched may look idle a little early; the request goes on.
    }
  }
}

/**
 * Looks up every binding the request's signals point at (one store round
 * trip), runs the pure decision, and writes the soft session binding it asks
 * for: first-writer-wins for a new one, compare-and-set for a move. A lost race
 * is decided again on what won.
 */
export async function routeRequest(
  context: ProcessorContext,
  pool: Pool,
  scope: BindingScope,
  signals: Signals,
  body: { buffer: Buffer; scan: BodyScan } | undefined,
  options: { accountBoundTransport?: boolean; requires?: readonly Capability[]; storesByDefault?: boolean } = {},
): Promise<RoutedRequest> {
  const { config, store, metrics } = context;
  const stickyKey = chooseStickyKey(signals, config.routing.contentSeed && body ? () => contentSeed(body.buffer, body.scan) : undefined);
  const carried = carriedState(signals);
  const sessionKey = stickyKey ? bindingKey(scope, 'session', stickyKey.value) : undefined;
  const parentKey = signals.parentThread !== undefined ? bindingKey(scope, 'session', signals.parentThread) : undefined;

  const keys: BindingKey[] = [];
  const carriedKeys = carried.map((state) => state.values.map((value) => bindingKey(scope, state.kind, value)));
  for (const group of carriedKeys) keys.push(...group);
  if (sessionKey) keys.push(sessionKey);
  if (parentKey) keys.push(parentKey);
  const found = keys.length > 0 ? await store.read(keys) : [];

  let offset = 0;
  const anchors: Anchor[] = [];
  const unknownState: CarriedState[] = [];
  carried.forEach((state, index) => {
    const group = found.slice(offset, offset + carriedKeys[index]!.length);
    offset += group.length;
    const binding = group.find((entry) => entry !== undefined);
    if (binding) anchors.push({ kind: state.kind, source: ANCHOR_SOURCE[state.kind], binding });
    else if (state.kind !== 'turn_state') unknownState.push(state);
  });
  // An operator's flush marks (accounts/operator-state.ts) are read by balancing: a flushed
  // soft session is re-chosen below (balance/reconsider.ts), and leaves a flushed account.
  let sessionBinding = sessionKey ? found[offset++] : undefined;
  const parentBinding = parentKey ? found[offset++] : undefined;
  const knownTurnState = anchors.some((anchor) => anchor.kind === 'turn_state');

  const strength = requestStrength(signals, knownTurnState, stickyKey !== undefined);
  // A WebSocket session carries its encrypted reasoning over the socket, out of our sight:
  // once a 101 proved its account, a reconnect never changes account.
  const accountBoundTransport = options.accountBoundTransport === true && stickyKey !== undefined;
  const accountScoped =
    accountBoundTransport ||
    knownTurnState ||
    signals.previousResponseId !== undefined ||
    signals.conversation !== undefined ||
    signals.hasStoredReference;
  const firstUnknown = unknownState[0];
  const stateKey = firstUnknown ? bindingKey(scope, firstUnknown.kind, firstUnknown.values[0]!) : undefined;
  const placementKey = sessionKey ?? stateKey;
  // A content seed is shared by strangers who open alike: one conversation's refusals are
  // kept under its own state, not under the seed.
  const exclusionAt = stickyKey?.source === 'content_seed' ? (stateKey ?? sessionKey) : placementKey;
  // Only an orphan (hard, no anchor) reads its exclusions: a second round trip for the rare case.
  const exclusion: Exclusion | undefined = strength === 'hard' && anchors.length === 0 && exclusionAt ? await store.readExclusion(exclusionKey(exclusionAt)) : undefined;

  const fromSignals = capabilityNeeds(signals, body !== undefined && (signals.store ?? options.storesByDefault ?? true));
  const needs: CapabilityNeeds = options.requires?.length
    ? { required: [...new Set([...fromSignals.required, ...options.requires])], preferred: fromSignals.preferred }
    : fromSignals;
  const now = context.clock();
  // How far balancing may move this session: stored objects and turn-state never,
  // encrypted content inside its domain, a session key anywhere in the pool.
  const mobility: Mobility = accountScoped || (strength !== 'hard' && sessionBinding?.strength === 'hard') ? 'pinned' : strength === 'hard' ? 'domain' : 'pool';
  // One view of the pool per decision: balancing and every (re)decision read the same.
  const pooled = candidates(context, pool, now);
  const advice = context.balance.advise(pool, pooled, context.accountState.healthPolicy, now, {
    binding: stickyKey ? sessionBinding : undefined,
    mobility,
    extendedRetention: asksExtendedRetention(body),
  });
  const input = (session: StoredBinding | undefined): DecisionInput => ({
    pool,
    candidates: pooled,
    context: { now, policy: context.accountState.healthPolicy, tieBreaker: context.tieBreaker },
    strength,
    stickySource: stickyKey?.source,
    stateSource: carried[0] ? ANCHOR_SOURCE[carried[0].kind] : undefined,
    placementKey: placementKey ? `${placementKey.kind}:${placementKey.id}` : undefined,
    anchors,
    accountScoped,
    accountBoundTransport,
    carriesUnknownState: unknownState.length > 0,
    sessionBinding: session,
    parentBinding,
    exclusion,
    needs,
    rebalance: advice.rebalance,
    spreadSoft: advice.spreadSoft,
    degraded: advice.degraded,
  });
  let decidedOn = sessionBinding;
  let moveWritten = false;
  let decision = decide(input(sessionBinding));

  // A lost race is decided again on the binding that won; twice at most, then we follow it.
  for (let attempt = 0; attempt < 2 && decision.kind === 'route' && sessionKey && decision.sessionWrite !== 'none'; attempt++) {
    const binding: Binding = { ...softBinding(decision.account, now), strength: decision.sessionWriteStrength };
    if (decision.sessionWrite === 'create') {
      const result = await store.create(sessionKey, binding);
      metrics.bindingsWritten.inc({ kind: 'session', mode: 'create' });
      if (result.created || result.binding.account === decision.account.name) break;
      sessionBinding = result.binding;
    } else {
      const result = await store.compareAndSet(sessionKey, sessionBinding?.version, binding);
      metrics.bindingsWritten.inc({ kind: 'session', mode: 'move' });
      if (result.written) {
        moveWritten = true;
        break;
      }
      sessionBinding = result.binding;
    }
    // Another request (or replica) changed this session first: follow it.
    metrics.bindingRaces.inc();
    decidedOn = sessionBinding;
    decision = decide(input(sessionBinding));
  }
  if (decision.kind === 'route' && decidedOn) await afterBalancing(context, pool, sessionKey, decidedOn, decision, advice, now, moveWritten);
  return {
    decision,
    stickyKey,
    sessionKey,
    unknownState,
    placementKey: exclusionAt,
    anchors,
    sessionBinding,
    carried,
    healAcrossDomains: advice.healAcrossDomains && decision.kind === 'route' && decision.sessionWrite === 'none',
  };
}
