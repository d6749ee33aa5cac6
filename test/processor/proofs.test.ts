// What makes a binding hard: a success that proves the account reads the request's state,
// known only once the answer is known to be no error.
import { afterEach, describe, expect, it } from 'vitest';
import { codexRequest, metadataOf, routedCluster, ScriptedStream, sseStream, sessionProofs, startTestProcessor, type TestProcessor } from '../support/processor.js';

let processor: TestProcessor | undefined;
afterEach(async () => {
  await processor?.close();
  processor = undefined;
});

async function turn(target: TestProcessor, request: { headers: Record<string, string>; body: Record<string, unknown> }, answer: { headers?: Record<string, string>; body?: string } = {}) {
  const stream = new ScriptedStream(target);
  await stream.requestHeaders(request.headers);
  const routed = await stream.requestBody(request.body);
  const answered = await stream.responseHeaders({ ':status': '200', 'content-type': 'text/event-stream', ...answer.headers });
  if (answered.mode_override?.response_body_mode && answer.body !== undefined) await stream.responseBody(answer.body, true);
  await stream.end();
  return { cluster: routedCluster(routed), metadata: metadataOf(routed) };
}

const failedStream = (withError = true) => {
  const failed = {
    type: 'response.failed',
    sequence_number: 1,
    response: { id: 'resp_f', status: 'failed', ...(withError ? { error: { code: 'invalid_encrypted_content', message: 'The encrypted content for item rs_1 could not be verified.' } } : {}) },
  };
  return `event: response.failed\ndata: ${JSON.stringify(failed)}\n\n`;
};

describe('proofs', () => {
  it('an orphan whose stream fails learns nothing, not even the turn token it was issued: its retry tries the next account', async () => {
    processor = await startTestProcessor();
    const first = await turn(processor, codexRequest({ session: 'orphan-fails', turn: 2 }), { headers: { 'x-codex-turn-state': 'TOKEN-1' }, body: failedStream() });
    expect(first.metadata.outcome).toBe('orphan');
    const retry = await turn(processor, codexRequest({ session: 'orphan-fails', turn: 2, extraHeaders: { 'x-codex-turn-state': 'TOKEN-1' } }), { body: sseStream('resp_2', 'rs_x') });
    expect(retry.cluster).not.toBe(first.cluster);
    expect(retry.metadata.outcome).toBe('orphan');
    expect(await sessionProofs(processor)).toBe(1);
  });

  it('a response.failed that names no error is still a failure: no proof', async () => {
    processor = await startTestProcessor();
    await turn(processor, codexRequest({ session: 'bare-failure', turn: 2 }), { body: failedStream(false) });
    expect(await sessionProofs(processor)).toBe(0);
  });

  it('a compressed stream, which cannot be read, proves no guess', async () => {
    processor = await startTestProcessor();
    const first = await turn(processor, codexRequest({ session: 'gzip-orphan', turn: 2 }), { headers: { 'content-encoding': 'gzip' } });
    expect(first.metadata.outcome).toBe('orphan');
    expect(await sessionProofs(processor)).toBe(0);
  });

  it('a turn token from another account moves a hard session binding once its 2xx proves it', async () => {
    processor = await startTestProcessor();
    const home = await turn(processor, codexRequest({ session: 's1', turn: 2 }), { body: sseStream('resp_p', 'rs_s1_1') });
    let other: { cluster: string | undefined; token: string } | undefined;
    for (let index = 0; index < 40 && !other; index++) {
      const token = `T-${index}`;
      const routed = await turn(processor, codexRequest({ session: `other-${index}`, turn: 1 }), { headers: { 'x-codex-turn-state': token }, body: sseStream(`resp_o${index}`, `rs_o${index}`) });
      if (routed.cluster !== home.cluster) other = { cluster: routed.cluster, token };
    }
    expect(other).toBeDefined();
    const anchored = await turn(processor, codexRequest({ session: 's1', turn: 1, extraHeaders: { 'x-codex-turn-state': other!.token } }), { body: sseStream('resp_t', 'rs_t') });
    expect([anchored.cluster, anchored.metadata.source]).toEqual([other!.cluster, 'turn_state']);
    const after = await turn(processor, codexRequest({ session: 's1', turn: 1 }), { body: sseStream('resp_a', 'rs_a') });
    expect(after.cluster).toBe(other!.cluster);
  });

  it('a chat completion (not stored unless asked) is never learned as a stored response', async () => {
    processor = await startTestProcessor();
    for (const store of [undefined, true]) {
      const stream = new ScriptedStream(processor);
      await stream.requestHeaders({ ':method': 'POST', ':path': '/v1/chat/completions', 'content-type': 'application/json', authorization: 'Bearer k' });
      await stream.requestBody({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], ...(store ? { store } : {}) });
      const answered = await stream.responseHeaders({ ':status': '200', 'content-type': 'application/json' });
      if (answered.mode_override?.response_body_mode) await stream.responseBody(JSON.stringify({ id: `chatcmpl-${String(store)}`, object: 'chat.completion', choices: [] }), true);
      await stream.end();
    }
    const written = await processor.server.context.metrics.registry.getSingleMetricAsString('codex_affinity_bindings_written_total');
    // Only the one that asked for storage (store: true) was learned.
    expect(/kind="response",mode="learn"} (\d+)/.exec(written)?.[1]).toBe('1');
  });
});
