// Behaviours found in review: compressed responses, WebSocket reconnects, domain relabels,
// client-sent cluster headers on inference paths, literal body modes on upgrade errors.
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { memoryStore } from '../support/stores.js';
import { metadataOf, routedCluster, ScriptedStream, setHeaders, startTestProcessor, unclosable, type TestProcessor } from '../support/processor.js';

let processor: TestProcessor | undefined;
afterEach(async () => {
  await processor?.close();
  processor = undefined;
});

const sdkHeaders = { ':method': 'POST', ':path': '/v1/responses', 'content-type': 'application/json', authorization: 'Bearer sdk', 'accept-encoding': 'gzip, deflate, br' };

describe('compressed upstream responses', () => {
  it('inference requests ask the upstream for identity encoding', async () => {
    processor = await startTestProcessor();
    const stream = new ScriptedStream(processor);
    await stream.requestHeaders(sdkHeaders);
    const answer = await stream.requestBody({ model: 'm', input: 'x', store: true });
    await stream.end();
    expect(answer.request_body!.response!.header_mutation!.remove_headers).toContain('accept-encoding');
  });

  it('a gzip JSON response is still read: previous_response_id chains stay home', async () => {
    processor = await startTestProcessor();
    let previous: string | undefined;
    const clusters = new Set<string>();
    for (let step = 0; step < 4; step++) {
      const stream = new ScriptedStream(processor);
      await stream.requestHeaders(sdkHeaders);
      const routed = await stream.requestBody({ model: 'm', input: `step ${step}`, store: true, ...(previous ? { previous_response_id: previous } : {}) });
      clusters.add(routedCluster(routed)!);
      await stream.responseHeaders({ ':status': '200', 'content-type': 'application/json', 'content-encoding': 'gzip' });
      previous = `resp_gzip_${step}`;
      await stream.responseBody(gzipSync(JSON.stringify({ id: previous, object: 'response', store: true, output: [] })), true);
      await stream.end();
    }
    expect(clusters.size).toBe(1);
  });

  it('a gzip error body is classified (the session becomes account-bound)', async () => {
    processor = await startTestProcessor();
    const stream = new ScriptedStream(processor);
    await stream.requestHeaders({ ...sdkHeaders, 'session-id': 'gz-error' });
    await stream.requestBody({ model: 'm', input: 'x' });
    await stream.responseHeaders({ ':status': '400', 'content-type': 'application/json', 'content-encoding': 'gzip' });
    const body = gzipSync(JSON.stringify({ error: { message: 'The encrypted content for item rs_1 could not be verified.', type: 'invalid_request_error', code: 'invalid_encrypted_content' } }));
    const answer = await stream.responseBody(body, true);
    await stream.end();
    expect(setHeaders(answer).get('x-codex-affinity-session')).toBe('account-bound');
  });
});

describe('WebSocket sessions', () => {
  const handshake = (session: string) => ({ ':method': 'GET', ':path': '/v1/responses', upgrade: 'websocket', connection: 'Upgrade', 'session-id': session, authorization: 'Bearer ws' });

  it('are account-bound from their first 101: a reconnect after a cooldown stays on the account', async () => {
    processor = await startTestProcessor({ accounts: [{ name: 'a1', cluster: 'cluster-a1', domain: 'org-a' }, { name: 'b1', cluster: 'cluster-b1', domain: 'org-b' }] });
    const first = new ScriptedStream(processor);
    const opened = await first.requestHeaders(handshake('ws-live'));
    expect(metadataOf(opened).strength).toBe('hard');
    const home = routedCluster(opened);
    await first.responseHeaders({ ':status': '101', upgrade: 'websocket', connection: 'Upgrade' }, false);
    await first.end();
    // The account cools down (another request's 429); the socket's session does not move.
    const other = new ScriptedStream(processor);
    await other.requestHeaders({ ...handshake('ws-live'), 'session-id': 'ws-live' });
    await other.responseHeaders({ ':status': '429', 'retry-after': '300' }, true);
    await other.end();
    const reconnect = new ScriptedStream(processor);
    const again = await reconnect.requestHeaders(handshake('ws-live'));
    await reconnect.end();
    expect([routedCluster(again), metadataOf(again).outcome]).toEqual([home, 'bound']);
  });

  it('a handshake refused before any 101 exchanged nothing: its session may move off the cooling account', async () => {
    processor = await startTestProcessor({ accounts: [{ name: 'a1', cluster: 'cluster-a1', domain: 'org-a' }, { name: 'b1', cluster: 'cluster-b1', domain: 'org-b' }] });
    const first = new ScriptedStream(processor);
    const home = routedCluster(await first.requestHeaders(handshake('ws-refused')));
    await first.responseHeaders({ ':status': '429', 'retry-after': '300' }, true);
    await first.end();
    const reconnect = new ScriptedStream(processor);
    const again = await reconnect.requestHeaders(handshake('ws-refused'));
    await reconnect.end();
    expect(routedCluster(again)).not.toBe(home);
  });

  it('a refused handshake asks for its error body with the request body mode in force (NONE), body modes being literal', async () => {
    processor = await startTestProcessor();
    const stream = new ScriptedStream(processor);
    await stream.requestHeaders(handshake('ws-refused'));
    const answer = await stream.responseHeaders({ ':status': '400', 'content-type': 'application/json' });
    await stream.end();
    expect(answer.mode_override).toMatchObject({ request_body_mode: 'NONE', response_body_mode: 'BUFFERED' });
  });
});

