import { afterEach, describe, expect, it } from 'vitest';
import { turnStateReplayFixture } from '../support/fixtures.js';
import { codexRequest, metadataOf, routedCluster, ScriptedStream, startTestProcessor, type TestProcessor } from '../support/processor.js';

let processor: TestProcessor | undefined;
afterEach(async () => {
  await processor?.close();
  processor = undefined;
});

async function request(
  target: TestProcessor,
  headers: Record<string, string>,
  body: object | undefined,
  response?: Record<string, string>,
): Promise<{ cluster: string; metadata: Record<string, unknown> }> {
  const stream = new ScriptedStream(target);
  let answer = await stream.requestHeaders(headers, body === undefined);
  if (body !== undefined) answer = await stream.requestBody(body);
  if (response) await stream.responseHeaders(response, true);
  await stream.end();
  return { cluster: routedCluster(answer)!, metadata: metadataOf(answer) };
}

const sessionOn = async (target: TestProcessor, cluster: string, prefix: string) => {
  for (let index = 0; index < 40; index++) {
    const session = `${prefix}-${index}`;
    const routed = await request(target, codexRequest({ session, turn: 1 }).headers, codexRequest({ session, turn: 1 }).body);
    if (routed.cluster === cluster) return session;
  }
  throw new Error(`no session landed on ${cluster}`);
};

describe('x-codex-turn-state tokens', () => {
  it('a token learned from a 200 SSE response is replayed with a different session-id and lands on the issuing account', async () => {
    processor = await startTestProcessor();
    const first = codexRequest({ session: 'turn-owner', turn: 1 });
    const issued = await request(processor, first.headers, first.body, { ':status': '200', 'content-type': 'text/event-stream', 'x-codex-turn-state': 'ts-secret-1' });
    const others = ['cluster-a', 'cluster-b', 'cluster-c'].filter((cluster) => cluster !== issued.cluster);
    const stranger = await sessionOn(processor, others[0]!, 'stranger');
    const replay = codexRequest({ session: stranger, turn: 1, extraHeaders: { 'x-codex-turn-state': 'ts-secret-1' } });
    const routed = await request(processor, replay.headers, replay.body, { ':status': '200' });
    expect(routed.cluster).toBe(issued.cluster);
    expect(routed.metadata).toMatchObject({ source: 'turn_state', strength: 'hard' });
    const metrics = await processor.server.context.metrics.registry.getSingleMetricAsString('codex_affinity_anchor_conflicts_total');
    expect(metrics).toMatch(/source="turn_state"} 1/);
    expect(processor.logs.join('')).not.toContain('ts-secret-1');
    // The 200 proved the token's account reads this session: its binding followed the token.
    const after = codexRequest({ session: stranger, turn: 2 });
    expect((await request(processor, after.headers, after.body)).cluster).toBe(issued.cluster);
  });

  it('a token learned from the 101 of a WebSocket upgrade routes the next request of the turn', async () => {
    processor = await startTestProcessor();
    const upgrade = {
      ':method': 'GET',
      ':path': '/v1/responses',
      upgrade: 'websocket',
      connection: 'Upgrade',
      'sec-websocket-version': '13',
      'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
      authorization: 'Bearer client-key-1',
      'session-id': 'ws-session',
    };
    const stream = new ScriptedStream(processor);
    const answer = await stream.requestHeaders(upgrade, false);
    expect(answer.mode_override).toMatchObject({ request_body_mode: 'NONE', response_body_mode: 'NONE' });
    expect(answer.request_headers!.response!.clear_route_cache).toBe(true);
    const cluster = routedCluster(answer)!;
    await stream.responseHeaders({ ':status': '101', upgrade: 'websocket', 'x-codex-turn-state': 'ts-ws-1' });
    await stream.end();
    const replay = codexRequest({ session: 'other-session', turn: 1, extraHeaders: { 'x-codex-turn-state': 'ts-ws-1' } });
    expect((await request(processor, replay.headers, replay.body)).cluster).toBe(cluster);
  });

  it('a replayed token still goes home after the session’s soft binding moved mid-turn', async () => {
    processor = await startTestProcessor();
    const session = 'moving';
    const first = codexRequest({ session, turn: 1 });
    const home = await request(processor, first.headers, first.body, { ':status': '200', 'x-codex-turn-state': 'ts-move' });
    // The home account answers 429: the soft session moves.
    await request(processor, first.headers, first.body, { ':status': '429', 'retry-after': '300' });
    const moved = await request(processor, first.headers, first.body);
    expect(moved.cluster).not.toBe(home.cluster);
    // The tool-call follow-up of the running turn replays the token: it goes to the issuing account.
    const followUp = codexRequest({ session, turn: 1, extraHeaders: { 'x-codex-turn-state': 'ts-move' } });
    expect((await request(processor, followUp.headers, followUp.body)).cluster).toBe(home.cluster);
  });

  it('an unknown token is no error: the other signals decide', async () => {
    processor = await startTestProcessor();
    const plain = codexRequest({ session: 'unknown-token', turn: 1 });
    const bound = await request(processor, plain.headers, plain.body);
    const withToken = codexRequest({ session: 'unknown-token', turn: 1, extraHeaders: { 'x-codex-turn-state': 'never-issued' } });
    const routed = await request(processor, withToken.headers, withToken.body);
    expect([routed.cluster, routed.metadata.source, routed.metadata.strength]).toEqual([bound.cluster, 'session_header', 'soft']);
  });

  it('the recorded Codex CLI 0.169.0 replay sequence stays on the issuing account', async () => {
    processor = await startTestProcessor();
    const [first, followUp, nextTurn] = turnStateReplayFixture().requests;
    const body = { model: 'gpt-5.1-codex', input: 'x', stream: true };
    const issued = await request(processor, { ':method': 'POST', ':path': '/v1/responses', ...first!.headers }, body, {
      ':status': '200',
      'content-type': 'text/event-stream',
      'x-codex-turn-state': 'ts-issued-by-fake-1',
    });
    const replayed = await request(processor, { ':method': 'POST', ':path': '/v1/responses', ...followUp!.headers }, body);
    expect([replayed.cluster, replayed.metadata.source]).toEqual([issued.cluster, 'turn_state']);
    const next = await request(processor, { ':method': 'POST', ':path': '/v1/responses', ...nextTurn!.headers }, body);
    expect([next.cluster, next.metadata.source]).toEqual([issued.cluster, 'session_header']);
  });

  it('tokens are namespaced by principal: another client replaying a token is not steered', async () => {
    processor = await startTestProcessor();
    const owner = codexRequest({ session: 'tok-owner', turn: 1, principal: 'owner' });
    await request(processor, owner.headers, owner.body, { ':status': '200', 'x-codex-turn-state': 'ts-private' });
    const thief = codexRequest({ session: 'tok-thief', turn: 1, principal: 'thief', extraHeaders: { 'x-codex-turn-state': 'ts-private' } });
    expect((await request(processor, thief.headers, thief.body)).metadata.source).toBe('session_header');
  });
});

