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
/** A 403 that speaks of the key, the account or the organisation being unusable. Bounded, no backtracking. */
const ACCOUNT_UNUSABLE = /\b(api key|account|organization|organisation|workspace)\b[^.]{0,60}\b(deactivated|disabled|suspended|revoked|banned|invalid)\b/i;

export function classifyError(status: number, body: unknown, now: number): ErrorClassification {
  const fields = fieldsOf(body);
  const code = fields.code ?? '';
  const type = fields.type ?? '';
  const message = fields.message;
  const lower = message.toLowerCase();
  if (code === 'invalid_encrypted_content' || /encrypted content.*could not be (verified|decrypted)/i.test(message)) {
    return { errorClass: 'invalid_encrypted_content' };
  }
  if (code === 'previous_response_not_found' || /previous response with id .* not found/i.test(message) || /invalid `?previous_response_id`?/i.test(message)) {
    return { errorClass: 'previous_response_not_found' };
  }
  if (/item with id .* not found/i.test(message)) return { errorClass: 'item_not_found' };
  if (status === 404 && (lower.includes('conversation') || lower.includes('response')) && lower.includes('not found')) return { errorClass: 'stored_object_not_found' };
  if (code === 'usage_limit_reached' || type === 'usage_limit_reached' || lower.includes('usage limit')) {
    const resetAt = fields.resetsAt !== undefined ? fields.resetsAt * 1000 : fields.resetsInSeconds !== undefined ? now + fields.resetsInSeconds * 1000 : undefined;
    return { errorClass: 'usage_limit_reached', ...(resetAt !== undefined && resetAt > now ? { resetAt } : {}) };
  }
  if (code === 'insufficient_quota' || type === 'insufficient_quota') return { errorClass: 'insufficient_quota' };
  if (lower.includes('request too large')) return { errorClass: 'request_too_large' };
  if (code === 'rate_limit_exceeded' || type === 'rate_limit_exceeded' || status === 429) {
    const wait = parseTryAgainIn(message);
    return { errorClass: 'rate_limit_exceeded', ...(wait !== undefined ? { resetAt: now + wait } : {}) };
  }
  if (code === 'server_is_overloaded' || lower.includes('overloaded')) return { errorClass: 'server_is_overloaded' };
  if (code === 'context_length_exceeded' || lower.includes('context window') || lower.includes('maximum context length')) {
    return { errorClass: 'context_length_exceeded' };
  }
  if (code === 'unsupported_parameter' || lower.startsWith('unsupported parameter')) return { errorClass: 'unsupported_parameter' };
  if (status === 401 || CREDENTIAL_CODES.has(code) || (status === 403 && ACCOUNT_UNUSABLE.test(message))) return { errorClass: 'credentials' };
  if (status === 403) return { errorClass: 'forbidden' };
  if (status >= 500) return { errorClass: 'server_error' };
  return { errorClass: 'other' };
}

/** Classes that say the session's state lives on the account that answered. */
export function isAccountBoundError(errorClass: ErrorClass): boolean {
  return errorClass === 'invalid_encrypted_content' || errorClass === 'previous_response_not_found' || errorClass === 'item_not_found' || errorClass === 'stored_object_not_found';
}
