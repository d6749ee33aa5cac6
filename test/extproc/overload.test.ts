import { afterEach, describe, expect, it } from 'vitest';
import { headerMap, routedCluster, ScriptedStream, startTestProcessor, type TestProcessor } from '../support/processor.js';

const post = (session: string) => ({ ':method': 'POST', ':path': '/v1/responses', ':authority': 'gw', 'content-type': 'application/json', 'session-id': session });
const sleep = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds));

let processor: TestProcessor | undefined;
afterEach(async () => {
  await processor?.close();
  processor = undefined;
});

async function refusedCount(target: TestProcessor): Promise<number> {
  const text = await target.server.context.metrics.registry.getSingleMetricAsString('codex_affinity_rejections_total');
  return Number(/rejections_total\{code="processor_overloaded"\} (\d+)/.exec(text)?.[1] ?? NaN);
}

/** Opens a stream and has its request headers answered (it then stays open). */
async function admitted(target: TestProcessor, session: string): Promise<ScriptedStream> {
  const stream = new ScriptedStream(target);
  const answer = await stream.requestHeaders(post(session));
  expect(answer.immediate_response).toBeUndefined();
  return stream;
}

/** Waits until a new stream is taken on again (the server sees an end a moment after the client). */
async function eventuallyAdmitted(target: TestProcessor, session: string): Promise<ScriptedStream> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const stream = new ScriptedStream(target);
    const answer = await stream.requestHeaders(post(`${session}-${attempt}`));
    if (!answer.immediate_response) return stream;
    await stream.end();
    await sleep(20);
  }
  throw new Error('no slot came free');
}

describe('overload protection: grpc.maxOpenStreams', () => {
  it('answers the stream beyond N open ones with 503 processor_overloaded, and only that', async () => {
    processor = await startTestProcessor({ grpc: { host: '127.0.0.1', port: 0, maxOpenStreams: 2 } });
    const open = [await admitted(processor, 'one'), await admitted(processor, 'two')];
    const refused = new ScriptedStream(processor);
    const answer = await refused.requestHeaders(post('three'));
    expect(answer.immediate_response?.status?.code).toBe('ServiceUnavailable');
    const body = JSON.parse(Buffer.from(answer.immediate_response!.body!).toString('utf8'));
    expect(body).toEqual({ error: { message: expect.any(String), type: 'server_error', param: null, code: 'processor_overloaded' } });
    const headers = answer.immediate_response!.headers!.set_headers!.map((option) => [option.header.key, Buffer.from(option.header.raw_value ?? '').toString()]);
    expect(headers).toContainEqual(['x-codex-affinity-error', 'processor_overloaded']);
    // Nothing else is answered on a refused stream.
    await expect(refused.requestBody({ model: 'm', input: 'x' })).rejects.toThrow(/no answer/);
    expect(await refusedCount(processor)).toBe(1);
    // The admitted streams go on as usual.
    expect(routedCluster(await open[0]!.requestBody({ model: 'm', input: 'x' }))).toMatch(/^cluster-[abc]$/);
    await refused.end();
    for (const stream of open) await stream.end();
  });

  it('a stream that ends or is cancelled frees its slot; refused streams take none', async () => {
    processor = await startTestProcessor({ grpc: { host: '127.0.0.1', port: 0, maxOpenStreams: 1 } });
    const first = await admitted(processor, 'first');
    for (let index = 0; index < 3; index++) {
      const refused = new ScriptedStream(processor);
      expect((await refused.requestHeaders(post(`refused-${index}`))).immediate_response?.status?.code).toBe('ServiceUnavailable');
      await refused.end();
    }
    await first.end();
    const second = await eventuallyAdmitted(processor, 'second');
    const refused = new ScriptedStream(processor);
    expect((await refused.requestHeaders(post('while-second'))).immediate_response?.status?.code).toBe('ServiceUnavailable');
    second.cancel();
    const third = await eventuallyAdmitted(processor, 'third');
    await third.end();
    await refused.end();
  });

  it('takes on any number of streams by default', async () => {
    processor = await startTestProcessor();
    const open = await Promise.all(Array.from({ length: 40 }, (_, index) => admitted(processor!, `many-${index}`)));
    expect(await refusedCount(processor)).toBe(0);
    for (const stream of open) await stream.end();
  });
});

describe('overload protection: grpc.maxConcurrentStreamsPerConnection', () => {
  it('bounds the streams of one HTTP/2 connection: the next waits for a free one', async () => {
    processor = await startTestProcessor({ grpc: { host: '127.0.0.1', port: 0, maxConcurrentStreamsPerConnection: 1 } });
    const first = await admitted(processor, 'conn-first');
    const second = new ScriptedStream(processor);
    const pending = second.send({ request_headers: { headers: headerMap(post('conn-second')), end_of_stream: false } }, 5000);
    const early = await Promise.race([pending.then(() => 'answered'), sleep(300).then(() => 'waiting')]);
    expect(early).toBe('waiting');
    await first.end();
    expect((await pending).immediate_response).toBeUndefined();
    await second.end();
  });
});