describe('sub-agent threads', () => {
  it('a spawned thread starts on its parent’s account', async () => {
    processor = await startTestProcessor();
    const parent = codexRequest({ session: 'parent-thread', turn: 1 });
    const home = await request(processor, parent.headers, parent.body);
    for (let index = 0; index < 6; index++) {
      const child = codexRequest({ session: `child-${index}`, turn: 1, extraHeaders: { 'x-codex-parent-thread-id': 'parent-thread', 'x-openai-subagent': 'collab_spawn' } });
      const routed = await request(processor, child.headers, child.body);
      expect([routed.cluster, routed.metadata.outcome, routed.metadata.source, routed.metadata.strength]).toEqual([home.cluster, 'parent', 'parent_thread', 'soft']);
    }
    const fork = codexRequest({ session: 'fork-1', turn: 1, extraHeaders: { 'x-codex-forked-from-thread-id': 'parent-thread' } });
    expect((await request(processor, fork.headers, fork.body)).cluster).toBe(home.cluster);
    // The child's own binding was created: its next turn is bound, no longer parent-decided.
    const childAgain = codexRequest({ session: 'child-0', turn: 1 });
    expect((await request(processor, childAgain.headers, childAgain.body)).metadata).toMatchObject({ outcome: 'bound', source: 'session_header' });
    const metrics = await processor.server.context.metrics.registry.getSingleMetricAsString('codex_affinity_requests_total');
    expect(metrics).toMatch(/source="parent_thread",outcome="parent"/);
  });

  it('a parent named only in client_metadata counts too', async () => {
    processor = await startTestProcessor();
    const parent = codexRequest({ session: 'meta-parent', turn: 1 });
    const home = await request(processor, parent.headers, parent.body);
    const child = codexRequest({ session: 'meta-child', turn: 1 });
    const routed = await request(processor, child.headers, { ...child.body, client_metadata: { 'x-codex-parent-thread-id': 'meta-parent' } });
    expect(routed.cluster).toBe(home.cluster);
  });
});

describe('content seed switch', () => {
  it('routing.contentSeed: false leaves clients without session signals unbound', async () => {
    processor = await startTestProcessor({ routing: { contentSeed: false } });
    const body = { model: 'm', instructions: 'x', input: [{ type: 'message', role: 'user', content: 'same first message' }] };
    const routed = await request(processor, { ':method': 'POST', ':path': '/v1/responses', 'content-type': 'application/json' }, body);
    expect(routed.metadata).toMatchObject({ source: 'none', strength: 'none', outcome: 'unbound' });
  });

  it('with the default (on), the same conversation content keeps one account', async () => {
    processor = await startTestProcessor();
    const clusters = new Set<string>();
    for (let turn = 0; turn < 6; turn++) {
      const input = [{ type: 'message', role: 'user', content: 'same first message' }, ...Array.from({ length: turn }, (_, index) => ({ type: 'message', role: 'assistant', content: `reply ${index}` }))];
      const routed = await request(processor, { ':method': 'POST', ':path': '/v1/responses', 'content-type': 'application/json' }, { model: 'm', input });
      expect(routed.metadata.source).toBe('content_seed');
      clusters.add(routed.cluster);
    }
    expect(clusters.size).toBe(1);
  });
});
