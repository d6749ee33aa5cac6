// Fail closed: when the processor cannot decide an inference request (its store throws),
// the client gets a 503 of the processor's own, for requests with a body, without one,
// and WebSocket upgrades; never "continue" to Envoy's default or a client-chosen cluster.
import { afterEach, describe, expect, it } from 'vitest';
import type { WireProcessingResponse } from '../../src/extproc/wire-types.js';
import { codexRequest, routedCluster, ScriptedStream, startTestProcessor, type TestProcessor } from '../support/processor.js';
import { faultyStore, memoryStore } from '../support/stores.js';

let processor: TestProcessor | undefined;
afterEach(async () => {
  await processor?.close();
  processor = undefined;
});

/** The immediate response's HTTP status (the enum arrives as its number or its name). */
const statusOf = (answer: WireProcessingResponse): number | string | undefined => {
  const code = (answer.immediate_response?.status as { code?: unknown } | undefined)?.code;
  return code === 'ServiceUnavailable' ? 503 : typeof code === 'number' ? code : (code as string | undefined);
};

describe('fail closed', () => {
  it.each([
    ['a request with a body', 'body'],
    ['a request without a body', 'headers'],
    ['a WebSocket upgrade', 'upgrade'],
  ] as const)('%s gets a 503 of the processor’s own when the store throws, and the client’s cluster header routes nothing', async (_name, kind) => {
    const { store, state } = faultyStore(memoryStore());
    processor = await startTestProcessor({}, { store });
    state.mode = 'down';
    const request = codexRequest({ session: `closed-${kind}`, turn: 1, extraHeaders: { 'x-codex-affinity-cluster': 'cluster-client-choice' } });
    const stream = new ScriptedStream(processor);
    let answer: WireProcessingResponse;
    if (kind === 'body') {
      await stream.requestHeaders(request.headers);
      answer = await stream.requestBody(request.body);
    } else if (kind === 'headers') {
      answer = await stream.requestHeaders(request.headers, true);
    } else {
      answer = await stream.requestHeaders({ ...request.headers, ':method': 'GET', upgrade: 'websocket', connection: 'Upgrade' });
    }
    await stream.end();
    expect(statusOf(answer)).toBe(503);
    expect(routedCluster(answer)).toBeUndefined();
    const body = JSON.parse(Buffer.from(answer.immediate_response!.body as Buffer).toString()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('processor_unavailable');
    expect(body.error.message).not.toContain('exploded');
    expect(processor.logs.join('')).toContain('could not decide a request');
  });

  it('the same processor routes again once the store works', async () => {
    const { store, state } = faultyStore(memoryStore());
    processor = await startTestProcessor({}, { store });
    state.mode = 'down';
    const request = codexRequest({ session: 'recovers', turn: 1 });
    const first = new ScriptedStream(processor);
    expect(statusOf(await first.requestHeaders(request.headers, true))).toBe(503);
    await first.end();
    state.mode = 'up';
    const second = new ScriptedStream(processor);
    expect(routedCluster(await second.requestHeaders(request.headers, true))).toMatch(/^cluster-/);
    await second.end();
  });
});