describe('configuration changes', () => {
  it('adding a domain label to a configured account keeps its sessions (no 409)', async () => {
    const store = unclosable(memoryStore({ maxEntries: 1000 }));
    processor = await startTestProcessor({ accounts: [{ name: 'a', cluster: 'cluster-a' }, { name: 'b', cluster: 'cluster-b' }] }, { store });
    const request = { ...sdkHeaders, 'session-id': 'relabel' };
    const hardBody = { model: 'm', input: [{ type: 'reasoning', id: 'rs_1', encrypted_content: 'E' }] };
    let stream = new ScriptedStream(processor);
    await stream.requestHeaders(request);
    const before = await stream.requestBody(hardBody);
    await stream.end();
    await processor.close();
    processor = await startTestProcessor({ accounts: [{ name: 'a', cluster: 'cluster-a', domain: 'org-1' }, { name: 'b', cluster: 'cluster-b', domain: 'org-2' }] }, { store });
    stream = new ScriptedStream(processor);
    await stream.requestHeaders(request);
    const after = await stream.requestBody(hardBody);
    await stream.end();
    expect(after.immediate_response).toBeUndefined();
    expect(routedCluster(after)).toBe(routedCluster(before));
  });
});

describe('client-sent cluster header on inference paths', () => {
  it('is removed already at request_headers, so no failure path can route by it', async () => {
    processor = await startTestProcessor();
    const stream = new ScriptedStream(processor);
    const answer = await stream.requestHeaders({ ...sdkHeaders, 'x-codex-affinity-cluster': 'cluster-evil' });
    await stream.end();
    expect(answer.request_headers!.response!.header_mutation!.remove_headers).toEqual(['x-codex-affinity-cluster']);
    expect(answer.request_headers!.response!.clear_route_cache).toBe(true);
  });
});

describe('stored items (store: true)', () => {
  it('an item_reference to an output item of a stored response goes to the account that stored it', async () => {
    processor = await startTestProcessor();
    const stream = new ScriptedStream(processor);
    await stream.requestHeaders(sdkHeaders);
    const first = await stream.requestBody({ model: 'm', input: 'first', store: true });
    await stream.responseHeaders({ ':status': '200', 'content-type': 'application/json' });
    await stream.responseBody(JSON.stringify({ id: 'resp_stored', store: true, output: [{ type: 'message', id: 'msg_stored_1', role: 'assistant', content: [] }] }), true);
    await stream.end();
    for (let attempt = 0; attempt < 5; attempt++) {
      const next = new ScriptedStream(processor);
      await next.requestHeaders(sdkHeaders);
      const routed = await next.requestBody({ model: 'm', store: true, input: [{ type: 'item_reference', id: 'msg_stored_1' }, { type: 'message', role: 'user', content: `again ${attempt}` }] });
      await next.end();
      expect([routedCluster(routed), metadataOf(routed).strength, metadataOf(routed).source]).toEqual([routedCluster(first), 'hard', 'stored_item']);
    }
  });
});
