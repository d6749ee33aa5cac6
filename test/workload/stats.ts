// Classifying failures and aggregating workload statistics.
import type { ResponsesResult } from './http-client.js';

export type FailureClass = 'invalid_encrypted_content' | 'previous_response_not_found' | 'rate_limit' | '5xx' | 'network' | 'other';

export interface RequestRecord {
  session: string;
  sessionIndex: number;
  turn: number;
  /** 0 for the first request of a turn, 1.. for tool-call follow-ups (or chain step). */
  step: number;
  status: number;
  ok: boolean;
  failure: FailureClass | null;
  /** error.code / error.type / detail string / network message. */
  errorCode: string | null;
  /** The x-fake-account response header. Test-only: a real upstream does not send it. */
  account: string | null;
  inputTokens: number;
  cachedTokens: number;
  turnStateSent: string | null;
  turnStateReceived: string | null;
  responseId: string | null;
  durationMs: number;
}

export interface WorkloadStats {
  requests: number;
  succeeded: number;
  sessions: number;
  failed: Record<FailureClass, number>;
  failedTotal: number;
  inputTokens: number;
  cachedTokens: number;
  /** sum cached_tokens / sum input_tokens over successful requests (0 when no input). */
  cachedTokenRatio: number;
  /** Per session: the account that answered each request, in order (null when the header was absent). */
  sessionAccounts: Record<string, (string | null)[]>;
  records: RequestRecord[];
}

/** The error code of an OpenAI ({"error":{…}}), ChatGPT ({"detail"}) or in-stream response.failed body. */
export function errorCodeOf(result: ResponsesResult): string | null {
  if (result.networkError) return result.networkError;
  const fromBody = (b: unknown): string | null => {
    if (!b || typeof b !== 'object') return null;
    const o = b as Record<string, unknown>;
    if (typeof o.detail === 'string') return o.detail;
    const e = o.error as Record<string, unknown> | null | undefined;
    if (e && typeof e === 'object') return (typeof e.code === 'string' && e.code) || (typeof e.type === 'string' && e.type) || null;
    return null;
  };
  return fromBody(result.json) ?? (result.response?.status === 'failed' ? fromBody(result.response) : null);
}

function errorMessageOf(result: ResponsesResult): string {
  const src = (result.json ?? result.response) as { error?: { message?: unknown } } | null;
  return typeof src?.error?.message === 'string' ? src.error.message : '';
}

export function classify(result: ResponsesResult): FailureClass | null {
  const failedInStream = result.response?.status === 'failed';
  if (!result.networkError && result.status >= 200 && result.status < 300 && !failedInStream) return null;
  if (result.networkError) return 'network';
  const code = errorCodeOf(result) ?? '';
  const message = errorMessageOf(result);
  if (code === 'invalid_encrypted_content' || message.includes('could not be verified')) return 'invalid_encrypted_content';
  if (code === 'previous_response_not_found' || message.includes('previous_response_id')) return 'previous_response_not_found';
  if (result.status === 429 || code === 'rate_limit_exceeded' || code === 'usage_limit_reached' || code === 'insufficient_quota') return 'rate_limit';
  if (result.status >= 500) return '5xx';
  return 'other';
}

export function usageOf(result: ResponsesResult): { input: number; cached: number } {
  const usage = result.response?.usage as { input_tokens?: number; input_tokens_details?: { cached_tokens?: number } } | undefined;
  return { input: usage?.input_tokens ?? 0, cached: usage?.input_tokens_details?.cached_tokens ?? 0 };
}

export function summarize(records: RequestRecord[], sessions: number): WorkloadStats {
  const failed: Record<FailureClass, number> = {
    invalid_encrypted_content: 0,
    previous_response_not_found: 0,
    rate_limit: 0,
    '5xx': 0,
    network: 0,
    other: 0,
  };
  const sessionAccounts: Record<string, (string | null)[]> = {};
  let inputTokens = 0;
  let cachedTokens = 0;
  let succeeded = 0;
  const ordered = [...records].sort((a, b) => a.sessionIndex - b.sessionIndex || a.turn - b.turn || a.step - b.step);
  for (const r of ordered) {
    (sessionAccounts[r.session] ??= []).push(r.account);
    if (r.failure) failed[r.failure] += 1;
    else {
      succeeded += 1;
      inputTokens += r.inputTokens;
      cachedTokens += r.cachedTokens;
    }
  }
  return {
    requests: records.length,
    succeeded,
    sessions,
    failed,
    failedTotal: records.length - succeeded,
    inputTokens,
    cachedTokens,
    cachedTokenRatio: inputTokens > 0 ? cachedTokens / inputTokens : 0,
    sessionAccounts,
    records: ordered,
  };
}

/** Runs `count` jobs with at most `concurrency` in flight. */
export async function runPool(count: number, concurrency: number, job: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      await job(i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, count)) }, worker));
}
