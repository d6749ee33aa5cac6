// Error bodies as the real upstreams send them. Sources (facts only, no text copied beyond
// the error strings themselves):
// - OpenAI envelope {"error":{"message","type","param","code"}}: every OpenAI API error.
// - invalid_encrypted_content: openai/codex issues #8119, #8123, #8128, #8132, #8145 (Dec 2025,
//   ChatGPT-plan and API-key users alike, same envelope, type invalid_request_error, param null,
//   code invalid_encrypted_content). Newer wording "The encrypted content for item <id> could not be
//   verified. Reason: Encrypted content could not be decrypted or parsed." from openai/codex #35334
//   (item cmp_…, Codex App on a Pro plan) and smallmain/vscode-unify-chat-provider #178 (item rs_…).
// - previous_response_not_found: maximhq/bifrost #2441 ("Previous response with id '…' not found.",
//   code previous_response_not_found); param previous_response_id per Soju06/codex-lb PR #1817, which
//   also records the ChatGPT Codex backend's terse form {"message":"Invalid `previous_response_id`.",
//   "type":"invalid_request_error","code":"invalid_request_error"}.
// - rate_limit_exceeded wording: "Rate limit reached for <model> in organization <org> on tokens per min
//   (TPM): Limit …, Used …, Requested …. Please try again in <t>. Visit https://platform.openai.com/account/rate-limits
//   to learn more." (continuedev/continue #10502, BuilderIO/micro-agent #86).
// - usage_limit_reached (ChatGPT backend, 429): openai/codex codex-rs/codex-api/src/api_bridge.rs reads
//   error.type == "usage_limit_reached", error.plan_type, error.resets_at (epoch seconds); codex-lb notes the
//   message "The usage limit has been reached"; resets_in_seconds appears in proxies' parsers of the same body.
// - 503 server_is_overloaded: api_bridge.rs maps 503 + error.code server_is_overloaded|slow_down to
//   ServerOverloaded; message "Our servers are currently overloaded. Please try again later." (sub2api #5909).
// - ChatGPT backend 400s {"detail":"…"}: "Unsupported parameter: max_output_tokens" (link-assistant/router #39,
//   decolua/9router #812, RayBytes/ChatMock #103), "Instructions are required" (link-assistant/router #39),
//   "Store must be set to false" (router-for-me/CLIProxyAPI #41, cline #9523, openai/codex #26173),
//   "Stream must be set to true" (leookun/cursor-byok #14, QuantumNous/new-api #5031).
// - ChatGPT backend 401 {"detail":"Unauthorized"}: codex-rs api_bridge_tests.rs (backend-api/codex/models).
// - 404 "Item with id '…' not found. Items are not persisted when `store` is set to false. …": public API
//   behaviour for a reasoning item sent by id only (wording from memory of the API, not re-verified here).
//   A public gateway's notes from live calls (2026-09-07) record the same sentence for an `item_reference` /
//   reasoning id the project does not hold ("Item with id 'rs_…' not found. Items are not persisted when
//   `store` is set to false."), HTTP 404, type invalid_request_error. The fake answers item_reference ids
//   the exact account did not store with this body too; ASSUMED the same for a message / function_call
//   sent with nothing but type and id.
// - 404 "Conversation with id 'conv_…' not found.", type invalid_request_error, param null, code null:
//   GET/DELETE /v1/conversations/{id} of an unknown or deleted id (public API-scenario write-ups of
//   api.openai.com), and POST /v1/responses with an unknown `conversation` (a public proxy's parity test of
//   live api.openai.com observations, 2026-08-30: status 404, param null, code null, same sentence; the same
//   gateway notes as above). So the code is null there; ASSUMED only that `conversation: {"id": …}` answers
//   like the string form.
// - 400 mutually exclusive previous_response_id + conversation: code mutually_exclusive_parameters, param
//   null (the same proxy's conformance notes of live observations; several open-source Responses servers
//   use the same code and type). The sentence
//   varies between captures ("Mutually exclusive parameters: …" / "Mutually exclusive parameters. …"); the
//   fake uses the colon form.
// - Conversation object {"id":"conv_…","object":"conversation","created_at","metadata"} and the delete answer
//   {"id","object":"conversation.deleted","deleted":true}: OpenAI API reference (Conversations).
// Bodies marked ASSUMED below are plausible shapes where no source was found.

export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}
export interface DetailBody {
  detail: string;
}

export function openaiError(message: string, type: string, param: string | null, code: string | null): OpenAIErrorBody {
  return { error: { message, type, param, code } };
}

export type EncryptedMessageStyle = 'item' | 'item-reason';

export function invalidEncryptedContent(
  itemId: string,
  opts: { code?: string | null; style?: EncryptedMessageStyle } = {},
): OpenAIErrorBody {
  const base = `The encrypted content for item ${itemId} could not be verified.`;
  const message = opts.style === 'item' ? base : `${base} Reason: Encrypted content could not be decrypted or parsed.`;
  const code = opts.code === undefined ? 'invalid_encrypted_content' : opts.code;
  return openaiError(message, 'invalid_request_error', null, code);
}

export function previousResponseNotFound(id: string): OpenAIErrorBody {
  return openaiError(`Previous response with id '${id}' not found.`, 'invalid_request_error', 'previous_response_id', 'previous_response_not_found');
}

