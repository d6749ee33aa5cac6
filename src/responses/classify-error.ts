/**
 * What an upstream error means for routing, from its status and body, in both
 * the OpenAI shape ({"error":{"code","type","message",...}}) and the ChatGPT
 * backend shape ({"detail": ...}, or an OpenAI envelope with code null).
 */
export type ErrorClass =
  /** the account cannot read the request's encrypted content: session is account-bound */
  | 'invalid_encrypted_content'
  /** previous_response_id unknown on this account: session is account-bound */
  | 'previous_response_not_found'
  /** a stored item referenced by id is unknown on this account: session is account-bound */
  | 'item_not_found'
  /** a conversation or stored response named in the request or path is unknown on this account */
  | 'stored_object_not_found'
  /** a request larger than the account's per-minute token limit: about this request, not the account */
  | 'request_too_large'
  | 'rate_limit_exceeded'
  | 'usage_limit_reached'
  | 'insufficient_quota'
  | 'server_is_overloaded'
  | 'context_length_exceeded'
  | 'unsupported_parameter'
  /** the credential or the account itself is unusable (401, or a 403 that says so) */
  | 'credentials'
  /** a 403 about this request (e.g. no access to the model): the account is fine */
  | 'forbidden'
  | 'server_error'
  | 'other';

export interface ErrorClassification {
  readonly errorClass: ErrorClass;
  /** When the account may be used again, when the upstream said (epoch ms). */
  readonly resetAt?: number;
}

interface ErrorFields {
  code?: string;
  type?: string;
  message: string;
  resetsAt?: number;
  resetsInSeconds?: number;
}

/** Messages are read up to this length: the patterns run in time bounded by it, whatever the upstream sends. */
const MESSAGE_READ_LIMIT = 2048;

function fieldsOf(body: unknown): ErrorFields {
  const fields = readFields(body);
  return fields.message.length > MESSAGE_READ_LIMIT ? { ...fields, message: fields.message.slice(0, MESSAGE_READ_LIMIT) } : fields;
}

