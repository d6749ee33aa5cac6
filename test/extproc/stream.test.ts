import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metadataOf, routedCluster, ScriptedStream, setHeaders, startTestProcessor, type TestProcessor } from '../support/processor.js';

let processor: TestProcessor;
beforeAll(async () => {
  processor = await startTestProcessor();
});
afterAll(async () => processor.close());

const post = (extra: Record<string, string> = {}) => ({ ':method': 'POST', ':path': '/v1/responses', ':authority': 'gw', 'content-type': 'application/json', ...extra });

describe('ext_proc stream contract', () => {
  it('answers each message with exactly one response of the matching kind', async () => {
    const stream = new ScriptedStream(processor);
    const headers = await stream.requestHeaders(post({ 'session-id': 'kinds' }));
    expect(Object.keys(headers).filter((key) => !['dynamic_metadata', 'mode_override', 'response'].includes(key))).toEqual(['request_headers']);
    const body = await stream.requestBody({ model: 'm', input: 'hi' });
    expect(body.request_body).toBeDefined();
    const responseHeaders = await stream.responseHeaders({ ':status': '200', 'content-type': 'text/plain' });
    expect(responseHeaders.response_headers).toBeDefined();
    const trailers = await stream.send({ response_trailers: { trailers: { headers: [] } } });
    expect(trailers.response_trailers).toBeDefined();
    expect((await stream.end()).code).toBe(0);
  });

  it('routes in the body answer: cluster header written to raw_value only, with clear_route_cache', async () => {
    const stream = new ScriptedStream(processor);
    await stream.requestHeaders(post({ 'session-id': 'raw', session_id: 'raw' }));
    const answer = await stream.requestBody({ model: 'm', input: 'hi', prompt_cache_key: 'raw' });
    const common = answer.request_body!.response!;
    expect(common.clear_route_cache).toBe(true);
    const option = common.header_mutation!.set_headers![0]!;
    expect(option.header.key).toBe('x-codex-affinity-cluster');
    expect((option.header as { value?: string }).value ?? '').toBe('');
    expect(Buffer.from(option.header.raw_value!).toString()).toMatch(/^cluster-[abc]$/);
    expect(option.append?.value).toBe(false);
    expect(common.header_mutation!.set_headers).toHaveLength(1);
    // Nothing to rewrite for an openai account whose caller sent its own prompt_cache_key.
    expect(common.body_mutation).toBeUndefined();
    expect(metadataOf(answer)).toMatchObject({ strength: 'soft', source: 'session_header', outcome: 'new' });
    await stream.end();
  });

  it('reads header values from value when raw_value is empty (older Envoy)', async () => {
    const stream = new ScriptedStream(processor);
    const first = await stream.send({
      request_headers: {
        headers: { headers: [{ key: ':method', value: 'POST' }, { key: ':path', value: '/v1/responses' }, { key: 'session-id', value: 'old-envoy' }] },
        end_of_stream: true,
      },
    });
    expect(metadataOf(first).source).toBe('session_header');
    await stream.end();
  });

  it('passes non-inference requests through untouched and turns their body and response processing off', async () => {
    const stream = new ScriptedStream(processor);
    const answer = await stream.requestHeaders({ ':method': 'GET', ':path': '/v1/models', ':authority': 'gw' }, true);
    expect(answer.request_headers!.response?.header_mutation).toBeUndefined();
    expect(answer.request_headers!.response?.clear_route_cache).toBeUndefined();
    expect(answer.mode_override).toEqual({ request_body_mode: 'NONE', response_body_mode: 'NONE', response_header_mode: 'SKIP' });
    await stream.end();
  });

  it('strips a client-sent cluster header from pass-through requests so clients cannot steer', async () => {
    const stream = new ScriptedStream(processor);
    const answer = await stream.requestHeaders({ ':method': 'GET', ':path': '/other', 'x-codex-affinity-cluster': 'cluster-b' }, true);
    expect(answer.request_headers!.response!.header_mutation!.remove_headers).toEqual(['x-codex-affinity-cluster']);
    expect(answer.request_headers!.response!.clear_route_cache).toBe(true);
    await stream.end();
  });

  it('overrides a client-sent cluster header on inference requests', async () => {
    const stream = new ScriptedStream(processor);
    await stream.requestHeaders(post({ 'x-codex-affinity-cluster': 'cluster-evil', 'session-id': 'steer' }));
    const answer = await stream.requestBody({ model: 'm', input: 'x' });
    expect(routedCluster(answer)).toMatch(/^cluster-[abc]$/);
    await stream.end();
  });

  it('decides at request_headers for a request without a body', async () => {
    const stream = new ScriptedStream(processor);
    const answer = await stream.requestHeaders(post({ 'session-id': 'nobody' }), true);
    expect(routedCluster(answer)).toMatch(/^cluster-[abc]$/);
    expect(answer.request_headers!.response!.clear_route_cache).toBe(true);
    await stream.end();
  });

  it('routes a malformed JSON body by headers, never a 5xx or an error', async () => {
    const stream = new ScriptedStream(processor);
    await stream.requestHeaders(post({ 'session-id': 'bad-json' }));
    const answer = await stream.requestBody('{"model": "m", "input": [');
    expect(answer.immediate_response).toBeUndefined();
    expect(metadataOf(answer).source).toBe('session_header');
    await stream.end();
  });

  it('answers a 10 KB header value without producing an invalid header', async () => {
    const stream = new ScriptedStream(processor);
    await stream.requestHeaders(post({ 'session-id': 's'.repeat(10 * 1024), 'x-big': 'v'.repeat(10 * 1024) }));
    const answer = await stream.requestBody({ model: 'm', input: 'x' });
    for (const [name, value] of setHeaders(answer)) {
      expect(name).toMatch(/^[a-z0-9_-]+$/);
      expect(value).not.toMatch(/[\r\n\0]/);
    }
    // Over-long session ids are not signals; the content seed decides.
    expect(metadataOf(answer).source).toBe('content_seed');
    await stream.end();
  });

  it('CR/LF inside body fields never reach a header value', async () => {
    const stream = new ScriptedStream(processor);
    await stream.requestHeaders(post());
    const answer = await stream.requestBody({ model: 'm', prompt_cache_key: 'a\r\nx-injected: 1', client_metadata: { session_id: 'b\nc' }, input: 'x' });
    const headers = setHeaders(answer);
    expect(headers.has('x-injected')).toBe(false);
    for (const value of headers.values()) expect(value).not.toMatch(/[\r\n\0]/);
    expect(metadataOf(answer).source).toBe('prompt_cache_key');
    await stream.end();
  });

  it('treats client cancellation (CANCELLED) as a normal end and keeps serving', async () => {
    const stream = new ScriptedStream(processor);
    await stream.requestHeaders(post({ 'session-id': 'cancel' }));
    stream.cancel();
    const next = new ScriptedStream(processor);
    expect(routedCluster(await next.requestHeaders(post({ 'session-id': 'after-cancel' }), true))).toBeDefined();
    await next.end();
  });

  it('ignores a message with no request kind and answers the next one', async () => {
    const stream = new ScriptedStream(processor);
    stream.write({});
    const answer = await stream.requestHeaders(post({ 'session-id': 'empty-msg' }), true);
    expect(answer.request_headers).toBeDefined();
    await stream.end();
  });

  it('does not count an in-flight request after its stream ends', async () => {
    const state = processor.server.context.accountState;
    const stream = new ScriptedStream(processor);
    const answer = await stream.requestHeaders(post({ 'session-id': 'inflight' }), true);
    const account = String(metadataOf(answer).account);
    const during = state.view(account, processor.clock.now).inFlight;
    await stream.end();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(state.view(account, processor.clock.now).inFlight).toBe(during - 1);
  });
});
