import type { Account, Pool } from '../accounts/account.js';
import { isUsable } from '../accounts/health.js';
import { bindingKey, type BindingKey, type BindingScope } from '../bindings/binding.js';
import { scanJsonBody } from '../body/json-scan.js';
import { healRequest } from '../healing/heal-request.js';
import type { ProcessorContext } from './context.js';
import type { ReadableBody } from '../request/read-body.js';
import { place } from '../routing/placement.js';
import { extractSignals, type Signals } from '../signals/signals.js';

/** Item types that answer a tool call: the model's turn is still in progress. */
const TURN_CONTINUATIONS = new Set(['function_call_output', 'custom_tool_call_output', 'local_shell_call_output', 'mcp_approval_response']);

/** Domain label given to reasoning a healed session left behind: no account has it, so later turns drop it too. */
export function leftDomain(domain: string): string {
  return `healed-from:${domain}`;
}

export interface CrossDomainHeal {
  readonly body: ReadableBody;
  readonly signals: Signals;
  readonly droppedItems: number;
  readonly from: Account;
  readonly to: Account;
}

/**
 * Opt-in healing of an idle encrypted-content session onto another domain:
 * every encrypted reasoning item is dropped (no other domain can read it), the
 * dropped ids are remembered under a domain no account has (so the client's
 * later resends are dropped by healing's prune), and the session is rebound
 * (soft) to the account placement chooses outside the domain. Undefined when
 * no account outside the domain is usable, or the request continues a turn.
 */
export async function healAcrossDomains(
  context: ProcessorContext,
  pool: Pool,
  scope: BindingScope,
  headers: ReadonlyMap<string, string>,
  body: ReadableBody,
  session: { readonly key: BindingKey; readonly account: Account },
): Promise<CrossDomainHeal | undefined> {
  const items = body.scan.inputItems ?? [];
  const last = items[items.length - 1];
  if (last?.type !== undefined && TURN_CONTINUATIONS.has(last.type)) return undefined;
  const from = session.account;
  const now = context.clock();
  const policy = context.accountState.healthPolicy;
  const outside = pool.accounts
    .filter((account) => account.domain !== from.domain)
    .map((account) => ({ account, health: context.accountState.view(account.name, now) }))
    .filter((candidate) => isUsable(candidate.health, policy, now));
  const to = place(`${session.key.kind}:${session.key.id}`, outside, policy);
  if (!to) return undefined;
  const healing = healRequest({ body: body.buffer, scan: body.scan, itemBindings: new Map(), previousResponseBinding: undefined, isLive: () => false });
  if (!healing.body) return undefined;
  const left = { account: '', domain: leftDomain(from.domain), strength: 'hard' as const, createdAt: now, lastSeenAt: now };
  if (healing.droppedUnknownIds.length > 0) await context.store.learn(healing.droppedUnknownIds.map((id) => ({ key: bindingKey(scope, 'encrypted_item', id), binding: left })));
  const [current] = await context.store.read([session.key]);
  const rebound = { account: to.name, domain: to.domain, strength: 'soft' as const, createdAt: now, lastSeenAt: now };
  const written = current ? await context.store.compareAndSet(session.key, current.version, rebound) : await context.store.create(session.key, rebound);
  // Another request changed the session meanwhile: it decides; this one is not healed.
  if (!('written' in written ? written.written : written.created)) return undefined;
  const healedBody: ReadableBody = { buffer: healing.body, scan: scanJsonBody(healing.body), decodedFrom: body.decodedFrom };
  return { body: healedBody, signals: extractSignals(headers, healedBody), droppedItems: healing.droppedItems, from, to };
}
