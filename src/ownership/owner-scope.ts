import type { BindingKind } from '../bindings/binding.js';

/**
 * Who can read a kind of state:
 * - `domain`: every account of the organisation / workspace that produced it
 *   (encrypted_content is sealed per organisation);
 * - `account`: only the exact account (project) that stored or issued it;
 * - `preference`: nobody in particular: a session key only asks for cache locality.
 */
export type OwnerScope = 'domain' | 'account' | 'preference';

export const OWNER_SCOPE: Readonly<Record<BindingKind, OwnerScope>> = {
  session: 'preference',
  encrypted_item: 'domain',
  response: 'account',
  stored_item: 'account',
  conversation: 'account',
  turn_state: 'account',
};

/** The kinds a request can carry that name their owner, strictest first (the order anchors are honoured in). */
export const ANCHOR_PRECEDENCE: readonly Exclude<BindingKind, 'session'>[] = ['turn_state', 'conversation', 'response', 'stored_item', 'encrypted_item'];
