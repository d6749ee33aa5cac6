import { afterEach, describe, expect, it } from 'vitest';
import type { WireProcessingResponse } from '../../src/extproc/wire-types.js';
import { metadataOf, routedCluster, ScriptedStream, startTestProcessor, type TestProcessor } from '../support/processor.js';

let processor: TestProcessor | undefined;
afterEach(async () => {
  await processor?.close();
  processor = undefined;
});

const MIXED = [
  { name: 'api-1', cluster: 'cluster-api-1', domain: 'org-1' },
  { name: 'api-2', cluster: 'cluster-api-2', domain: 'org-1' },
  { name: 'codex', cluster: 'cluster-codex', domain: 'ws-1', profile: 'chatgpt-codex' as const },
];
const sdk = (principal = 'sdk-key') => ({ 'content-type': 'application/json', authorization: `Bearer ${principal}` });

interface Exchange {
  routed: WireProcessingResponse;
  cluster: string | undefined;
}

/** One call: headers (and a body when given), then the upstream's answer with a JSON body. */
async function call(
  target: TestProcessor,
  method: string,
  path: string,
  options: { body?: object; status?: number; answer?: object; principal?: string; extraHeaders?: Record<string, string> } = {},
): Promise<Exchange> {
  const stream = new ScriptedStream(target);
  const headers = { ':method': method, ':path': path, ...sdk(options.principal), ...options.extraHeaders };
  let routed = await stream.requestHeaders(headers, options.body === undefined);
  if (options.body !== undefined) routed = await stream.requestBody(options.body);
  if (routed.immediate_response) {
    await stream.end();
    return { routed, cluster: undefined };
  }
  if (options.answer !== undefined) {
    const answered = await stream.responseHeaders({ ':status': String(options.status ?? 200), 'content-type': 'application/json' });
    if (answered.mode_override?.response_body_mode === 'BUFFERED') await stream.responseBody(JSON.stringify(options.answer), true);
  }
  await stream.end();
  return { routed, cluster: routedCluster(routed) };
}

describe('calls on stored objects go to the exact account that holds them', () => {
  it('a conversation is created on an account that keeps conversations, learned from the answer, and every later use goes there', async () => {
    processor = await startTestProcessor({ accounts: MIXED });
    for (let index = 0; index < 12; index++) {
      const created = await call(processor, 'POST', '/v1/conversations', { body: { metadata: {} }, answer: { id: `conv_${index}`, object: 'conversation', created_at: 1, metadata: {} } });
      expect(created.cluster).not.toBe('cluster-codex');
      // Two session ids carrying one conversation land on one account, the one holding it ...
      for (const session of ['sess-a', 'sess-b']) {
        const used = await call(processor, 'POST', '/v1/responses', { body: { model: 'gpt-5', input: 'hi', conversation: `conv_${index}` }, extraHeaders: { 'session-id': `${session}-${index}` } });
        expect([used.cluster, metadataOf(used.routed).source, metadataOf(used.routed).strength]).toEqual([created.cluster, 'conversation', 'hard']);
      }
      // ... and so do its items, read or deleted.
      expect((await call(processor, 'GET', `/v1/conversations/conv_${index}/items?limit=10`)).cluster).toBe(created.cluster);
      expect((await call(processor, 'DELETE', `/v1/conversations/conv_${index}`)).cluster).toBe(created.cluster);
    }
  });

  it('a conversation stays on its account while that account cools down (the client sees its 429, not not-found)', async () => {
    processor = await startTestProcessor({ accounts: MIXED });
    const created = await call(processor, 'POST', '/v1/conversations', { body: {}, answer: { id: 'conv_cool', object: 'conversation' } });
    await call(processor, 'POST', '/v1/responses', { body: { model: 'gpt-5', input: 'x', conversation: 'conv_cool' }, status: 429, answer: { error: { message: 'Rate limit reached', type: 'requests', code: 'rate_limit_exceeded' } } });
    const during = await call(processor, 'POST', '/v1/responses', { body: { model: 'gpt-5', input: 'y', conversation: { id: 'conv_cool' } } });
    expect(during.cluster).toBe(created.cluster);
  });

  it('a stored or background response is retrieved, cancelled and listed on the account that stored it', async () => {
    processor = await startTestProcessor({ accounts: MIXED });
    const stored = await call(processor, 'POST', '/v1/responses', { body: { model: 'gpt-5', input: 'x', background: true, store: true }, answer: { id: 'resp_bg_1', object: 'response', status: 'queued', store: true, output: [] } });
    expect(stored.cluster).not.toBe('cluster-codex');
    for (const [method, path] of [['GET', '/v1/responses/resp_bg_1'], ['POST', '/v1/responses/resp_bg_1/cancel'], ['GET', '/v1/responses/resp_bg_1/input_items'], ['DELETE', '/v1/responses/resp_bg_1']] as const) {
      const routed = await call(processor, method, path, method === 'POST' ? { body: {} } : {});
      expect([method, path, routed.cluster]).toEqual([method, path, stored.cluster]);
    }
  });

  it('an unknown conversation is an orphan: placed on a capable account, and a 404 there sends the next try to the next account', async () => {
    processor = await startTestProcessor({ accounts: MIXED });
    const first = await call(processor, 'GET', '/v1/conversations/conv_unknown', { status: 404, answer: { error: { message: "Conversation with id 'conv_unknown' not found.", type: 'invalid_request_error', param: null, code: null } } });
    expect(metadataOf(first.routed)).toMatchObject({ outcome: 'orphan', strength: 'hard' });
    const second = await call(processor, 'GET', '/v1/conversations/conv_unknown');
    expect([first.cluster, second.cluster].sort()).toEqual(['cluster-api-1', 'cluster-api-2']);
  });

  it('with no account that keeps conversations the client gets a clear 400', async () => {
    processor = await startTestProcessor({ accounts: [MIXED[2]!] });
    const refused = await call(processor, 'POST', '/v1/conversations', { body: {} });
    const immediate = refused.routed.immediate_response!;
    const body = JSON.parse(Buffer.from(immediate.body as Buffer).toString()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('capability_unavailable');
    expect(body.error.message).toContain('conversations');
  });

  it('/v1/responses/compact stays an inference call, and other paths pass through untouched', async () => {
    processor = await startTestProcessor({ accounts: MIXED });
    const compact = await call(processor, 'POST', '/v1/responses/compact', { body: { model: 'gpt-5', input: [], instructions: 'x' }, extraHeaders: { 'session-id': 'c1' } });
    expect(metadataOf(compact.routed).source).toBe('session_header');
    const models = new ScriptedStream(processor);
    const passed = await models.requestHeaders({ ':method': 'GET', ':path': '/v1/models', ...sdk() }, true);
    await models.end();
    expect(routedCluster(passed)).toBeUndefined();
  });
});
