// What held under the adversarial review of tenancy: stored-object paths, pass-through
// paths, duplicate JSON keys and session headers.
import { afterEach, describe, expect, it } from 'vitest';
import type { WireProcessingResponse } from '../../src/extproc/wire-types.js';
import { ScriptedStream, setHeaders, startTestProcessor, type TestProcessor } from '../support/processor.js';

process.env.CODEX_AFFINITY_REVIEW_HELD = 'sk-pool-held';
const accounts = [
  { name: 'acct-a', cluster: 'cluster-a', domain: 'org-a', profile: 'openai' as const, credential: { apiKey: { env: 'CODEX_AFFINITY_REVIEW_HELD' } } },
  { name: 'acct-b', cluster: 'cluster-b', domain: 'org-b', profile: 'openai' as const, credential: { apiKey: { env: 'CODEX_AFFINITY_REVIEW_HELD' } } },
];
let processor: TestProcessor | undefined;
afterEach(async () => { await processor?.close(); processor = undefined; });
const status = (a: WireProcessingResponse) => (a.immediate_response?.status as { code?: unknown } | undefined)?.code;

describe('held', () => {
  it.each([
    ['GET', '/v1/responses/resp_A/input_items?limit=5'],
    ['DELETE', '/responses/resp_A'],
    ['POST', '/v1/responses/resp_A/cancel'],
    ['GET', '/v1/responses/resp_A/'],
    ['GET', '/v1/conversations/conv_A/items?limit=1'],
    ['DELETE', '/v1/conversations/conv_A/items/msg_1'],
  ])('%s %s by a principal that did not store it: 404, no credential', async (method, path) => {
    processor = await startTestProcessor({ accounts });
    const stream = new ScriptedStream(processor);
    const answer = await stream.requestHeaders({ ':method': method, ':path': path, authorization: 'Bearer b' }, true);
    await stream.end();
    expect([404, 'NotFound']).toContain(status(answer));
  });
  it.each([
    ['GET', '/v1/responses/resp%5FA'],
    ['GET', '/v1/responses//resp_A'],
    ['GET', '/v1/responses/./resp_A'],
    ['PUT', '/v1/responses/resp_A'],
    ['GET', '/v1/chat/completions/cc_1'],
  ])('%s %s passes through without the pool credential and without the client cluster header', async (method, path) => {
    processor = await startTestProcessor({ accounts });
    const stream = new ScriptedStream(processor);
    const answer = await stream.requestHeaders({ ':method': method, ':path': path, authorization: 'Bearer b', 'x-codex-affinity-cluster': 'cluster-a' }, true);
    await stream.end();
    expect(setHeaders(answer).has('authorization')).toBe(false);
    expect(answer.request_headers?.response?.header_mutation?.remove_headers).toContain('x-codex-affinity-cluster');
  });
  it('duplicate previous_response_id: the last one (what JSON.parse and the upstream read) is checked', async () => {
    processor = await startTestProcessor({ accounts });
    const stream = new ScriptedStream(processor);
    await stream.requestHeaders({ ':method': 'POST', ':path': '/v1/responses', 'content-type': 'application/json', authorization: 'Bearer b' });
    const answer = await stream.requestBody('{"model":"m","previous_response_id":"resp_mine","input":"x","previous_response_id":"resp_A"}');
    await stream.end();
    expect([404, 'NotFound']).toContain(status(answer));
  });
  it('duplicate prompt_cache_key: every occurrence is replaced', async () => {
    processor = await startTestProcessor({ accounts });
    const stream = new ScriptedStream(processor);
    await stream.requestHeaders({ ':method': 'POST', ':path': '/v1/responses', 'content-type': 'application/json', authorization: 'Bearer b', session_id: 'victim', 'session-id': 'other' });
    const answer = await stream.requestBody('{"model":"m","prompt_cache_key":"victim","input":"x","prompt_cache_key":"victim"}');
    await stream.end();
    const body = Buffer.from(answer.request_body!.response!.body_mutation!.body as Buffer).toString();
    expect(body).not.toContain('victim');
    expect(setHeaders(answer).get('session_id')).toMatch(/^ca_/);
    expect(setHeaders(answer).get('session-id')).toMatch(/^ca_/);
  });
});
