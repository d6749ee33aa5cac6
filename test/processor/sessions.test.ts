import { afterEach, describe, expect, it } from 'vitest';
import { memoryStore } from '../support/stores.js';
import {
  codexRequest,
  metadataOf,
  routedCluster,
  ScriptedStream,
  sseStream,
  startTestProcessor,
  unclosable,
  type TestProcessor,
} from '../support/processor.js';

let processor: TestProcessor | undefined;
afterEach(async () => {
  await processor?.close();
  processor = undefined;
});

/** One request through the processor, with an SSE 200 answer: returns the routed cluster. */
async function codexTurn(
  target: TestProcessor,
  request: { headers: Record<string, string>; body: Record<string, unknown> },
  response: { status?: number; headers?: Record<string, string>; sse?: string } = {},
): Promise<{ cluster: string | undefined; metadata: Record<string, unknown>; immediate?: unknown }> {
  const stream = new ScriptedStream(target);
  await stream.requestHeaders(request.headers);
  const answer = await stream.requestBody(request.body);
  if (answer.immediate_response) {
    await stream.end();
    return { cluster: undefined, metadata: {}, immediate: answer.immediate_response };
  }
  const status = response.status ?? 200;
  const responseAnswer = await stream.responseHeaders({ ':status': String(status), 'content-type': 'text/event-stream', ...response.headers });
  if (responseAnswer.mode_override?.response_body_mode === 'STREAMED' && response.sse) {
    // Chunked at awkward places, as a network would.
    const bytes = Buffer.from(response.sse);
    const cut = Math.floor(bytes.length / 3);
    await stream.responseBody(bytes.subarray(0, cut), false);
    await stream.responseBody(bytes.subarray(cut, cut * 2 + 1), false);
    await stream.responseBody(bytes.subarray(cut * 2 + 1), true);
  }
  await stream.end();
  return { cluster: routedCluster(answer), metadata: metadataOf(answer) };
}

describe('Codex sessions', () => {
  it('100 Codex-shaped sessions of 5 turns each stay on one account and spread over the accounts', async () => {
    processor = await startTestProcessor();
    const clustersBySession = new Map<string, Set<string>>();
    const sessions = Array.from({ length: 100 }, (_, index) => `01a2-session-${index}`);
    for (let turn = 1; turn <= 5; turn++) {
      await Promise.all(
        sessions.map(async (session, index) => {
          const request = codexRequest({ session, turn, principal: `key-${index % 7}` });
          const { cluster, metadata } = await codexTurn(processor!, request, { sse: sseStream(`resp_${session}_${turn}`, `rs_${session}_${turn}`) });
          expect(metadata.strength).toBe(turn === 1 ? 'soft' : 'hard');
          clustersBySession.set(session, (clustersBySession.get(session) ?? new Set()).add(cluster!));
        }),
      );
    }
    const perAccount = new Map<string, number>();
    for (const clusters of clustersBySession.values()) {
      expect(clusters.size).toBe(1);
      const [cluster] = clusters;
      perAccount.set(cluster!, (perAccount.get(cluster!) ?? 0) + 1);
    }
    expect([...perAccount.keys()].sort()).toEqual(['cluster-a', 'cluster-b', 'cluster-c']);
    for (const count of perAccount.values()) expect(count).toBeGreaterThanOrEqual(20);
  });

  it('concurrent first requests of one session all land on one account (first writer wins)', async () => {
    processor = await startTestProcessor();
    const results = await Promise.all(Array.from({ length: 30 }, () => codexTurn(processor!, codexRequest({ session: 'racing', turn: 1 }))));
    expect(new Set(results.map((result) => result.cluster)).size).toBe(1);
  });

  it('one client cannot steer or read another client’s session binding (namespaced by principal)', async () => {
    processor = await startTestProcessor();
    const owner = await codexTurn(processor, codexRequest({ session: 'shared-id', turn: 1, principal: 'owner' }));
    const clusters = new Set<string>();
    for (let index = 0; index < 6; index++) {
      const other = await codexTurn(processor, codexRequest({ session: 'shared-id', turn: 1, principal: `intruder-${index}` }));
      expect(other.metadata.outcome).toBe('new');
      clusters.add(other.cluster!);
    }
    expect(clusters.size).toBeGreaterThan(1);
    expect((await codexTurn(processor, codexRequest({ session: 'shared-id', turn: 2, principal: 'owner' }))).cluster).toBe(owner.cluster);
  });

  it('a soft session moves off an account that answered 429 and is rebound; a hard one stays in its domain', async () => {
    processor = await startTestProcessor({
      accounts: [
        { name: 'a1', cluster: 'cluster-a1', domain: 'org-a' },
        { name: 'a2', cluster: 'cluster-a2', domain: 'org-a' },
        { name: 'b1', cluster: 'cluster-b1', domain: 'org-b' },
      ],
    });
    // Find a session that lands on a1.
    let session = '';
    for (let index = 0; index < 30 && session === ''; index++) {
      const candidate = `s-${index}`;
      const routed = await codexTurn(processor, codexRequest({ session: candidate, turn: 1 }), { sse: sseStream(`resp_${candidate}_1`, `rs_${candidate}_1`) });
      if (routed.cluster === 'cluster-a1') session = candidate;
    }
    expect(session).not.toBe('');
    // a1 answers 429 with retry-after: it cools down.
    await codexTurn(processor, codexRequest({ session, turn: 1 }), { status: 429, headers: { 'retry-after': '120', 'content-type': 'application/json' } });
    const hard = await codexTurn(processor, codexRequest({ session, turn: 2 }));
    expect([hard.cluster, hard.metadata.outcome]).toEqual(['cluster-a2', 'domain_failover']);
    // After the cooldown the hard session returns to its own account: the failover was
    // inside the domain, which reads its state either way, and it moved no binding.
    processor.clock.now += 121_000;
    expect((await codexTurn(processor, codexRequest({ session, turn: 3 }))).cluster).toBe('cluster-a1');

    const soft = `soft-${session}`;
    const first = await codexTurn(processor, codexRequest({ session: soft, turn: 1 }));
    await codexTurn(processor, codexRequest({ session: soft, turn: 1 }), { status: 429, headers: { 'retry-after': '60' } });
    const moved = await codexTurn(processor, codexRequest({ session: soft, turn: 1 }));
    expect(moved.cluster).not.toBe(first.cluster);
    expect(moved.metadata.outcome).toBe('moved');
    expect((await codexTurn(processor, codexRequest({ session: soft, turn: 1 }))).cluster).toBe(moved.cluster);
  });

  it('a hard session whose domain was removed from the config gets a clear 409, not another domain', async () => {
    const store = memoryStore({ maxEntries: 1000 });
    processor = await startTestProcessor({}, { store: unclosable(store) });
    const first = await codexTurn(processor, codexRequest({ session: 'orphan', turn: 1 }), { sse: sseStream('resp_orphan_1', 'rs_orphan_1') });
    await processor.close();
    const remaining = [
      { name: 'acct-a', cluster: 'cluster-a', domain: 'org-a' },
      { name: 'acct-b', cluster: 'cluster-b', domain: 'org-b' },
      { name: 'acct-c', cluster: 'cluster-c', domain: 'org-c' },
    ].filter((account) => account.cluster !== first.cluster);
    processor = await startTestProcessor({ accounts: remaining }, { store: unclosable(store) });
    const resumed = await codexTurn(processor, codexRequest({ session: 'orphan', turn: 2 }));
    const immediate = resumed.immediate as { status: { code: unknown }; body: Buffer; headers: unknown };
    expect(Number(immediate.status.code) || immediate.status.code).toSatisfy((code: unknown) => code === 409 || code === 'Conflict');
    const body = JSON.parse(Buffer.from(immediate.body).toString()) as { error: { code: string; type: string; message: string } };
    expect(body.error.code).toBe('account_domain_unavailable');
    expect(body.error.message).not.toContain('orphan');
  });
});

