import { createParser } from 'eventsource-parser';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeAccount } from './types.js';
import { account, closeAll, codexBody } from './test-helpers.js';

interface Parsed {
  status: number;
  contentType: string;
  events: { event: string | undefined; data: Record<string, unknown> }[];
}

async function rawSse(a: FakeAccount, body: unknown): Promise<Parsed> {
  const res = await fetch(`${a.url}/backend-api/codex/responses`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify(body),
  });
  const events: Parsed['events'] = [];
  const parser = createParser({ onEvent: (e) => events.push({ event: e.event, data: JSON.parse(e.data) as Record<string, unknown> }) });
  parser.feed(await res.text());
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', events };
}

function userText(text: string): Record<string, unknown> {
  return { type: 'message', role: 'user', content: [{ type: 'input_text', text }] };
}

describe('SSE event sequence', () => {
  let a: FakeAccount;
  beforeAll(async () => {
    a = await account({ name: 'sse-a', profile: 'chatgpt-codex' });
  });
  afterAll(closeAll);

  it('emits the Responses API order with increasing sequence_number', async () => {
    const { status, contentType, events } = await rawSse(a, codexBody({ input: [userText('say something long enough to need several deltas')] }));
    expect(status).toBe(200);
    expect(contentType).toContain('text/event-stream');
    for (const e of events) expect(e.event).toBe(e.data.type);
    expect(events.map((e) => e.data.sequence_number)).toEqual(events.map((_e, i) => i));
    const types = events.map((e) => String(e.data.type));
    const deltas = types.filter((t) => t === 'response.output_text.delta').length;
    expect(deltas).toBeGreaterThan(1);
    expect(types).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.output_item.done',
      'response.output_item.added',
      'response.content_part.added',
      ...Array<string>(deltas).fill('response.output_text.delta'),
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    const created = events[0]!.data.response as Record<string, unknown>;
    expect(created).toMatchObject({ object: 'response', status: 'in_progress', output: [] });
    expect(String(created.id)).toMatch(/^resp_/);
    const completed = events.at(-1)!.data.response as Record<string, unknown>;
    expect(completed.id).toBe(created.id);
    expect(completed.status).toBe('completed');
    const output = completed.output as Record<string, unknown>[];
    expect(output.map((o) => o.type)).toEqual(['reasoning', 'message']);
    // reasoning: added without, done with encrypted_content
    expect((events[2]!.data.item as Record<string, unknown>).encrypted_content).toBeUndefined();
    expect((events[3]!.data.item as Record<string, unknown>).encrypted_content).toBe(output[0]!.encrypted_content);
    const text = events.filter((e) => e.data.type === 'response.output_text.delta').map((e) => String(e.data.delta)).join('');
    expect(text).toBe((output[1]!.content as { text: string }[])[0]!.text);
    const delta = events.find((e) => e.data.type === 'response.output_text.delta')!.data;
    expect(delta).toMatchObject({ item_id: output[1]!.id, output_index: 1, content_index: 0 });
    expect(completed.usage).toMatchObject({ input_tokens: expect.any(Number), output_tokens: expect.any(Number), total_tokens: expect.any(Number) });
  });

  it('emits function_call events for a tool-call directive', async () => {
    const { events } = await rawSse(a, codexBody({ input: [userText('run it [tool_calls=1]')] }));
    const types = events.map((e) => String(e.data.type));
    expect(types).toContain('response.function_call_arguments.delta');
    expect(types.indexOf('response.function_call_arguments.done')).toBeLessThan(types.lastIndexOf('response.output_item.done'));
    const fc = (events.at(-1)!.data.response as { output: Record<string, unknown>[] }).output[1]!;
    expect(fc).toMatchObject({ type: 'function_call', name: 'exec_command' });
    expect(String(fc.call_id)).toMatch(/^call_/);
    // after the function_call_output the model answers with a message
    const next = await rawSse(a, codexBody({ input: [userText('run it [tool_calls=1]'), fc, { type: 'function_call_output', call_id: fc.call_id, output: 'ok' }] }));
    const out = (next.events.at(-1)!.data.response as { output: Record<string, unknown>[] }).output;
    expect(out.map((o) => o.type)).toEqual(['reasoning', 'message']);
  });

  it('property: any input gives a gap-free sequence from response.created to response.completed', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 200 }), fc.integer({ min: 0, max: 2 }), async (text, calls) => {
        const { events } = await rawSse(a, codexBody({ input: [userText(`${text} [tool_calls=${calls}]`)] }));
        const seq = events.map((e) => e.data.sequence_number);
        expect(seq).toEqual(seq.map((_s, i) => i));
        expect(events[0]!.data.type).toBe('response.created');
        expect(events.at(-1)!.data.type).toBe('response.completed');
        const added = events.filter((e) => e.data.type === 'response.output_item.added').length;
        const done = events.filter((e) => e.data.type === 'response.output_item.done').length;
        expect(added).toBe(done);
      }),
      { numRuns: 25 },
    );
  });

  it('stream false on the public API answers one JSON Response object', async () => {
    const o = await account({ name: 'sse-json' });
    const res = await fetch(`${o.url}/v1/responses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-5.1', input: 'hi', store: false }),
    });
    expect(res.headers.get('content-type')).toBe('application/json');
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ object: 'response', status: 'completed', store: false, error: null });
    expect((body.output as { type: string }[]).map((i) => i.type)).toEqual(['message']);
  });
});
