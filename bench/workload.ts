import type { ExchangeSpec } from './exchange.js';
/**
 * What Codex sends and what the upstream answers, shaped after
 * ../shared fixtures: first turns (instructions, tools, one user message),
 * resumed turns (the history resent with encrypted reasoning), WebSocket
 * upgrades (headers only), and SSE responses one event per chunk.
 */

const TOOL = {
  type: 'function',
  name: 'shell',
  description: 'Runs a shell command and returns its output. '.repeat(20),
  parameters: { type: 'object', properties: { command: { type: 'array', items: { type: 'string' } }, workdir: { type: 'string' }, timeout_ms: { type: 'number' } }, required: ['command'] },
};

function encodeBody(fields: Record<string, unknown>): Buffer {
  return Buffer.from(JSON.stringify(fields));
}

/** A first turn of about `bytes`: long instructions and tools, one user message, no state. */
export function firstTurnBody(session: string, bytes: number): Buffer {
  const tools: unknown[] = [];
  const base = { model: 'gpt-5.1-codex', instructions: 'You are Codex, a coding agent. '.repeat(400), stream: true, store: false, include: ['reasoning.encrypted_content'], prompt_cache_key: session };
  const input = [
    { type: 'message', role: 'developer', content: [{ type: 'input_text', text: '<permissions instructions>sandbox: workspace-write</permissions instructions>' }] },
    { type: 'message', role: 'user', content: [{ type: 'input_text', text: `fix the build (${session})` }] },
  ];
  while (JSON.stringify({ ...base, input, tools }).length < bytes) tools.push({ ...TOOL, name: `tool_${tools.length}` });
  return encodeBody({ ...base, input, tools });
}

/** A resumed turn of about `bytes`: the history resent, reasoning items with encrypted content. */
export function resumedTurnBody(session: string, bytes: number, extra: Record<string, unknown> = {}): Buffer {
  const input: unknown[] = [
    { type: 'message', role: 'developer', content: [{ type: 'input_text', text: 'You are a coding agent. '.repeat(700) }] },
    { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'fix the build' }] },
  ];
  let size = JSON.stringify(input).length;
  for (let turn = 1; size < bytes; turn++) {
    const items = [
      { type: 'reasoning', id: `rs_${session}_${turn}`, summary: [], encrypted_content: 'gAAAA'.repeat(400) },
      { type: 'function_call', call_id: `call_${turn}`, name: 'exec_command', arguments: JSON.stringify({ cmd: 'ls -la "prompt_cache_key": x' }) },
      { type: 'function_call_output', call_id: `call_${turn}`, output: 'file '.repeat(800) },
    ];
    input.push(...items);
    size += JSON.stringify(items).length;
  }
  return encodeBody({ model: 'gpt-5.1-codex', stream: true, store: false, include: ['reasoning.encrypted_content'], prompt_cache_key: session, input, tools: [], ...extra });
}

/** A Responses SSE stream of `chunks` chunks, one event each: created, deltas, completed. */
export function sseChunks(responseId: string, chunks: number): Buffer[] {
  const event = (type: string, data: unknown): Buffer => Buffer.from(`event: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
  const deltas = Math.max(0, chunks - 2);
  return [
    event('response.created', { type: 'response.created', sequence_number: 0, response: { id: responseId, status: 'in_progress', output: [] } }),
    ...Array.from({ length: deltas }, (_, index) =>
      event('response.output_text.delta', { type: 'response.output_text.delta', sequence_number: index + 1, item_id: `msg_${responseId}`, output_index: 1, content_index: 0, delta: 'token ' }),
    ),
    event('response.completed', {
      type: 'response.completed',
      sequence_number: deltas + 1,
      response: { id: responseId, status: 'completed', output: [{ type: 'reasoning', id: `rs_${responseId}`, encrypted_content: 'gAAAA'.repeat(40) }], usage: { input_tokens: 1000, input_tokens_details: { cached_tokens: 900 }, output_tokens: deltas } },
    }),
  ];
}

/**
 * The realistic mix: WebSocket upgrades, first turns and resumed turns of
 * Codex sessions of every size, most of them streamed back in 20 chunks.
 */
export const REALISTIC_MIX_DESCRIPTION =
  '30% WebSocket upgrades, 20% new 40 KB first turns, 40% resumed 40 KB turns, 9% resumed 200 KB, 1% resumed 1 MB; every turn answered by SSE of 20 chunks';

export function createRealisticMix(): (index: number) => ExchangeSpec {
  const firstTurns = Array.from({ length: 4 }, (_, index) => firstTurnBody(`mix-first-${index}`, 40_000));
  const resumed40k = Array.from({ length: 20 }, (_, index) => resumedTurnBody(`mix-40k-${index}`, 40_000));
  const resumed200k = Array.from({ length: 4 }, (_, index) => resumedTurnBody(`mix-200k-${index}`, 200_000));
  const resumed1m = [resumedTurnBody('mix-1m', 1_000_000)];
  const stream = sseChunks('resp_mix', 20);
  const pick = <T>(list: readonly T[], index: number): T => list[index % list.length]!;
  return (index) => {
    const slot = index % 100;
    if (slot < 30) return { kind: 'upgrade', session: `mix-ws-${index % 500}` };
    if (slot < 50) return { kind: 'turn', session: `mix-new-${index}`, body: pick(firstTurns, index), sse: stream };
    if (slot < 90) return { kind: 'turn', session: `mix-${index % 300}`, body: pick(resumed40k, index), sse: stream };
    if (slot < 99) return { kind: 'turn', session: `mix-big-${index % 20}`, body: pick(resumed200k, index), sse: stream };
    return { kind: 'turn', session: `mix-huge-${index % 4}`, body: pick(resumed1m, index), sse: stream };
  };
}
