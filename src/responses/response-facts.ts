/** What a successful response tells about the account's state. */
export interface ResponseFacts {
  readonly responseId?: string;
  /** What the response object says of its storage (`store`); undefined when it says nothing. */
  readonly stored: boolean | undefined;
  /** Output items carrying encrypted_content: readable in this account's domain. */
  readonly encryptedItemIds: readonly string[];
  /** Output items of a stored response: can come back by id, on this exact account. */
  readonly storedItemIds: readonly string[];
  /** The conversation the response was added to. */
  readonly conversationId?: string;
  readonly inputTokens?: number;
  readonly cachedTokens?: number;
}

interface ResponseObject {
  id?: unknown;
  object?: unknown;
  output?: unknown;
  store?: unknown;
  conversation?: unknown;
  usage?: { input_tokens?: unknown; input_tokens_details?: { cached_tokens?: unknown }; prompt_tokens?: unknown; prompt_tokens_details?: { cached_tokens?: unknown } };
}

export const NO_FACTS: ResponseFacts = Object.freeze({ stored: undefined, encryptedItemIds: [], storedItemIds: [] });

function conversationIdOf(value: unknown): string | undefined {
  if (typeof value === 'string' && value !== '') return value;
  if (value !== null && typeof value === 'object' && typeof (value as { id?: unknown }).id === 'string') return (value as { id: string }).id || undefined;
  return undefined;
}

/** Reads a Responses API response object (or a Chat Completions one, or a created conversation). */
export function factsFromResponseObject(value: unknown): ResponseFacts {
  if (value === null || typeof value !== 'object') return NO_FACTS;
  const response = value as ResponseObject;
  if (response.object === 'conversation') {
    const conversationId = conversationIdOf(response.id);
    return conversationId ? { ...NO_FACTS, conversationId } : NO_FACTS;
  }
  const stored = typeof response.store === 'boolean' ? response.store : undefined;
  const encryptedItemIds: string[] = [];
  // Kept for a response that does not say: the request's own store decides (see learn-response).
  const storedItemIds: string[] = [];
  if (Array.isArray(response.output)) {
    for (const item of response.output as Array<{ id?: unknown; encrypted_content?: unknown }>) {
      if (!item || typeof item.id !== 'string') continue;
      if (typeof item.encrypted_content === 'string' && item.encrypted_content !== '') encryptedItemIds.push(item.id);
      if (stored !== false) storedItemIds.push(item.id);
    }
  }
  const usage = response.usage;
  const inputTokens = usage?.input_tokens ?? usage?.prompt_tokens;
  const cachedTokens = usage?.input_tokens_details?.cached_tokens ?? usage?.prompt_tokens_details?.cached_tokens;
  const conversationId = conversationIdOf(response.conversation);
  return {
    ...(typeof response.id === 'string' && response.id !== '' ? { responseId: response.id } : {}),
    stored,
    encryptedItemIds,
    storedItemIds,
    ...(conversationId ? { conversationId } : {}),
    ...(typeof inputTokens === 'number' ? { inputTokens } : {}),
    ...(typeof cachedTokens === 'number' ? { cachedTokens } : {}),
  };
}
