import { afterEach, describe, expect, it } from 'vitest';
import { memoryStore } from '../support/stores.js';
import { codexRequest, metadataOf, routedCluster, ScriptedStream, setHeaders, sseStream, startTestProcessor, THREE_DOMAINS, unclosable, type TestProcessor } from '../support/processor.js';

let processor: TestProcessor | undefined;
afterEach(async () => {
  await processor?.close();
  processor = undefined;
});

/** Starts a session (turn 1, SSE answer teaching its reasoning item), then drops its account's domain from the config. */
async function sessionWhoseDomainIsRemoved(healing: boolean) {
  const store = unclosable(memoryStore({ maxEntries: 1000 }));
  processor = await startTestProcessor({}, { store });
  const stream = new ScriptedStream(processor);
  const first = codexRequest({ session: 'orphan', turn: 1 });
  await stream.requestHeaders(first.headers);
  const routed = await stream.requestBody(first.body);
  await stream.responseHeaders({ ':status': '200', 'content-type': 'text/event-stream', 'x-codex-turn-state': 'ts-orphan' });
  await stream.responseBody(sseStream('resp_orphan_1', 'rs_orphan_1'), true);
  await stream.end();
  const goneCluster = routedCluster(routed)!;
  await processor.close();
  processor = await startTestProcessor({ accounts: THREE_DOMAINS!.filter((account) => account.cluster !== goneCluster), healing: { enabled: healing } }, { store });
  return goneCluster;
}

describe('healing a session whose domain is gone', () => {
  it('is off by default: the client gets 409 account_domain_unavailable', async () => {
    await sessionWhoseDomainIsRemoved(false);
    const stream = new ScriptedStream(processor!);
    const resume = codexRequest({ session: 'orphan', turn: 2, encryptedFrom: 'gone' });
    await stream.requestHeaders(resume.headers);
    const answer = await stream.requestBody(resume.body);
    expect(answer.immediate_response).toBeDefined();
    await stream.end();
  });

  it('when on: drops the unreadable reasoning and the dangling previous_response_id, rebinds, and says so in a response header', async () => {
    const gone = await sessionWhoseDomainIsRemoved(true);
    const stream = new ScriptedStream(processor!);
    const resume = codexRequest({ session: 'orphan', turn: 2, extraHeaders: { 'x-codex-turn-state': 'ts-orphan' } });
    const body = { ...resume.body, previous_response_id: 'resp_orphan_1' };
    await stream.requestHeaders(resume.headers);
    const answer = await stream.requestBody(body);
    expect(answer.immediate_response).toBeUndefined();
    const cluster = routedCluster(answer)!;
    expect(cluster).not.toBe(gone);
    const sent = JSON.parse(Buffer.from(answer.request_body!.response!.body_mutation!.body!).toString()) as { input: Array<{ type: string; encrypted_content?: string }>; previous_response_id?: string };
    expect(sent.input.filter((item) => item.encrypted_content !== undefined)).toEqual([]);
    expect(sent.input.map((item) => item.type)).toEqual(['message', 'message', 'message', 'message']);
    expect(sent.previous_response_id).toBeUndefined();
    expect(answer.request_body!.response!.header_mutation!.remove_headers).toContain('x-codex-turn-state');
    const responseAnswer = await stream.responseHeaders({ ':status': '200', 'content-type': 'text/plain' }, true);
    expect(setHeaders(responseAnswer).get('x-codex-affinity-healed')).toBe('dropped-reasoning-items=1; dropped-previous-response');
    await stream.end();
    // The session lives on its new account from now on.
    const next = new ScriptedStream(processor!);
    const later = codexRequest({ session: 'orphan', turn: 1 });
    await next.requestHeaders(later.headers);
    const again = await next.requestBody(later.body);
    await next.end();
    expect([routedCluster(again), metadataOf(again).outcome]).toEqual([cluster, 'bound']);
    const metrics = await processor!.server.context.metrics.registry.getSingleMetricAsString('codex_affinity_heals_total');
    expect(metrics).toMatch(/outcome="rebound"} 1/);
  });
});

describe('healing on later turns', () => {
  it('the client keeps resending the old reasoning: it is dropped on every turn, also without learned item bindings', async () => {
    const store = unclosable(memoryStore({ maxEntries: 1000 }));
    processor = await startTestProcessor({ responses: { learnResponseIds: false } }, { store });
    const first = codexRequest({ session: 'forgetful', turn: 1 });
    let stream = new ScriptedStream(processor);
    await stream.requestHeaders(first.headers);
    const routed = await stream.requestBody(first.body);
    await stream.end();
    const gone = routedCluster(routed)!;
    await processor.close();
    processor = await startTestProcessor({ accounts: THREE_DOMAINS!.filter((account) => account.cluster !== gone), healing: { enabled: true }, responses: { learnResponseIds: false } }, { store });
    for (let turn = 2; turn <= 4; turn++) {
      stream = new ScriptedStream(processor);
      const resume = codexRequest({ session: 'forgetful', turn });
      await stream.requestHeaders(resume.headers);
      const answer = await stream.requestBody(resume.body);
      await stream.end();
      expect(answer.immediate_response).toBeUndefined();
      const sent = JSON.parse(Buffer.from(answer.request_body!.response!.body_mutation!.body!).toString()) as { input: Array<{ encrypted_content?: string }> };
      expect(sent.input.filter((item) => item.encrypted_content !== undefined)).toEqual([]);
    }
  });
});
