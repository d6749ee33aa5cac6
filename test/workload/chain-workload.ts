// runResponsesChainWorkload: OpenAI SDK-style conversations chained with store:true and
// previous_response_id (no session headers, only the new user message per request).
import http from 'node:http';
import { ACCOUNT_HEADER } from './codex-workload.js';
import { postResponses } from './http-client.js';
import { classify, errorCodeOf, runPool, summarize, usageOf, type RequestRecord, type WorkloadStats } from './stats.js';

export interface ChainWorkloadOptions {
  baseUrl: string;
  chains: number;
  turns: number;
  concurrency: number;
  seed: number;
  pathPrefix?: string;
  stream?: boolean;
  model?: string;
  clientKey?: string;
  timeoutMs?: number;
  onProgress?: (record: RequestRecord) => void;
}

export async function runResponsesChainWorkload(opts: ChainWorkloadOptions): Promise<WorkloadStats> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: Math.max(1, opts.concurrency) * 2 });
  const url = new URL(opts.pathPrefix ?? '/v1/responses', opts.baseUrl).toString();
  const records: RequestRecord[] = [];
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: opts.stream ? 'text/event-stream' : 'application/json',
    authorization: `Bearer ${opts.clientKey ?? 'sk-client-fake'}`,
    'user-agent': 'OpenAI/JS 5.12.0',
    'x-stainless-lang': 'js',
    'x-stainless-package-version': '5.12.0',
  };
  try {
    await runPool(opts.chains, opts.concurrency, async (chainIndex) => {
      const chain = `chain-${opts.seed}-${chainIndex}`;
      let previous: string | null = null;
      for (let turn = 0; turn < opts.turns; turn++) {
        const body: Record<string, unknown> = {
          model: opts.model ?? 'gpt-5.1',
          input: [{ role: 'user', content: `Chain ${chainIndex} question ${turn}.` }],
          store: true,
        };
        if (previous) body.previous_response_id = previous;
        if (opts.stream) body.stream = true;
        const result = await postResponses(url, headers, body, { agent, timeoutMs: opts.timeoutMs });
        const failure = classify(result);
        const usage = usageOf(result);
        const responseId = typeof result.response?.id === 'string' ? result.response.id : null;
        const rec: RequestRecord = {
          session: chain,
          sessionIndex: chainIndex,
          turn,
          step: 0,
          status: result.status,
          ok: failure === null,
          failure,
          errorCode: failure ? errorCodeOf(result) : null,
          account: result.headers[ACCOUNT_HEADER] ?? null,
          inputTokens: usage.input,
          cachedTokens: usage.cached,
          turnStateSent: null,
          turnStateReceived: result.headers['x-codex-turn-state'] ?? null,
          responseId,
          durationMs: result.durationMs,
        };
        records.push(rec);
        opts.onProgress?.(rec);
        if (!failure && responseId) previous = responseId;
      }
    });
  } finally {
    agent.destroy();
  }
  return summarize(records, opts.chains);
}
