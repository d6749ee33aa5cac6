// Builds the model output and the Response object the fake returns.
// Tool calls are driven by a directive in the latest user message: "[tool_calls=N]" makes the fake
// answer with a function_call until N function_call_output items follow that user message, then with
// an assistant message. Without the directive it answers with a message straight away.
import { seal } from './sealing.js';
import { estimateTokens, isRecord, openaiId, sha256Hex } from './util.js';

export interface Usage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

export interface OutputPlan {
  items: Record<string, unknown>[];
  outputTokens: number;
  reasoningTokens: number;
}

const REASONING_TOKENS = 16;

export function planOutput(
  input: unknown[],
  opts: { withReasoning: boolean; sealEncrypted: boolean; domain: string; domainKey: string },
): OutputPlan {
  const items: Record<string, unknown>[] = [];
  let outputTokens = 0;
  let reasoningTokens = 0;
  if (opts.withReasoning) {
    const id = openaiId('rs');
    const item: Record<string, unknown> = { id, type: 'reasoning', summary: [] };
    if (opts.sealEncrypted) item.encrypted_content = seal(opts.domain, opts.domainKey, { itemId: id, kind: 'reasoning' });
    items.push(item);
    reasoningTokens = REASONING_TOKENS;
    outputTokens += REASONING_TOKENS;
  }
  const { lastUserText, outputsSinceUser } = scanInput(input);
  const wanted = Number(/\[tool_calls=(\d+)\]/.exec(lastUserText)?.[1] ?? 0);
  if (outputsSinceUser < wanted) {
    const args = JSON.stringify({ cmd: `echo step-${outputsSinceUser + 1}` });
    items.push({
      id: openaiId('fc'),
      type: 'function_call',
      status: 'completed',
      arguments: args,
      call_id: `call_${sha256Hex(lastUserText + outputsSinceUser).slice(0, 24)}`,
      name: 'exec_command',
    });
    outputTokens += estimateTokens(args);
  } else {
    const text = `ok ${sha256Hex(lastUserText).slice(0, 8)} after ${outputsSinceUser} tool call(s)`;
    items.push({
      id: openaiId('msg'),
      type: 'message',
      status: 'completed',
      content: [{ type: 'output_text', annotations: [], logprobs: [], text }],
      role: 'assistant',
    });
    outputTokens += estimateTokens(text);
  }
  return { items, outputTokens, reasoningTokens };
}

function scanInput(input: unknown[]): { lastUserText: string; outputsSinceUser: number } {
  let lastUserText = '';
  let outputsSinceUser = 0;
  for (const item of input) {
    if (!isRecord(item)) continue;
    if (item.role === 'user' && (item.type === undefined || item.type === 'message')) {
      lastUserText = textOf(item.content);
      outputsSinceUser = 0;
    } else if (item.type === 'function_call_output') {
      outputsSinceUser += 1;
    }
  }
  return { lastUserText, outputsSinceUser };
}

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((p) => (isRecord(p) && typeof p.text === 'string' ? p.text : '')).join('');
}

export function makeUsage(inputTokens: number, cachedTokens: number, plan: OutputPlan): Usage {
  return {
    input_tokens: inputTokens,
    input_tokens_details: { cached_tokens: cachedTokens },
    output_tokens: plan.outputTokens,
    output_tokens_details: { reasoning_tokens: plan.reasoningTokens },
    total_tokens: inputTokens + plan.outputTokens,
  };
}

/** The Response object (status completed unless given), as in response.completed / JSON answers. */
export function makeResponse(
  id: string,
  body: Record<string, unknown>,
  output: unknown[],
  usage: Usage | null,
  status: 'in_progress' | 'completed' = 'completed',
  extra: { conversationId?: string | null } = {},
): Record<string, unknown> {
  return {
    id,
    object: 'response',
    created_at: Math.floor(Date.now() / 1000),
    status,
    background: false,
    conversation: extra.conversationId ? { id: extra.conversationId } : null,
    error: null,
    incomplete_details: null,
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    model: body.model ?? 'gpt-5.1-codex',
    output,
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    previous_response_id: body.previous_response_id ?? null,
    prompt_cache_key: body.prompt_cache_key ?? null,
    reasoning: body.reasoning ?? { effort: null, summary: null },
    store: body.store ?? true,
    temperature: body.temperature ?? 1,
    tool_choice: body.tool_choice ?? 'auto',
    tools: body.tools ?? [],
    top_p: body.top_p ?? 1,
    truncation: body.truncation ?? 'disabled',
    usage,
    user: null,
    metadata: body.metadata ?? {},
  };
}

/** /responses/compact output: the user messages kept, plus one sealed compaction item. */
export function compactOutput(input: unknown[], domain: string, domainKey: string): Record<string, unknown>[] {
  const kept = input.filter((i) => isRecord(i) && i.type === 'message' && i.role === 'user') as Record<string, unknown>[];
  const id = openaiId('cmp');
  return [...kept, { id, type: 'compaction', encrypted_content: seal(domain, domainKey, { itemId: id, kind: 'compaction' }) }];
}
