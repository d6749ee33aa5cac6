import type { ImmediateAnswer } from '../extproc/phase-answer.js';

/** An OpenAI-style error answered by the processor itself (no secrets, no client values). */
export function openAiError(status: number, code: string, message: string, type = 'invalid_request_error'): ImmediateAnswer {
  return {
    status,
    headers: [
      ['content-type', 'application/json'],
      ['x-codex-affinity-error', code],
    ],
    body: JSON.stringify({ error: { message, type, param: null, code } }),
    details: `codex_affinity_${code}`,
  };
}
