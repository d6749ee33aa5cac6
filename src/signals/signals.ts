import type { BodyScan, Span } from '../body/json-scan.js';
import { isStoredReference } from '../body/json-scan.js';
import { decodeSpan, stringAt } from '../body/json-scan.js';

/** Where a sticky key came from, in the names metrics and logs use. */
export type SignalSource =
  | 'turn_state'
  | 'session_header'
  | 'thread_header'
  | 'window_id'
  | 'turn_metadata'
  | 'prompt_cache_key'
  | 'client_metadata'
  | 'conversation'
  | 'previous_response'
  | 'encrypted_item'
  | 'stored_item'
  | 'parent_thread'
  | 'content_seed';

/** Everything a request tells about its session, raw (never logged or stored as is). */
export interface Signals {
  readonly turnState?: string;
  readonly sessionHeader?: string;
  readonly threadHeader?: string;
  readonly windowThread?: string;
  readonly turnMetadataSession?: string;
  readonly promptCacheKey?: string;
  readonly clientMetadataSession?: string;
  readonly conversation?: string;
  readonly previousResponseId?: string;
  readonly parentThread?: string;
  /** True when an input item carries non-empty encrypted_content. */
  readonly hasEncryptedContent: boolean;
  /** Ids of input items carrying encrypted_content (reasoning, compaction): readable in their domain. */
  readonly encryptedItemIds: readonly string[];
  /** True when an input item refers to a stored item (item_reference, reasoning by id). */
  readonly hasStoredReference: boolean;
  /** Ids of stored-item references: readable on the exact account that stored them. */
  readonly storedItemIds: readonly string[];
  /** The body's `store` when it is a literal boolean (the API's default is true). */
  readonly store: boolean | undefined;
  /** `background: true`: the upstream keeps the response to be polled. */
  readonly background: boolean;
}

/** Longest header or body value taken as a signal; longer ones are ignored. */
export const MAX_SIGNAL_LENGTH = 1024;
const MAX_TURN_METADATA_LENGTH = 16 * 1024;

function usable(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (trimmed === '' || trimmed.length > MAX_SIGNAL_LENGTH) return undefined;
  return trimmed;
}

function firstHeader(headers: ReadonlyMap<string, string>, names: readonly string[]): string | undefined {
  for (const name of names) {
    const value = usable(headers.get(name));
    if (value !== undefined) return value;
  }
  return undefined;
}

function windowThread(value: string | undefined): string | undefined {
  const window = usable(value);
  if (window === undefined) return undefined;
  const separator = window.lastIndexOf(':');
  return usable(separator > 0 ? window.slice(0, separator) : window);
}