/** ChatGPT Codex backend's answer to an unresolvable previous_response_id (codex-lb PR #1817). */
export function chatgptInvalidPreviousResponse(): { error: { message: string; type: string; code: string } } {
  return { error: { message: 'Invalid `previous_response_id`.', type: 'invalid_request_error', code: 'invalid_request_error' } };
}

export function itemNotFound(itemId: string): OpenAIErrorBody {
  return openaiError(
    `Item with id '${itemId}' not found. Items are not persisted when \`store\` is set to false. Try again with \`store\` set to true, or remove this item from your input.`,
    'invalid_request_error',
    'input',
    null,
  );
}

/** 404 for a conversation id the exact account does not hold (GET/DELETE /v1/conversations/{id}, POST /v1/responses). */
export function conversationNotFound(id: string): OpenAIErrorBody {
  return openaiError(`Conversation with id '${id}' not found.`, 'invalid_request_error', null, null);
}

export function mutuallyExclusivePreviousResponseAndConversation(): OpenAIErrorBody {
  return openaiError(
    "Mutually exclusive parameters: Ensure you are only providing one of: 'previous_response_id' or 'conversation'.",
    'invalid_request_error',
    null,
    'mutually_exclusive_parameters',
  );
}

/** `conversation` that is neither a string nor {"id": string}. Wording follows the API's invalid_type sentences; ASSUMED for this parameter. */
export function invalidConversationType(got: string): OpenAIErrorBody {
  return openaiError(
    `Invalid type for 'conversation': expected one of a string or an object, but got ${got} instead.`,
    'invalid_request_error',
    'conversation',
    'invalid_type',
  );
}

export function rateLimitExceeded(model: string, org: string, retryAfterSeconds: number, limit = 30000, requested = 1000): OpenAIErrorBody {
  const used = Math.max(0, limit - Math.floor(requested / 2));
  return openaiError(
    `Rate limit reached for ${model} in organization ${org} on tokens per min (TPM): Limit ${limit}, Used ${used}, Requested ${requested}. Please try again in ${retryAfterSeconds}s. Visit https://platform.openai.com/account/rate-limits to learn more.`,
    'tokens',
    null,
    'rate_limit_exceeded',
  );
}

export interface UsageLimitBody {
  error: { type: 'usage_limit_reached'; message: string; plan_type: string; resets_at: number; resets_in_seconds: number };
}

export function usageLimitReached(planType: string, resetsInSeconds: number, nowMs = Date.now()): UsageLimitBody {
  return {
    error: {
      type: 'usage_limit_reached',
      message: 'The usage limit has been reached',
      plan_type: planType,
      resets_at: Math.floor(nowMs / 1000) + resetsInSeconds,
      resets_in_seconds: resetsInSeconds,
    },
  };
}

export function insufficientQuota(): OpenAIErrorBody {
  return openaiError(
    'You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.',
    'insufficient_quota',
    null,
    'insufficient_quota',
  );
}

export type ServerErrorCode = 'server_error' | 'server_is_overloaded' | 'slow_down' | 'bad_gateway';

/** 5xx bodies. server_is_overloaded / slow_down: sourced (see above). 500/502 wording: ASSUMED. */
export function serverError(code: ServerErrorCode): OpenAIErrorBody {
  switch (code) {
    case 'server_is_overloaded':
      return openaiError('Our servers are currently overloaded. Please try again later.', 'server_error', null, 'server_is_overloaded');
    case 'slow_down':
      return openaiError('Please slow down.', 'server_error', null, 'slow_down');
    case 'bad_gateway':
      return openaiError('Bad gateway.', 'server_error', null, null);
    default:
      return openaiError(
        'The server had an error while processing your request. Sorry about that!',
        'server_error',
        null,
        null,
      );
  }
}

export function invalidApiKey(): OpenAIErrorBody {
  return openaiError(
    'Incorrect API key provided: sk-fake***. You can find your API key at https://platform.openai.com/account/api-keys.',
    'invalid_request_error',
    null,
    'invalid_api_key',
  );
}

export function detail(message: string): DetailBody {
  return { detail: message };
}

export function invalidUrl(method: string, path: string): OpenAIErrorBody {
  return openaiError(`Invalid URL (${method} ${path})`, 'invalid_request_error', null, null);
}

export function invalidJson(): OpenAIErrorBody {
  return openaiError(
    'We could not parse the JSON body of your request. (HINT: This likely means you aren\'t using your HTTP library correctly.)',
    'invalid_request_error',
    null,
    null,
  );
}

/**
 * ASSUMED: the real backend's answer to an x-codex-turn-state it did not issue is undocumented
 * (no public capture found). The fake answers 400 with this body by default; both are one setting
 * (FakeAccountOptions.foreignTurnState).
 */
export function foreignTurnStateDefault(): OpenAIErrorBody {
  return openaiError('Invalid x-codex-turn-state.', 'invalid_request_error', null, 'invalid_turn_state');
}

/** The code a test or the request log uses for any error body shape. */
export function errorCodeOf(body: unknown): string | null {
  if (typeof body !== 'object' || body === null) return null;
  const b = body as Record<string, unknown>;
  if (typeof b.detail === 'string') return b.detail;
  const e = b.error as Record<string, unknown> | undefined;
  if (e && typeof e === 'object') {
    if (typeof e.code === 'string') return e.code;
    if (typeof e.type === 'string') return e.type;
  }
  return null;
}
