import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SseInspector } from '../../src/responses/sse-inspector.js';

/** Everything an inspector tells, chunk by chunk. */
function readAll(inspector: SseInspector, chunks: readonly Buffer[]): unknown {
  const learned = chunks.map((chunk) => inspector.push(chunk));
  return { learned, finished: inspector.finished, abandoned: inspector.abandoned, streamError: inspector.streamError, finalResponse: inspector.finalResponse };
}

const types = ['response.created', 'response.output_text.delta', 'response.completed', 'response.failed', 'response.incomplete', 'error', 'response.in_progress', 'keepalive'];
/** A type as the JSON data may spell it: verbatim or with one character escaped. */
const spelled = (type: string, escapeAt: number | undefined): string =>
  escapeAt === undefined ? JSON.stringify(type) : `"${type.slice(0, escapeAt)}\\u${type.charCodeAt(escapeAt).toString(16).padStart(4, '0')}${type.slice(escapeAt + 1)}"`;

const event = fc
  .record({
    type: fc.constantFrom(...types),
    withEventLine: fc.boolean(),
    typeInData: fc.boolean(),
    escapeAt: fc.oneof({ arbitrary: fc.constant(undefined), weight: 4 }, { arbitrary: fc.integer({ min: 0, max: 7 }), weight: 1 }),
    text: fc.oneof(fc.constantFrom('token ', 'an error happened', 'line\nbreak', 'é ü 漢字', 'response.completed'), fc.string({ maxLength: 8 })),
    terminator: fc.constantFrom('\n\n', '\r\n\r\n', '\n\n', '\r\r'),
    id: fc.option(fc.constantFrom('id: 7\n', 'retry: 10\n', ': comment\n'), { nil: '' }),
  })
  .map(({ type, withEventLine, typeInData, escapeAt, text, terminator, id }) => {
    // Without an event line, the type is the data's own.
    const typeField = typeInData || !withEventLine ? `"type":${spelled(type, escapeAt)},` : '';
    const data = `{${typeField}"response":{"id":"resp_1","output":[{"type":"reasoning","id":"rs_1","encrypted_content":"x"}],"usage":{"input_tokens":3}},"delta":${JSON.stringify(text)}}`;
    return `${id}${withEventLine ? `event: ${type}\n` : ''}data: ${data}${terminator}`;
  });

describe('SSE inspector', () => {
  it('learns exactly what a reading of every chunk learns, however the stream is cut into chunks', () => {
    fc.assert(
      fc.property(fc.array(event, { minLength: 1, maxLength: 12 }), fc.array(fc.integer({ min: 1, max: 400 }), { maxLength: 12 }), fc.boolean(), fc.constantFrom('events', 'lines', 'bytes'), (events, cuts, bom, cutting) => {
        const prefix = bom ? '\ufeff' : '';
        const chunks: Buffer[] = [];
        if (cutting === 'events') {
          // Chunks of one to three whole events, as upstreams send them.
          for (let index = 0, cut = 0; index < events.length; cut++) {
            const count = 1 + ((cuts[cut] ?? 0) % 3);
            chunks.push(Buffer.from(`${index === 0 ? prefix : ''}${events.slice(index, index + count).join('')}`));
            index += count;
          }
        } else if (cutting === 'lines') {
          // Chunks of one to three whole lines: an event may end in the next chunk.
          const lines = `${prefix}${events.join('')}`.split(/(?<=\n)/);
          for (let index = 0, cut = 0; index < lines.length; cut++) {
            const count = 1 + ((cuts[cut] ?? 0) % 3);
            chunks.push(Buffer.from(lines.slice(index, index + count).join('')));
            index += count;
          }
        } else {
          const stream = Buffer.from(`${prefix}${events.join('')}`);
          let offset = 0;
          for (const cut of cuts) {
            if (offset >= stream.length) break;
            chunks.push(stream.subarray(offset, offset + cut));
            offset += cut;
          }
          if (offset < stream.length) chunks.push(stream.subarray(offset));
        }
        expect(readAll(new SseInspector(), chunks)).toEqual(readAll(new SseInspector(8 * 1024 * 1024, false), chunks));
      }),
      { numRuns: 1000 },
    );
  });

  it('reads a final event whose type only its JSON data gives, spelled with an escape', () => {
    const inspector = new SseInspector();
    inspector.push(Buffer.from('data: {"type":"response.created","response":{"id":"resp_8"}}\n\n'));
    inspector.push(Buffer.from('data: {"type":"response.output_text.delta","delta":"x"}\n\n'));
    const learned = inspector.push(Buffer.from('data: {"type":"response.c\\u006fmpleted","response":{"id":"resp_8","usage":{"input_tokens":2}}}\n\n'));
    expect(learned).toEqual([expect.objectContaining({ responseId: 'resp_8', inputTokens: 2 })]);
    expect(inspector.finished).toBe(true);
  });

  it('answers whole delta events without parsing them, and still reads the final event', () => {
    const delta = Buffer.from('event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"token "}\n\n');
    const inspector = new SseInspector();
    expect(inspector.push(Buffer.from('event: response.created\ndata: {"type":"response.created","response":{"id":"resp_9"}}\n\n'))).toEqual([
      expect.objectContaining({ responseId: 'resp_9' }),
    ]);
    for (let index = 0; index < 50; index++) expect(inspector.push(delta)).toEqual([]);
    const completed = inspector.push(Buffer.from('event: response.completed\ndata: {"type":"response.completed","response":{"id":"resp_9","usage":{"input_tokens":5}}}\n\n'));
    expect(completed).toEqual([expect.objectContaining({ responseId: 'resp_9', inputTokens: 5 })]);
    expect(inspector.finished).toBe(true);
  });
});
