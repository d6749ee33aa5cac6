// runCodexWorkload: simulated Codex CLI 0.169.0 sessions. Per session a thread id; every turn appends a
// user message and resends the WHOLE history (store:false, encrypted reasoning items included). With
// toolCallsPerTurn > 0 each turn asks the fake for N tool calls ("[tool_calls=N]" in the user text, a
// directive only the fake upstream understands), answers each function_call with a function_call_output
// and replays the x-codex-turn-state received in that turn; the token is dropped at the next turn.
import http from 'node:http';
import { buildCodexRequest, initialHistory, userMessage, type HeaderStyle, type InputItem } from './codex-request.js';
import { postResponses, type ResponsesResult } from './http-client.js';
import { createRng } from './rng.js';
import { classify, errorCodeOf, runPool, summarize, usageOf, type RequestRecord, type WorkloadStats } from './stats.js';

export const ACCOUNT_HEADER = 'x-fake-account';

export interface CodexWorkloadOptions {
  baseUrl: string;
  sessions: number;
  turns: number;
  toolCallsPerTurn?: number;
  concurrency: number;
  seed: number;
  /** Path of the Responses endpoint. Default '/v1/responses'. */
  pathPrefix?: string;
  headerStyle?: HeaderStyle;
  /** 'exec-resume' (default): turns after the first are `codex exec resume` (history_initialization cold_resume). */
  resumeStyle?: 'exec-resume' | 'interactive';
  model?: string;
  /** Sent as body.instructions (the fixtures have none; the ChatGPT backend requires it). */
  instructions?: string;
  clientKey?: string;
  timeoutMs?: number;
  onProgress?: (record: RequestRecord) => void;
}

export async function runCodexWorkload(opts: CodexWorkloadOptions): Promise<WorkloadStats> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: Math.max(1, opts.concurrency) * 2 });
  const url = new URL(opts.pathPrefix ?? '/v1/responses', opts.baseUrl).toString();
  const records: RequestRecord[] = [];
  try {
    await runPool(opts.sessions, opts.concurrency, async (sessionIndex) => {
      await runSession(sessionIndex, opts, url, agent, (r) => {
        records.push(r);
        opts.onProgress?.(r);
      });
    });
  } finally {
    agent.destroy();
  }
  return summarize(records, opts.sessions);
}

async function runSession(
  sessionIndex: number,
  opts: CodexWorkloadOptions,
  url: string,
  agent: http.Agent,
  record: (r: RequestRecord) => void,
): Promise<void> {
  const rng = createRng(opts.seed, 'session', sessionIndex);
  const threadId = rng.uuid();
  const installationId = rng.uuid();
  const contextWindowId = rng.uuid();
  const history: InputItem[] = initialHistory(rng);
  const toolCalls = opts.toolCallsPerTurn ?? 0;

  for (let turn = 0; turn < opts.turns; turn++) {
    const turnId = rng.uuid();
    const turnStartedAtMs = rng.clockMs();
    const directive = toolCalls > 0 ? ` [tool_calls=${toolCalls}]` : '';
    history.push(userMessage(`msg_${rng.uuid()}`, `Session ${sessionIndex} turn ${turn}: continue the task.${directive}`));
    let turnState: string | null = null;
    for (let step = 0; step <= toolCalls; step++) {
      const { headers, body } = buildCodexRequest(
        {
          threadId,
          installationId,
          contextWindowId,
          turnId,
          turnStartedAtMs,
          historyInitialization: turn > 0 && (opts.resumeStyle ?? 'exec-resume') === 'exec-resume' ? 'cold_resume' : 'new',
          model: opts.model,
          headerStyle: opts.headerStyle,
          turnState,
          clientKey: opts.clientKey,
          instructions: opts.instructions,
        },
        history,
      );
      const result = await postResponses(url, headers, body, { agent, timeoutMs: opts.timeoutMs });
      const failure = classify(result);
      const usage = usageOf(result);
      const received = result.headers['x-codex-turn-state'] ?? null;
      record({
        session: threadId,
        sessionIndex,
        turn,
        step,
        status: result.status,
        ok: failure === null,
        failure,
        errorCode: failure ? errorCodeOf(result) : null,
        account: result.headers[ACCOUNT_HEADER] ?? null,
        inputTokens: usage.input,
        cachedTokens: usage.cached,
        turnStateSent: turnState,
        turnStateReceived: received,
        responseId: typeof result.response?.id === 'string' ? result.response.id : null,
        durationMs: result.durationMs,
      });
      if (failure) break; // the turn fails; the user moves on to the next turn
      if (received && turnState === null) turnState = received;
      const calls = appendOutput(history, result);
      if (calls.length === 0) break;
      for (const callId of calls) {
        history.push({ type: 'function_call_output', call_id: callId, output: `exit code 0\nstep ${step + 1} done` });
      }
    }
  }
}

/** Appends the response's output items the way Codex keeps them; returns the call_ids of function calls. */
export function appendOutput(history: InputItem[], result: ResponsesResult): string[] {
  const done = (result.events ?? []).filter((e) => e.type === 'response.output_item.done').map((e) => e.item);
  const items = (done.length > 0 ? done : ((result.response?.output as unknown[]) ?? [])) as Record<string, unknown>[];
  const calls: string[] = [];
  for (const item of items) {
    if (item.type === 'reasoning') {
      history.push({ type: 'reasoning', id: item.id, summary: item.summary ?? [], content: null, encrypted_content: item.encrypted_content ?? null });
    } else if (item.type === 'message') {
      const content = ((item.content as Record<string, unknown>[]) ?? []).map((p) => ({ type: 'output_text', text: p.text ?? '', annotations: [] }));
      history.push({ type: 'message', status: 'completed', id: item.id, role: 'assistant', content });
    } else if (item.type === 'function_call') {
      history.push({ type: 'function_call', id: item.id, name: item.name, arguments: item.arguments, call_id: item.call_id });
      calls.push(String(item.call_id));
    }
  }
  return calls;
}
