// The Responses API SSE event sequence (each event "event: <type>\ndata: <json>\n\n", every payload
// carrying an increasing sequence_number from 0):
//   response.created, response.in_progress,
//   per output item: response.output_item.added,
//     message:       response.content_part.added, response.output_text.delta…, response.output_text.done,
//                    response.content_part.done
//     function_call: response.function_call_arguments.delta, response.function_call_arguments.done
//   response.output_item.done, … , response.completed
// (OpenAI API reference for streaming events; event field names item_id, output_index, content_index,
// delta, logprobs, sequence_number as in the official SDK types.)
import { isRecord } from './util.js';

export interface SseEvent {
  type: string;
  sequence_number: number;
  [key: string]: unknown;
}

export function buildEventSequence(inProgress: Record<string, unknown>, completed: Record<string, unknown>): SseEvent[] {
  const events: SseEvent[] = [];
  const push = (type: string, fields: Record<string, unknown>): void => {
    events.push({ type, sequence_number: events.length, ...fields });
  };
  push('response.created', { response: inProgress });
  push('response.in_progress', { response: inProgress });
  const output = Array.isArray(completed.output) ? completed.output : [];
  output.forEach((raw, outputIndex) => {
    if (!isRecord(raw)) return;
    const item = raw;
    const itemId = item.id;
    if (item.type === 'message') {
      push('response.output_item.added', { output_index: outputIndex, item: { ...item, status: 'in_progress', content: [] } });
      const parts = Array.isArray(item.content) ? item.content : [];
      parts.forEach((part, contentIndex) => {
        const text = isRecord(part) && typeof part.text === 'string' ? part.text : '';
        push('response.content_part.added', {
          item_id: itemId,
          output_index: outputIndex,
          content_index: contentIndex,
          part: { type: 'output_text', annotations: [], logprobs: [], text: '' },
        });
        for (const delta of chunks(text)) {
          push('response.output_text.delta', { item_id: itemId, output_index: outputIndex, content_index: contentIndex, delta, logprobs: [] });
        }
        push('response.output_text.done', { item_id: itemId, output_index: outputIndex, content_index: contentIndex, text, logprobs: [] });
        push('response.content_part.done', { item_id: itemId, output_index: outputIndex, content_index: contentIndex, part });
      });
    } else if (item.type === 'function_call') {
      push('response.output_item.added', { output_index: outputIndex, item: { ...item, status: 'in_progress', arguments: '' } });
      const args = typeof item.arguments === 'string' ? item.arguments : '';
      for (const delta of chunks(args)) {
        push('response.function_call_arguments.delta', { item_id: itemId, output_index: outputIndex, delta });
      }
      push('response.function_call_arguments.done', { item_id: itemId, output_index: outputIndex, arguments: args });
    } else {
      // reasoning (and anything else): added without encrypted_content, complete item on done.
      const { encrypted_content: _omit, ...shell } = item;
      push('response.output_item.added', { output_index: outputIndex, item: shell });
    }
    push('response.output_item.done', { output_index: outputIndex, item });
  });
  push('response.completed', { response: completed });
  return events;
}

export function encodeSseEvent(e: SseEvent): string {
  return `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`;
}

function chunks(text: string, size = 12): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out.length > 0 ? out : [''];
}