function jsonObject(text: string | undefined, limit: number): Record<string, unknown> | undefined {
  if (text === undefined || text.length > limit) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function stringField(record: Record<string, unknown> | undefined, names: readonly string[]): string | undefined {
  if (record === undefined) return undefined;
  for (const name of names) {
    const value = record[name];
    if (typeof value === 'string') {
      const result = usable(value);
      if (result !== undefined) return result;
    }
  }
  return undefined;
}

export const SESSION_HEADERS = ['session-id', 'session_id'] as const;
export const THREAD_HEADERS = ['thread-id', 'thread_id', 'conversation_id', 'conversation-id'] as const;
export const TURN_STATE_HEADER = 'x-codex-turn-state';
const PARENT_THREAD_NAMES = ['x-codex-parent-thread-id', 'x-codex-forked-from-thread-id'] as const;
const CLIENT_METADATA_PARENT_NAMES = [...PARENT_THREAD_NAMES, 'parent_thread_id', 'forked_from_thread_id'] as const;

/** Invalid escapes inside a value make it no signal rather than an error. */
function tryDecode(body: Buffer, span: Span): unknown {
  try {
    return decodeSpan(body, span);
  } catch {
    return undefined;
  }
}

function tryString(body: Buffer, span: Span | undefined): string | undefined {
  try {
    return stringAt(body, span);
  } catch {
    return undefined;
  }
}

/** A literal true / false at the span; anything else is undefined. */
function booleanAt(body: Buffer, span: Span | undefined): boolean | undefined {
  if (!span) return undefined;
  const length = span.end - span.start;
  if (length === 4 && body.toString('latin1', span.start, span.end) === 'true') return true;
  if (length === 5 && body.toString('latin1', span.start, span.end) === 'false') return false;
  return undefined;
}

function bodySignals(body: Buffer, scan: BodyScan) {
  const fields = scan.fields;
  const clientMetadataSpan = fields.get('client_metadata');
  let clientMetadata: Record<string, unknown> | undefined;
  if (clientMetadataSpan && body[clientMetadataSpan.start] === 0x7b && clientMetadataSpan.end - clientMetadataSpan.start <= 64 * 1024) {
    clientMetadata = tryDecode(body, clientMetadataSpan) as Record<string, unknown> | undefined;
  }
  const conversationSpan = fields.get('conversation');
  let conversation: string | undefined;
  if (conversationSpan) {
    if (body[conversationSpan.start] === 0x7b) {
      conversation = stringField(tryDecode(body, conversationSpan) as Record<string, unknown> | undefined, ['id']);
    } else {
      conversation = usable(tryString(body, conversationSpan));
    }
  }
  const encryptedItemIds: string[] = [];
  const storedItemIds: string[] = [];
  let hasEncryptedContent = false;
  let hasStoredReference = false;
  for (const item of scan.inputItems ?? []) {
    const usableId = item.id !== undefined && item.id.length <= MAX_SIGNAL_LENGTH;
    if (item.hasEncryptedContent) {
      hasEncryptedContent = true;
      if (usableId) encryptedItemIds.push(item.id!);
    } else if (isStoredReference(item)) {
      hasStoredReference = true;
      if (usableId) storedItemIds.push(item.id!);
    }
  }
  return {
    store: booleanAt(body, fields.get('store')),
    background: booleanAt(body, fields.get('background')) === true,
    storedItemIds,
    promptCacheKey: usable(tryString(body, fields.get('prompt_cache_key'))),
    previousResponseId: usable(tryString(body, fields.get('previous_response_id'))),
    conversation,
    clientMetadataSession: stringField(clientMetadata, ['session_id']),
    clientMetadataParent: stringField(clientMetadata, CLIENT_METADATA_PARENT_NAMES),
    hasEncryptedContent,
    hasStoredReference,
    encryptedItemIds,
  };
}

/** Reads the signals from headers and (when there is one) a scanned JSON body. */
export function extractSignals(headers: ReadonlyMap<string, string>, body?: { buffer: Buffer; scan: BodyScan }): Signals {
  const turnMetadata = jsonObject(headers.get('x-codex-turn-metadata'), MAX_TURN_METADATA_LENGTH);
  const fromBody = body ? bodySignals(body.buffer, body.scan) : undefined;
  return {
    turnState: usable(headers.get(TURN_STATE_HEADER)),
    sessionHeader: firstHeader(headers, SESSION_HEADERS),
    threadHeader: firstHeader(headers, THREAD_HEADERS),
    windowThread: windowThread(headers.get('x-codex-window-id')),
    turnMetadataSession: stringField(turnMetadata, ['session_id']),
    promptCacheKey: fromBody?.promptCacheKey,
    clientMetadataSession: fromBody?.clientMetadataSession,
    conversation: fromBody?.conversation,
    previousResponseId: fromBody?.previousResponseId,
    parentThread: firstHeader(headers, PARENT_THREAD_NAMES) ?? fromBody?.clientMetadataParent,
    hasEncryptedContent: fromBody?.hasEncryptedContent ?? false,
    hasStoredReference: fromBody?.hasStoredReference ?? false,
    encryptedItemIds: fromBody?.encryptedItemIds ?? [],
    storedItemIds: fromBody?.storedItemIds ?? [],
    store: fromBody?.store,
    background: fromBody?.background ?? false,
  };
}
