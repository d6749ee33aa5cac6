import type { Account, Pool } from '../accounts/account.js';
import { bindingKey, type Binding, type BindingScope } from '../bindings/binding.js';
import type { BodyScan } from '../body/json-scan.js';
import { decide, type Anchor, type Decision, type DecisionInput } from '../routing/decide.js';
import type { Candidate } from '../routing/select.js';
import { contentSeed } from '../signals/content-seed.js';
import type { Signals } from '../signals/signals.js';
import { chooseStickyKey, requestStrength, type StickyKey } from '../signals/sticky-key.js';
import type { ProcessorContext } from './context.js';

/** The newest encrypted items are the ones most likely still bound; look up a few. */
const ENCRYPTED_ITEMS_LOOKED_UP = 4;

export interface RoutedRequest {
  readonly decision: Decision;
  readonly stickyKey: StickyKey | undefined;
  /** The store key of the session binding (hashed, namespaced), when there is a sticky key. */
  readonly sessionKey: string | undefined;
}

function candidates(context: ProcessorContext, pool: Pool, now: number): Candidate[] {
  return pool.accounts.map((account) => ({ account, health: context.accountState.view(account.name, now) }));
}

function newBinding(account: Account, strength: Binding['strength'], now: number): Binding {
  return { account: account.name, domain: account.domain, strength, createdAt: now, lastSeenAt: now };
}

/**
 * Looks up every binding the request's signals point at (one store round
 * trip), runs the pure decision, and writes the session binding it asks for
 * with first-writer-wins semantics.
 */
export async function routeRequest(
  context: ProcessorContext,
  pool: Pool,
  scope: BindingScope,
  signals: Signals,
  body: { buffer: Buffer; scan: BodyScan } | undefined,
  options: { accountBoundTransport?: boolean } = {},
): Promise<RoutedRequest> {
  const { config, store, metrics } = context;
  const ttl = config.bindings;
  const stickyKey = chooseStickyKey(
    signals,
    config.routing.contentSeed && body ? () => contentSeed(body.buffer, body.scan) : undefined,
  );

  const itemIds = signals.encryptedItemIds.slice(-ENCRYPTED_ITEMS_LOOKED_UP).reverse();
  const lookups: Array<{ key: string; ttl: number; use: (binding: Binding | undefined) => void }> = [];
  let turnStateBinding: Binding | undefined;
  let previousResponseBinding: Binding | undefined;
  let itemBinding: Binding | undefined;
  let sessionBinding: Binding | undefined;
  let parentBinding: Binding | undefined;
  if (signals.turnState !== undefined) {
    lookups.push({ key: bindingKey(scope, 'turn_state', signals.turnState), ttl: ttl.turnStateTtl, use: (binding) => (turnStateBinding = binding) });
  }
  if (signals.previousResponseId !== undefined) {
    lookups.push({ key: bindingKey(scope, 'response', signals.previousResponseId), ttl: ttl.responseTtl, use: (binding) => (previousResponseBinding = binding) });
  }
  for (const id of itemIds) {
    lookups.push({ key: bindingKey(scope, 'item', id), ttl: ttl.responseTtl, use: (binding) => (itemBinding ??= binding) });
  }
  const sessionKey = stickyKey ? bindingKey(scope, 'session', stickyKey.value) : undefined;
  if (sessionKey) lookups.push({ key: sessionKey, ttl: ttl.sessionTtl, use: (binding) => (sessionBinding = binding) });
  if (signals.parentThread !== undefined) {
    lookups.push({ key: bindingKey(scope, 'session', signals.parentThread), ttl: ttl.sessionTtl, use: (binding) => (parentBinding = binding) });
  }
  if (lookups.length > 0) {
    // Each lookup slides its own TTL; group by TTL to keep one call per kind of TTL.
    const byTtl = new Map<number, typeof lookups>();
    for (const lookup of lookups) byTtl.set(lookup.ttl, [...(byTtl.get(lookup.ttl) ?? []), lookup]);
    await Promise.all(
      [...byTtl].map(async ([lookupTtl, group]) => {
        const found = await store.getMany(group.map((lookup) => lookup.key), lookupTtl);
        group.forEach((lookup, index) => lookup.use(found[index]));
      }),
    );
  }

  const anchors: Anchor[] = [];
  if (turnStateBinding) anchors.push({ source: 'turn_state', binding: turnStateBinding, exactAccount: true });
  if (previousResponseBinding) anchors.push({ source: 'previous_response', binding: previousResponseBinding, exactAccount: false });
  if (itemBinding) anchors.push({ source: 'encrypted_item', binding: itemBinding, exactAccount: false });

  const now = context.clock();
  // A WebSocket session carries its encrypted reasoning over the socket, out of our sight:
  // its binding is account-bound from the handshake on, so a reconnect never changes domain.
  const strength = options.accountBoundTransport && stickyKey !== undefined ? 'hard' : requestStrength(signals, turnStateBinding !== undefined, stickyKey !== undefined);
  const input: DecisionInput = {
    pool,
    candidates: candidates(context, pool, now),
    context: { now, policy: context.accountState.healthPolicy, tieBreaker: context.tieBreaker },
    strength,
    stickySource: stickyKey?.source,
    anchors,
    sessionBinding,
    parentBinding,
  };
  let decision = decide(input);

  if (decision.kind === 'route' && sessionKey) {
    const binding = newBinding(decision.account, decision.strength, now);
    if (decision.sessionWrite === 'create') {
      const stored = await store.createIfAbsent(sessionKey, binding, ttl.sessionTtl);
      metrics.bindingsWritten.inc({ kind: 'session', mode: 'create' });
      if (stored.account !== decision.account.name) {
        // Another request (or replica) bound this session first: follow it.
        metrics.bindingRaces.inc();
        decision = decide({ ...input, sessionBinding: stored });
      }
    } else if (decision.sessionWrite === 'put') {
      await store.put(sessionKey, binding, ttl.sessionTtl);
      metrics.bindingsWritten.inc({ kind: 'session', mode: 'put' });
    }
  }
  return { decision, stickyKey, sessionKey };
}
