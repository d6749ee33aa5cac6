import { bindingKey, type Binding, type BindingScope } from '../bindings/binding.js';
import type { Account } from '../accounts/account.js';
import type { ResponseFacts } from '../responses/response-facts.js';
import type { ProcessorContext } from './context.js';

/**
 * Records what a successful response proved: its id and its encrypted items
 * live on this account's domain, so a later previous_response_id or a resent
 * reasoning item finds its way back even when the session binding is gone.
 */
export async function learnResponseFacts(
  context: ProcessorContext,
  scope: BindingScope,
  account: Account,
  facts: ResponseFacts,
): Promise<void> {
  const now = context.clock();
  const binding: Binding = { account: account.name, domain: account.domain, strength: 'hard', createdAt: now, lastSeenAt: now };
  const ttl = context.config.bindings.responseTtl;
  const writes: Promise<void>[] = [];
  if (facts.responseId !== undefined) {
    writes.push(context.store.put(bindingKey(scope, 'response', facts.responseId), binding, ttl));
    context.metrics.bindingsWritten.inc({ kind: 'response', mode: 'put' });
  }
  for (const id of facts.encryptedItemIds) {
    writes.push(context.store.put(bindingKey(scope, 'item', id), binding, ttl));
    context.metrics.bindingsWritten.inc({ kind: 'item', mode: 'put' });
  }
  if (facts.inputTokens !== undefined) context.metrics.inputTokens.inc({ account: account.name }, facts.inputTokens);
  if (facts.cachedTokens !== undefined) context.metrics.cachedTokens.inc({ account: account.name }, facts.cachedTokens);
  await Promise.all(writes);
}

export async function learnTurnState(context: ProcessorContext, scope: BindingScope, account: Account, token: string): Promise<void> {
  const now = context.clock();
  const binding: Binding = { account: account.name, domain: account.domain, strength: 'hard', createdAt: now, lastSeenAt: now };
  await context.store.put(bindingKey(scope, 'turn_state', token), binding, context.config.bindings.turnStateTtl);
  context.metrics.bindingsWritten.inc({ kind: 'turn_state', mode: 'put' });
}
