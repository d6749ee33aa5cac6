import type { Account } from '../accounts/account.js';
import { hasCapabilities } from '../accounts/capabilities.js';
import { bindingKey, exclusionKey, type Binding, type BindingKey, type BindingScope } from '../bindings/binding.js';
import type { LearnedBinding } from '../bindings/store.js';
import type { ErrorClass } from '../responses/classify-error.js';
import type { ResponseFacts } from '../responses/response-facts.js';
import type { ProcessorContext } from './context.js';
import type { CarriedState } from './route-request.js';
import { claimKey, isStoredReferenceKind, keepsClaims } from '../tenancy/stored-references.js';

/** In a pool that must tell foreign references from unknown ones, a stored object is claimed as it is learned. */
function claimsKept(context: ProcessorContext, scope: BindingScope): boolean {
  const pool = context.directory.pools.get(scope.pool);
  return pool !== undefined && keepsClaims(pool);
}

function hardBinding(account: Account, now: number): Binding {
  return { account: account.name, domain: account.domain, strength: 'hard', createdAt: now, lastSeenAt: now };
}

/**
 * Records what a successful response proved, each at its owner scope:
 * encrypted items (readable in the domain), and, only when the upstream
 * really stored them, the response id, its items and its conversation (readable
 * on this account alone). An id from a response whose storage was turned off
 * is never learned as a stored anchor.
 */
export async function learnResponseFacts(
  context: ProcessorContext,
  scope: BindingScope,
  account: Account,
  facts: ResponseFacts,
  /** Whether the request as sent upstream asked for storage (store true or absent); used when the response does not say. */
  requestStored: boolean,
): Promise<void> {
  if (facts.inputTokens !== undefined) context.metrics.inputTokens.inc({ account: account.name }, facts.inputTokens);
  if (facts.cachedTokens !== undefined) context.metrics.cachedTokens.inc({ account: account.name }, facts.cachedTokens);
  if (!context.config.responses.learnResponseIds) return;
  const binding = hardBinding(account, context.clock());
  const learned: LearnedBinding[] = [];
  const add = (key: BindingKey): void => {
    learned.push({ key, binding });
    context.metrics.bindingsWritten.inc({ kind: key.kind, mode: 'learn' });
  };
  const claims = claimsKept(context, scope);
  const addStored = (kind: 'response' | 'stored_item' | 'conversation', id: string): void => {
    add(bindingKey(scope, kind, id));
    if (claims) learned.push({ key: claimKey(scope.pool, kind, id), binding });
  };
  for (const id of facts.encryptedItemIds) add(bindingKey(scope, 'encrypted_item', id));
  if ((facts.stored ?? requestStored) && hasCapabilities(account.profile, ['stored_responses'])) {
    if (facts.responseId !== undefined) addStored('response', facts.responseId);
    for (const id of facts.storedItemIds) addStored('stored_item', id);
  }
  if (facts.conversationId !== undefined && hasCapabilities(account.profile, ['conversations'])) addStored('conversation', facts.conversationId);
  if (learned.length > 0) await context.store.learn(learned);
}

export async function learnTurnState(context: ProcessorContext, scope: BindingScope, account: Account, token: string): Promise<void> {
  await context.store.learn([{ key: bindingKey(scope, 'turn_state', token), binding: hardBinding(account, context.clock()) }]);
  context.metrics.bindingsWritten.inc({ kind: 'turn_state', mode: 'learn' });
}

/**
 * A 2xx from `account` proved it reads the request's state: the session binding
 * becomes hard there (compare-and-set: a binding another request already
 * hardened stays), and the state whose owner was unknown is learned.
 */
export async function recordProof(
  context: ProcessorContext,
  scope: BindingScope,
  account: Account,
  proof: { sessionKey: BindingKey | undefined; hardenSession: boolean; unknownState: readonly CarriedState[]; orphan: boolean; followsAnchor: boolean },
): Promise<void> {
  const { store, metrics } = context;
  const now = context.clock();
  const binding = hardBinding(account, now);
  const learned: LearnedBinding[] = [];
  const claims = claimsKept(context, scope);
  let proved = 0;
  for (const state of proof.unknownState) {
    if (state.kind !== 'encrypted_item' && !hasCapabilities(account.profile, ['stored_responses'])) continue;
    for (const value of state.values) {
      learned.push({ key: bindingKey(scope, state.kind, value), binding });
      proved += 1;
      if (claims && isStoredReferenceKind(state.kind)) learned.push({ key: claimKey(scope.pool, state.kind, value), binding });
    }
  }
  if (learned.length > 0) {
    await store.learn(learned);
    metrics.proofs.inc({ kind: 'anchor' }, proved);
  }
  if (proof.orphan) metrics.orphans.inc({ outcome: 'proved' });
  if (!proof.hardenSession || !proof.sessionKey) return;
  for (let attempt = 0; attempt < 3; attempt++) {
    const [current] = await store.read([proof.sessionKey]);
    // First proof wins: a session another request proved elsewhere keeps that account,
    // unless an exact-account anchor (a turn token, a stored object) just proved otherwise.
    if (current?.strength === 'hard' && (current.account === account.name || !proof.followsAnchor)) return;
    const result = current ? await store.compareAndSet(proof.sessionKey, current.version, binding) : await store.create(proof.sessionKey, binding);
    if ('written' in result ? result.written : result.created) {
      metrics.bindingsWritten.inc({ kind: 'session', mode: 'harden' });
      metrics.proofs.inc({ kind: 'session' });
      return;
    }
  }
}

/** Which owner an unreadable-state answer rules out: the domain for encrypted content, else the account. */
export async function excludeAfterRefusal(context: ProcessorContext, placementKey: BindingKey, account: Account, errorClass: ErrorClass): Promise<void> {
  const entry = errorClass === 'invalid_encrypted_content' ? { domain: account.domain } : { account: account.name };
  await context.store.exclude(exclusionKey(placementKey), entry);
  context.metrics.orphans.inc({ outcome: 'excluded' });
  context.metrics.exclusions.inc({ scope: 'domain' in entry ? 'domain' : 'account' });
}
