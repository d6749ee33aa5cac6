import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildCodexRequest, initialHistory, sampleCodexRequest, userMessage } from './codex-request.js';
import { createRng } from './rng.js';

const FIXTURES = new URL('../fixtures/codex-cli-0.169.0/', import.meta.url);
const load = (name: string) => JSON.parse(readFileSync(new URL(name, FIXTURES), 'utf8')) as { headers: Record<string, string>; body: Record<string, unknown> };

function sample(seed: number, extra: Partial<Parameters<typeof buildCodexRequest>[0]> = {}) {
  const rng = createRng(seed, 'unit');
  const threadId = rng.uuid();
  const history = [...initialHistory(rng), userMessage(`msg_${rng.uuid()}`, 'say hi')];
  return buildCodexRequest(
    { threadId, installationId: rng.uuid(), contextWindowId: rng.uuid(), turnId: rng.uuid(), turnStartedAtMs: rng.clockMs(), historyInitialization: 'new', ...extra },
    history,
  );
}

describe('buildCodexRequest', () => {
  const first = load('first-turn.json');

  it('sends the fixture headers, in the fixture order (minus host/content-length)', () => {
    const { headers } = sample(1);
    const expected = Object.keys(first.headers).filter((h) => h !== 'host' && h !== 'content-length');
    expect(Object.keys(headers)).toEqual(expected);
    expect(headers.accept).toBe('text/event-stream');
    expect(headers.originator).toBe('codex_exec');
    expect(headers['user-agent']).toBe(first.headers['user-agent']);
    expect(headers['x-codex-window-id']).toBe(`${headers['session-id']}:0`);
    expect(headers['thread-id']).toBe(headers['session-id']);
    expect(headers['x-client-request-id']).toBe(headers['session-id']);
  });

  it('turn metadata has the fixture keys and the same ids as the headers', () => {
    const { headers, body } = sample(2);
    const meta = JSON.parse(headers['x-codex-turn-metadata']!) as Record<string, unknown>;
    const fixtureMeta = JSON.parse(first.headers['x-codex-turn-metadata']!) as Record<string, unknown>;
    expect(Object.keys(meta)).toEqual(Object.keys(fixtureMeta));
    expect(meta.session_id).toBe(headers['session-id']);
    expect(meta.thread_id).toBe(headers['session-id']);
    expect(meta.turn_id).toBe((body.client_metadata as Record<string, unknown>).turn_id);
    expect(headers['session-id']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('body has the fixture keys and values that matter for affinity', () => {
    const { headers, body } = sample(3);
    expect(Object.keys(body)).toEqual(Object.keys(first.body));
    expect(body).toMatchObject({ stream: true, store: false, include: ['reasoning.encrypted_content'], tool_choice: 'auto', parallel_tool_calls: true, reasoning: { summary: 'auto' } });
    expect(body.prompt_cache_key).toBe(headers['session-id']);
    expect(Object.keys(body.client_metadata as object).sort()).toEqual(Object.keys(first.body.client_metadata as object).sort());
    const roles = (body.input as { role: string }[]).map((i) => i.role);
    expect(roles).toEqual(['developer', 'developer', 'user', 'user']);
  });

  it('replays a turn state, supports the underscore header style and instructions', () => {
    const { headers, body } = sample(4, { turnState: 'ts_abc', headerStyle: 'session_id-underscore', instructions: 'Be brief.' });
    expect(Object.keys(headers)[1]).toBe('x-codex-turn-state');
    expect(headers['x-codex-turn-state']).toBe('ts_abc');
    expect(headers['session-id']).toBeUndefined();
    expect(headers.session_id).toBeDefined();
    expect(headers.conversation_id).toBe(headers.session_id);
    expect(body.instructions).toBe('Be brief.');
  });

  it('is deterministic for a seed and differs across seeds', () => {
    expect(JSON.stringify(sample(7))).toBe(JSON.stringify(sample(7)));
    expect(sample(7).headers['session-id']).not.toBe(sample(8).headers['session-id']);
  });

  it('sampleCodexRequest builds a first turn or a cold resume like the fixtures', () => {
    const resumeFixture = load('cold-resume.json');
    const first = sampleCodexRequest({ seed: 11 });
    expect((first.body.input as unknown[]).length).toBe(4);
    expect(first.headers['session-id']).toBe(first.threadId);
    const resumed = sampleCodexRequest({ seed: 11, resumeWithEncryptedContent: 'ENC-acctA-1' });
    expect(resumed.threadId).toBe(first.threadId);
    const types = (resumed.body.input as { type: string; role?: string }[]).map((i) => `${i.type}:${i.role ?? ''}`);
    const fixtureTypes = (resumeFixture.body.input as { type: string; role?: string }[]).map((i) => `${i.type}:${i.role ?? ''}`);
    expect(types).toEqual(fixtureTypes);
    expect((resumed.body.input as Record<string, unknown>[])[4]).toEqual((resumeFixture.body.input as Record<string, unknown>[])[4]);
    const meta = JSON.parse(resumed.headers['x-codex-turn-metadata']!) as { history_initialization: string };
    expect(meta.history_initialization).toBe('cold_resume');
  });
});
