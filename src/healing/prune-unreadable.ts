import type { Pool } from '../accounts/account.js';
import { bindingKey, type Binding, type BindingScope } from '../bindings/binding.js';
import type { BindingStore, LearnedBinding } from '../bindings/store.js';
import { scanJsonBody } from '../body/json-scan.js';
import type { ReadableBody } from '../request/read-body.js';
import { extractSignals, type Signals } from '../signals/signals.js';
import { chooseStickyKey } from '../signals/sticky-key.js';
import { healRequest } from './heal-request.js';

export interface PrunedRequest {
  readonly body: ReadableBody;
  readonly signals: Signals;
  readonly droppedItems: number;
  readonly droppedPreviousResponse: boolean;
}

/**
 * Healing's reads and writes: drops from the body what no live domain can
 * read (encrypted items whose learned domain is gone or unknown, stored items
 * and a previous_response_id no live account holds), and remembers the dropped
 * unknown items as the gone domain's, so later turns drop them too.
 * Undefined when the request refers to nothing gone.
 */
export async function pruneUnreadable(
  store: BindingStore,
  scope: BindingScope,
  pool: Pool,
  headers: ReadonlyMap<string, string>,
  body: ReadableBody,
  signals: Signals,
  now: number,
): Promise<PrunedRequest | undefined> {
  const liveDomains = new Set(pool.accounts.map((account) => account.domain));
  const poolAccounts = new Set(pool.accounts.map((account) => account.name));
  const isLive = (binding: Binding): boolean => poolAccounts.has(binding.account) || liveDomains.has(binding.domain);
  const items = [
    ...signals.encryptedItemIds.map((id) => ({ id, key: bindingKey(scope, 'encrypted_item', id) })),
    ...signals.storedItemIds.map((id) => ({ id, key: bindingKey(scope, 'stored_item', id) })),
  ];
  const previousKey = signals.previousResponseId !== undefined ? bindingKey(scope, 'response', signals.previousResponseId) : undefined;
  const stickyKey = chooseStickyKey(signals);
  const sessionKey = stickyKey ? bindingKey(scope, 'session', stickyKey.value) : undefined;
  const found = await store.read([...items.map((item) => item.key), ...(previousKey ? [previousKey] : []), ...(sessionKey ? [sessionKey] : [])]);
  const itemBindings = new Map<string, Binding>();
  items.forEach((item, index) => {
    const binding = found[index];
    if (binding) itemBindings.set(item.id, binding);
  });
  const previousResponseBinding = previousKey ? found[items.length] : undefined;
  const sessionBinding = sessionKey ? found[items.length + (previousKey ? 1 : 0)] : undefined;
  // Only a request that refers to a gone domain is touched; unknown items alone are no reason.
  const goneDomain =
    [...itemBindings.values(), ...(previousResponseBinding ? [previousResponseBinding] : [])].find((binding) => !isLive(binding))?.domain ??
    (sessionBinding && !isLive(sessionBinding) ? sessionBinding.domain : undefined);
  if (goneDomain === undefined) return undefined;
  const healing = healRequest({ body: body.buffer, scan: body.scan, itemBindings, previousResponseBinding, isLive });
  if (!healing.body) return undefined;
  const remembered: LearnedBinding[] = healing.droppedUnknownIds.map((id) => ({
    key: bindingKey(scope, 'encrypted_item', id),
    binding: { account: '', domain: goneDomain, strength: 'hard', createdAt: now, lastSeenAt: now },
  }));
  if (remembered.length > 0) await store.learn(remembered);
  const healedBody: ReadableBody = { buffer: healing.body, scan: scanJsonBody(healing.body), decodedFrom: body.decodedFrom };
  return { body: healedBody, signals: extractSignals(headers, healedBody), droppedItems: healing.droppedItems, droppedPreviousResponse: healing.droppedPreviousResponse };
}
