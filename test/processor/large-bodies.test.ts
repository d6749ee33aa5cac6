import { afterEach, describe, expect, it } from 'vitest';
import type { WireProcessingResponse } from '../../src/extproc/wire-types.js';
import { routedCluster, ScriptedStream, setHeaders, startTestProcessor, type TestProcessor } from '../support/processor.js';

const running: TestProcessor[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((processor) => processor.close()));
});

const CODEX_ACCOUNTS = ['a', 'b', 'c'].map((name) => ({ name: `codex-${name}`, cluster: `cluster-${name}`, domain: `org-${name}`, profile: 'chatgpt-codex' as const }));

function resumedTurn(session: string, bytes: number): Buffer {
  const input: unknown[] = [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'fix the build' }] }];
  for (let turn = 0, size = 0; size < bytes; turn++) {
    const items = [
      { type: 'reasoning', id: `rs_${session}_${turn}`, summary: [], encrypted_content: 'gAAAA'.repeat(400) },
      { type: 'function_call_output', call_id: `call_${turn}`, output: `"prompt_cache_key": "forged-${turn}" ${'x'.repeat(1500)}` },
    ];
    input.push(...items);
    size += JSON.stringify(items).length;
  }
  return Buffer.from(JSON.stringify({ model: 'gpt-5.1-codex', max_output_tokens: 4096, temperature: 0.2, prompt_cache_key: session, input }));
}

async function turn(processor: TestProcessor, session: string, body: Buffer): Promise<WireProcessingResponse> {
  const stream = new ScriptedStream(processor);
  await stream.requestHeaders({ ':method': 'POST', ':path': '/v1/responses', 'content-type': 'application/json', 'content-length': String(body.length), 'session-id': session });
  const answer = await stream.requestBody(body);
  await stream.end();
  return answer;
}

describe('large request bodies', () => {
  it('a body read in a worker thread is routed and rewritten exactly as one read on the event loop', async () => {
    const onLoop = await startTestProcessor({ accounts: CODEX_ACCOUNTS, limits: { workerBodyBytes: 0 } });
    const inWorker = await startTestProcessor({ accounts: CODEX_ACCOUNTS, limits: { workerBodyBytes: 64 * 1024 } });
    running.push(onLoop, inWorker);
    for (const session of ['session-1', 'session-2', 'session-3', 'session-1']) {
      const body = resumedTurn(session, 1_000_000);
      const [expected, actual] = [await turn(onLoop, session, Buffer.from(body)), await turn(inWorker, session, Buffer.from(body))];
      expect(routedCluster(actual)).toBe(routedCluster(expected));
      const rewritten = actual.request_body?.response?.body_mutation?.body;
      expect(rewritten).toBeDefined();
      expect(Buffer.from(rewritten!).equals(Buffer.from(expected.request_body!.response!.body_mutation!.body!))).toBe(true);
      const parsed = JSON.parse(Buffer.from(rewritten!).toString('utf8')) as Record<string, unknown>;
      expect(parsed.max_output_tokens).toBeUndefined();
      expect(parsed.prompt_cache_key).toBe(session);
      expect(setHeaders(actual).get('content-length')).toBe(String(rewritten!.length));
    }
  });

  it('a small request is answered while a large body is still being read', async () => {
    // openai accounts: the large body is not rewritten, so no answer exceeds the client's 4 MB receive limit.
    const processor = await startTestProcessor({ limits: { workerBodyBytes: 1024 * 1024 } });
    running.push(processor);
    const large = resumedTurn('large', 24 * 1024 * 1024);
    const small = resumedTurn('small', 4000);
    const largeStream = new ScriptedStream(processor);
    const smallStream = new ScriptedStream(processor);
    await largeStream.requestHeaders({ ':method': 'POST', ':path': '/v1/responses', 'content-type': 'application/json', 'session-id': 'large' });
    await smallStream.requestHeaders({ ':method': 'POST', ':path': '/v1/responses', 'content-type': 'application/json', 'session-id': 'small' });
    const order: string[] = [];
    const largeAnswer = largeStream.send({ request_body: { body: large, end_of_stream: true } }, 20_000).then((answer) => (order.push('large'), answer));
    // The small body goes out once the large one has left this process, so the processor has it first.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const smallAnswer = smallStream.requestBody(small).then((answer) => (order.push('small'), answer));
    const [largeResult, smallResult] = await Promise.all([largeAnswer, smallAnswer]);
    expect(routedCluster(largeResult)).toMatch(/^cluster-/);
    expect(routedCluster(smallResult)).toMatch(/^cluster-/);
    expect(order).toEqual(['small', 'large']);
    await Promise.all([largeStream.end(), smallStream.end()]);
  });
});
