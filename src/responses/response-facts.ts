/** What a successful response tells about the account's state. */
export interface ResponseFacts {
  readonly responseId?: string;
  /** Items bound to this account: carrying encrypted_content, or any item of a stored response. */
  readonly encryptedItemIds: readonly string[];
  readonly inputTokens?: number;
  readonly cachedTokens?: number;
}

interface ResponseObject {
  id?: unknown;
  output?: unknown;
  store?: unknown;
  usage?: { input_tokens?: unknown; input_tokens_details?: { cached_tokens?: unknown }; prompt_tokens?: unknown; prompt_tokens_details?: { cached_tokens?: unknown } };
}

/** Reads a Responses API response object (or a Chat Completions one). */
export function factsFromResponseObject(value: unknown): ResponseFacts {
  if (value === null || typeof value !== 'object') return { encryptedItemIds: [] };
  const response = value as ResponseObject;
  const encryptedItemIds: string[] = [];
  if (Array.isArray(response.output)) {
    // Stored responses: every output item can come back by reference. Otherwise only
    // items carrying encrypted content are tied to this account.
    const stored = response.store === true;
    for (const item of response.output as Array<{ id?: unknown; encrypted_content?: unknown }>) {
      if (!item || typeof item.id !== 'string') continue;
      if (stored || (typeof item.encrypted_content === 'string' && item.encrypted_content !== '')) encryptedItemIds.push(item.id);
    }
  }
  const usage = response.usage;
  const inputTokens = usage?.input_tokens ?? usage?.prompt_tokens;
  const cachedTokens = usage?.input_tokens_details?.cached_tokens ?? usage?.prompt_tokens_details?.cached_tokens;
  return {
    ...(typeof response.id === 'string' && response.id !== '' ? { responseId: response.id } : {}),
    encryptedItemIds,
    ...(typeof inputTokens === 'number' ? { inputTokens } : {}),
    ...(typeof cachedTokens === 'number' ? { cachedTokens } : {}),
  };
}
