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

/**
 * Ids of the items a stored-object call's body refers to (`items` of POST
 * /v1/conversations and /v1/conversations/{id}/items): item references, typed
 * or not. Undefined when the body is not a JSON object. These bodies are small
 * and rare, so they are parsed whole.
 */
export function referencedItemIds(body: Buffer): string[] | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const items = (parsed as { items?: unknown }).items;
  if (!Array.isArray(items)) return [];
  const ids: string[] = [];
  for (const item of items) {
    if (typeof item !== 'object' || item === null) continue;
    const { id, type, role } = item as { id?: unknown; type?: unknown; role?: unknown };
    if (typeof id !== 'string') continue;
    if (type === 'item_reference' || ((type === undefined || type === null) && role === undefined)) ids.push(id);
  }
  return ids;
}