function readFields(body: unknown): ErrorFields {
  if (body === null || typeof body !== 'object') return { message: typeof body === 'string' ? body : '' };
  const record = body as Record<string, unknown>;
  if (typeof record.detail === 'string') return { message: record.detail };
  if (record.detail && typeof record.detail === 'object') return readFields(record.detail);
  const error = (record.error && typeof record.error === 'object' ? record.error : record) as Record<string, unknown>;
  const number = (value: unknown): number | undefined => (typeof value === 'number' && Number.isFinite(value) ? value : typeof value === 'string' && /^\d+(\.\d+)?$/.test(value) ? Number(value) : undefined);
  return {
    ...(typeof error.code === 'string' ? { code: error.code } : {}),
    ...(typeof error.type === 'string' ? { type: error.type } : {}),
    message: typeof error.message === 'string' ? error.message : '',
    ...(number(error.resets_at) !== undefined ? { resetsAt: number(error.resets_at)! } : {}),
    ...(number(error.resets_in_seconds) !== undefined ? { resetsInSeconds: number(error.resets_in_seconds)! } : {}),
  };
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "Please try again in 20s" / "in 1.5s" / "in 120ms" / "in 6m0s" / "in 1h2m3s" → milliseconds. */
export function parseTryAgainIn(message: string): number | undefined {
  const match = /try again in ((?:\d+(?:\.\d+)?(?:ms|s|m|h)\s*)+)/i.exec(message);
  if (!match) return undefined;
  let total = 0;
  for (const part of match[1]!.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) total += Number(part[1]) * DURATION_UNITS[part[2]!]!;
  return total > 0 ? total : undefined;
}

/** Codes that say the credential or the account cannot be used at all. */
const CREDENTIAL_CODES = new Set(['invalid_api_key', 'account_deactivated', 'organization_deactivated', 'invalid_organization', 'token_expired', 'token_invalidated']);
/** A 401/403 that speaks of the key, the account or the organisation being unusable. Bounded, no backtracking. */
const ACCOUNT_UNUSABLE = /\b(api key|account|organization|organisation|workspace)\b[^.]{0,60}\b(deactivated|disabled|suspended|revoked|banned|invalid)\b/i;

/**
 * Codes that say the error is about this request (its model, its parameters), never
 * about the account: with one of them, no message text can change account state.
 * `invalid_request_error` is the ChatGPT backend's generic code for a bad request
 * (its message is still read for a refused session state, which changes no account
 * state). The *type* invalid_request_error says nothing here: OpenAI sends it with
 * invalid_api_key and with an account-deactivated message too.
 */
function isPerRequestCode(code: string): boolean {
  return (
    code === 'model_not_found' ||
    code.startsWith('unsupported_') ||
    code.startsWith('invalid_') ||
    code.startsWith('missing_') ||
    code.startsWith('mutually_exclusive_') ||
    /_(above_max|below_min)_/.test(code)
  );
}

const QUOTES = '`"\'';
const WORD = /[\p{L}\p{N}_]/u;

/**
 * The message without the spans the upstream quotes, which is where it copies values
 * from the request (model, project, item and parameter names): text in backticks,
 * double quotes and single quotes (a single quote inside a word is an apostrophe, not a
 * quote). Each span runs from its opening quote to the last quote of the same kind, so a
 * quoted value that itself contains that quote character is removed whole; a quote that
 * is never closed (a message cut at the read limit) removes the rest of the message.
 * One pass over the (bounded) message, no regular expression: linear time.
 */
export function withoutQuotedSpans(message: string): string {
  const isWord = (index: number): boolean => index >= 0 && index < message.length && WORD.test(message[index]!);
  const opensQuote = (index: number): boolean => message[index] !== "'" || !isWord(index - 1);
  const closesQuote = (index: number): boolean => message[index] !== "'" || !isWord(index + 1);
  const last = new Map<string, number>();
  for (let index = message.length - 1; index >= 0; index--) {
    const char = message[index]!;
    if (QUOTES.includes(char) && !last.has(char) && closesQuote(index)) last.set(char, index);
  }
  let out = '';
  let from = 0;
  for (let index = 0; index < message.length; index++) {
    const char = message[index]!;
    if (!QUOTES.includes(char) || !opensQuote(index)) continue;
    const close = last.get(char) ?? -1;
    out += `${message.slice(from, index)}${char}${char}`;
    if (close <= index) return out;
    index = close;
    from = close + 1;
  }
  return out + message.slice(from);
}

export function classifyError(status: number, body: unknown, now: number): ErrorClassification {
  const fields = fieldsOf(body);
  const code = fields.code ?? '';
  const type = fields.type ?? '';
  // Every pattern below reads the upstream's own words only: quoted request values are gone.
  const message = withoutQuotedSpans(fields.message);
  const lower = message.toLowerCase();

  // 1. A structured code (or type) that names a class decides.
  if (code === 'invalid_encrypted_content') return { errorClass: 'invalid_encrypted_content' };
  if (code === 'previous_response_not_found') return { errorClass: 'previous_response_not_found' };
  if (code === 'usage_limit_reached' || type === 'usage_limit_reached') return usageLimit(fields, now);
  if (code === 'insufficient_quota' || type === 'insufficient_quota') return { errorClass: 'insufficient_quota' };
  if (code === 'rate_limit_exceeded' || type === 'rate_limit_exceeded') {
    // The same code, for one request larger than the per-minute limit: the sentence starts so.
    return lower.startsWith('request too large') ? { errorClass: 'request_too_large' } : rateLimit(message, now);
  }
  if (code === 'server_is_overloaded') return { errorClass: 'server_is_overloaded' };
  if (code === 'context_length_exceeded') return { errorClass: 'context_length_exceeded' };
  if (code === 'unsupported_parameter') return { errorClass: 'unsupported_parameter' };
  if (CREDENTIAL_CODES.has(code)) return { errorClass: 'credentials' };

  // 2. No such code (absent, null, generic or unknown): the message, then the status.
  const perRequestCode = isPerRequestCode(code);
  // Meanings about this request or this session alone (no account state changes):
  // read unless a specific code says what the request's problem is.
  const requestText = !perRequestCode || code === 'invalid_request_error';
  // Meanings that change account state: never with a code that says the request is the problem,
  // and each only on the statuses where it is possible.
  const accountText = !perRequestCode;
  if (requestText) {
    if (/encrypted content.*could not be (verified|decrypted)/i.test(message)) return { errorClass: 'invalid_encrypted_content' };
    // The ChatGPT backend's fixed sentence names the parameter in backticks: matched on the
    // message as sent, from its start, where no value from the request stands.
    if (/previous response with id .* not found/i.test(message) || /^invalid `?previous_response_id`?(\.|\s|$)/i.test(fields.message.trimStart())) {
      return { errorClass: 'previous_response_not_found' };
    }
    if (/item with id .* not found/i.test(message)) return { errorClass: 'item_not_found' };
    if (status === 404 && (lower.includes('conversation') || lower.includes('response')) && lower.includes('not found')) return { errorClass: 'stored_object_not_found' };
  }
  if (accountText && status === 429 && lower.includes('usage limit')) return usageLimit(fields, now);
  if (requestText && lower.startsWith('request too large')) return { errorClass: 'request_too_large' };
  if (status === 429) return rateLimit(message, now);
  if (accountText && status >= 500 && lower.includes('overloaded')) return { errorClass: 'server_is_overloaded' };
  if (requestText && (lower.includes('context window') || lower.includes('maximum context length'))) return { errorClass: 'context_length_exceeded' };
  if (requestText && lower.startsWith('unsupported parameter')) return { errorClass: 'unsupported_parameter' };
  if (status === 401 || (status === 403 && accountText && ACCOUNT_UNUSABLE.test(message))) return { errorClass: 'credentials' };
  if (status === 403) return { errorClass: 'forbidden' };
  if (status >= 500) return { errorClass: 'server_error' };
  return { errorClass: 'other' };
}

function usageLimit(fields: ErrorFields, now: number): ErrorClassification {
  const resetAt = fields.resetsAt !== undefined ? fields.resetsAt * 1000 : fields.resetsInSeconds !== undefined ? now + fields.resetsInSeconds * 1000 : undefined;
  return { errorClass: 'usage_limit_reached', ...(resetAt !== undefined && resetAt > now ? { resetAt } : {}) };
}

function rateLimit(message: string, now: number): ErrorClassification {
  const wait = parseTryAgainIn(message);
  return { errorClass: 'rate_limit_exceeded', ...(wait !== undefined ? { resetAt: now + wait } : {}) };
}

/** Classes that say the session's state lives on the account that answered. */
export function isAccountBoundError(errorClass: ErrorClass): boolean {
  return errorClass === 'invalid_encrypted_content' || errorClass === 'previous_response_not_found' || errorClass === 'item_not_found' || errorClass === 'stored_object_not_found';
}
