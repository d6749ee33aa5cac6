import type { ImmediateAnswer } from '../extproc/phase-answer.js';

/** An OpenAI-style error answered by the processor itself (no secrets, no client values). */
export function openAiError(status: number, code: string, message: string, type = 'invalid_request_error', param: string | null = null): ImmediateAnswer {
  return {
    status,
    headers: [
      ['content-type', 'application/json'],
      ['x-codex-affinity-error', code],
    ],
    body: JSON.stringify({ error: { message, type, param, code } }),
    details: `codex_affinity_${code}`,
  };
}

/** The answer to a stream beyond `grpc.maxOpenStreams`: refused at once, retryable. */
export function processorOverloaded(): ImmediateAnswer {
  return openAiError(503, 'processor_overloaded', 'The gateway is handling too many requests. Retry shortly.', 'server_error');
}

/** The answer to a request the processor could not decide: fail closed, retryable. */
export function processorUnavailable(): ImmediateAnswer {
  return openAiError(503, 'processor_unavailable', 'The gateway could not route this request to an upstream account. Retry shortly.', 'server_error');
}
