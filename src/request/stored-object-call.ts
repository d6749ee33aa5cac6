import type { Capability } from '../accounts/capabilities.js';
import type { RequestView } from './request-view.js';

/**
 * A call on an object the upstream stores (Conversations API, stored or
 * background responses): it belongs on the exact account holding the object.
 */
export type StoredObjectCall =
  /** POST /v1/conversations: a new conversation, on an account that keeps conversations */
  | { readonly kind: 'create_conversation'; readonly requires: readonly Capability[] }
  /** /v1/conversations/{id}[/items...] */
  | { readonly kind: 'conversation'; readonly id: string; readonly requires: readonly Capability[] }
  /** /v1/responses/{id}[/cancel | /input_items]: retrieve, delete, cancel a stored or background response */
  | { readonly kind: 'response'; readonly id: string; readonly requires: readonly Capability[] };

const OBJECT_ID = /^[A-Za-z0-9_-]{1,256}$/;
const CONVERSATIONS = '/v1/conversations';
const RESPONSES = ['/v1/responses/', '/responses/'];
const OBJECT_METHODS = new Set(['GET', 'POST', 'DELETE']);
/** Percent-encoding, empty or dot segments: not a path this processor reads ids from (Envoy normalises them when configured to). */
const UNREAD_PATH = /%|\/\/|\/\.\.?(\/|$)/;
/** Paths under /v1/responses/ that are inference calls, not object ids. */
const NOT_OBJECT_IDS = new Set(['compact', 'input_tokens']);

function idAfter(path: string, prefix: string): string | undefined {
  const rest = path.slice(prefix.length);
  const end = rest.indexOf('/');
  const id = end < 0 ? rest : rest.slice(0, end);
  return OBJECT_ID.test(id) ? id : undefined;
}

export function storedObjectCall(view: RequestView): StoredObjectCall | undefined {
  const { path, method } = view;
  if (!OBJECT_METHODS.has(method) || UNREAD_PATH.test(path)) return undefined;
  if (path === CONVERSATIONS || path === `${CONVERSATIONS}/`) return method === 'POST' ? { kind: 'create_conversation', requires: ['conversations'] } : undefined;
  if (path.startsWith(`${CONVERSATIONS}/`)) {
    const id = idAfter(path, `${CONVERSATIONS}/`);
    return id ? { kind: 'conversation', id, requires: ['conversations'] } : undefined;
  }
  const prefix = RESPONSES.find((candidate) => path.startsWith(candidate));
  if (prefix) {
    const id = idAfter(path, prefix);
    return id && !NOT_OBJECT_IDS.has(id) ? { kind: 'response', id, requires: ['stored_responses'] } : undefined;
  }
  return undefined;
}
