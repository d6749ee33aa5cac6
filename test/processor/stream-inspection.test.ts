// Whether Envoy holds the chunks of a successful SSE answer for the processor (responses.inspectStreams).
import { afterEach, describe, expect, it } from 'vitest';
import { codexRequest, metadataOf, ScriptedStream, sessionProofs, startTestProcessor, type TestProcessor } from '../support/processor.js';

let processor: TestProcessor | undefined;
afterEach(async () => {
  await processor?.close();
  processor = undefined;
});

async function answerToStream(target: TestProcessor, session: string, turnNumber: number) {
  const request = codexRequest({ session, turn: turnNumber });
  const stream = new ScriptedStream(target);
  await stream.requestHeaders(request.headers);
  const routed = await stream.requestBody(request.body);
  const answered = await stream.responseHeaders({ ':status': '200', 'content-type': 'text/event-stream' });
  await stream.end();
  return { outcome: metadataOf(routed).outcome, responseBodyMode: answered.mode_override?.response_body_mode };
}

describe('stream inspection', () => {
  it('by default asks Envoy for the chunks of a successful stream (each is held for one answer)', async () => {
    processor = await startTestProcessor();
    expect((await answerToStream(processor, 'held', 1)).responseBodyMode).toBe('STREAMED');
  });

  it('when turned off, never asks for the chunks, and an orphan answered by a stream nobody read proves nothing', async () => {
    processor = await startTestProcessor({ responses: { inspectStreams: false } });
    const first = await answerToStream(processor, 'unheld', 1);
    expect(first.responseBodyMode ?? 'NONE').toBe('NONE');
    const orphan = await answerToStream(processor, 'unheld-orphan', 2);
    expect(orphan.outcome).toBe('orphan');
    expect(orphan.responseBodyMode ?? 'NONE').toBe('NONE');
    expect(await sessionProofs(processor)).toBe(0);
  });
});