describe('previous_response_id chains', () => {
  it('follow the account that produced the previous response (JSON responses)', async () => {
    processor = await startTestProcessor();
    const chains = 24;
    const clustersOfChain: Array<Set<string>> = [];
    for (let chain = 0; chain < chains; chain++) {
      const clusters = new Set<string>();
      let previous: string | undefined;
      for (let step = 0; step < 4; step++) {
        const stream = new ScriptedStream(processor);
        await stream.requestHeaders({ ':method': 'POST', ':path': '/v1/responses', 'content-type': 'application/json', authorization: 'Bearer sdk' });
        const answer = await stream.requestBody({ model: 'gpt-5', store: true, input: `chain ${chain} step ${step}`, ...(previous ? { previous_response_id: previous } : {}) });
        clusters.add(routedCluster(answer)!);
        if (previous) expect(metadataOf(answer)).toMatchObject({ strength: 'hard', source: 'previous_response' });
        const responseAnswer = await stream.responseHeaders({ ':status': '200', 'content-type': 'application/json' });
        expect(responseAnswer.mode_override?.response_body_mode).toBe('BUFFERED');
        previous = `resp_${chain}_${step}`;
        const json = JSON.stringify({ id: previous, object: 'response', store: true, output: [], usage: { input_tokens: 10, input_tokens_details: { cached_tokens: 0 } } });
        await stream.responseBody(json, true);
        await stream.end();
      }
      clustersOfChain.push(clusters);
    }
    for (const clusters of clustersOfChain) expect(clusters.size).toBe(1);
    expect(new Set(clustersOfChain.map((clusters) => [...clusters][0])).size).toBe(3);
  });

  it('a resent encrypted reasoning item finds its account after the session binding is gone', async () => {
    const store = memoryStore({ maxEntries: 1000 });
    processor = await startTestProcessor({}, { store: unclosable(store) });
    const first = await codexTurn(processor, codexRequest({ session: 'lost', turn: 1 }), { sse: sseStream('resp_lost_1', 'rs_lost_1') });
    // The session binding is evicted; the learned item binding is not.
    const { bindingKey } = await import('../../src/bindings/binding.js');
    const { requestScope } = await import('../../src/processor/scope.js');
    const scope = requestScope(new Map([['authorization', 'Bearer client-key-1']]), {});
    store.forget(bindingKey(scope, 'session', 'lost'));
    for (let attempt = 0; attempt < 5; attempt++) {
      const resumed = await codexTurn(processor, codexRequest({ session: 'lost', turn: 2 }));
      // The item decides once; the session binding it recreated agrees from then on.
      expect([resumed.cluster, resumed.metadata.source]).toEqual([first.cluster, attempt === 0 ? 'encrypted_item' : 'session_header']);
    }
  });
});
