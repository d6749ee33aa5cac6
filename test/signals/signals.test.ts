import { describe, expect, it } from 'vitest';
import { scanJsonBody } from '../../src/body/json-scan.js';
import { contentSeed } from '../../src/signals/content-seed.js';
import { extractSignals } from '../../src/signals/signals.js';
import { chooseStickyKey, requestStrength, STICKY_KEY_PRECEDENCE } from '../../src/signals/sticky-key.js';
import { codexFixture } from '../support/fixtures.js';

function signalsOf(headers: Record<string, string>, body?: unknown) {
  const map = new Map(Object.entries(headers));
  if (body === undefined) return extractSignals(map);
  const buffer = Buffer.from(JSON.stringify(body));
  return extractSignals(map, { buffer, scan: scanJsonBody(buffer) });
}

describe('signals from real Codex requests', () => {
  it('first turn: session-id header is the sticky key, soft (include alone is not hard)', () => {
    const request = codexFixture('first-turn.json');
    const signals = signalsOf(request.headers, request.body);
    expect(chooseStickyKey(signals)).toEqual({ source: 'session_header', value: '01a20eee-40c2-7a43-b541-57e6a3d8b683' });
    expect(request.body.include).toEqual(['reasoning.encrypted_content']);
    expect(requestStrength(signals, false, true)).toBe('soft');
  });

  it('cold resume: the resent reasoning item makes the request hard', () => {
    const request = codexFixture('cold-resume.json');
    const signals = signalsOf(request.headers, request.body);
    expect(signals.hasEncryptedContent).toBe(true);
    expect(signals.encryptedItemIds).toEqual(['rs_1']);
    expect(requestStrength(signals, false, true)).toBe('hard');
  });
});

describe('sticky key precedence', () => {
  const all = {
    'session-id': 'S-hyphen',
    'thread-id': 'T',
    'x-codex-window-id': 'W:3',
    'x-codex-turn-metadata': JSON.stringify({ session_id: 'M' }),
  };
  const body = { prompt_cache_key: 'P', client_metadata: { session_id: 'C' }, conversation: 'conv_1' };

  it('is written once, as data, in the documented order', () => {
    expect(STICKY_KEY_PRECEDENCE.map((entry) => entry.source)).toEqual([
      'session_header', 'thread_header', 'window_id', 'turn_metadata', 'prompt_cache_key', 'client_metadata', 'conversation',
    ]);
  });

  it.each([
    [{ ...all }, body, 'session_header', 'S-hyphen'],
    [{ session_id: 'S-underscore' }, {}, 'session_header', 'S-underscore'],
    [{ 'thread-id': 'T' }, body, 'thread_header', 'T'],
    [{ conversation_id: 'CI' }, {}, 'thread_header', 'CI'],
    [{ 'conversation-id': 'CI2' }, {}, 'thread_header', 'CI2'],
    [{ 'x-codex-window-id': 'thread-9:12' }, body, 'window_id', 'thread-9'],
    [{ 'x-codex-turn-metadata': JSON.stringify({ session_id: 'M' }) }, body, 'turn_metadata', 'M'],
    [{}, body, 'prompt_cache_key', 'P'],
    [{}, { client_metadata: { session_id: 'C' }, conversation: 'conv_1' }, 'client_metadata', 'C'],
    [{}, { conversation: { id: 'conv_2' } }, 'conversation', 'conv_2'],
  ])('%j + %j → %s', (headers, requestBody, source, value) => {
    expect(chooseStickyKey(signalsOf(headers, requestBody))).toEqual({ source, value });
  });

  it('ignores blank, oversized and malformed values and falls through', () => {
    const signals = signalsOf(
      { 'session-id': '   ', 'thread-id': 'x'.repeat(10_000), 'x-codex-turn-metadata': '{not json' },
      { prompt_cache_key: 42, client_metadata: { session_id: 'C' } },
    );
    expect(chooseStickyKey(signals)).toEqual({ source: 'client_metadata', value: 'C' });
  });

  it('falls back to the content seed only when nothing else is there', () => {
    expect(chooseStickyKey(signalsOf({}, {}), () => 'seed')).toEqual({ source: 'content_seed', value: 'seed' });
    expect(chooseStickyKey(signalsOf({}, { prompt_cache_key: 'P' }), () => 'seed')?.source).toBe('prompt_cache_key');
    expect(chooseStickyKey(signalsOf({}, {}))).toBeUndefined();
  });
});

describe('strength', () => {
  it.each([
    [{}, { previous_response_id: 'resp_1' }, false, 'hard'],
    [{}, { conversation: 'conv_1' }, false, 'hard'],
    [{}, { input: [{ type: 'reasoning', id: 'rs', encrypted_content: 'E' }] }, false, 'hard'],
    [{}, { input: [{ type: 'compaction', encrypted_content: 'E' }] }, false, 'hard'],
    [{ 'x-codex-turn-state': 'tok' }, {}, true, 'hard'],
    [{ 'x-codex-turn-state': 'tok' }, {}, false, 'soft'],
    [{}, { include: ['reasoning.encrypted_content'], prompt_cache_key: 'P' }, false, 'soft'],
    [{}, { include: ['reasoning.encrypted_content'] }, false, 'none'],
    [{}, { input: [{ type: 'reasoning', encrypted_content: '' }] }, false, 'none'],
    [{}, { input: [{ type: 'item_reference', id: 'msg_stored' }] }, false, 'hard'],
    [{}, { input: [{ type: 'reasoning', id: 'rs_stored', summary: [] }] }, false, 'hard'],
    [{}, { input: [{ type: 'message', id: 'msg_1', role: 'user', content: 'hi' }] }, false, 'none'],
  ])('%j %j (known token %s) → %s', (headers, body, knownToken, expected) => {
    const signals = signalsOf(headers, body);
    expect(requestStrength(signals, knownToken, chooseStickyKey(signals) !== undefined)).toBe(expected);
  });
});

describe('content seed', () => {
  const seedOf = (value: unknown) => {
    const buffer = Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));
    return contentSeed(buffer, scanJsonBody(buffer));
  };
  const turn1 = {
    model: 'gpt-5',
    instructions: 'be brief',
    tools: [{ type: 'function', name: 'f', parameters: { b: 1, a: 2 } }],
    input: [
      { type: 'message', role: 'developer', content: 'dev' },
      { type: 'message', role: 'user', content: 'hello' },
    ],
  };

  it('is stable across turns of one conversation', () => {
    const turn2 = { ...turn1, input: [...turn1.input, { type: 'message', role: 'assistant', content: 'hi' }, { type: 'message', role: 'user', content: 'more' }] };
    expect(seedOf(turn2)).toBe(seedOf(turn1));
  });

  it('ignores key order and whitespace (canonical JSON)', () => {
    const reordered = `{ "input": [ {"content":"dev","role":"developer","type":"message"}, {"role":"user","type":"message","content":"hello"} ],
      "tools": [{"parameters": {"a": 2, "b": 1}, "name": "f", "type": "function"}], "instructions": "be brief", "model": "gpt-5" }`;
    expect(seedOf(reordered)).toBe(seedOf(turn1));
  });

  it('differs when the first user message, model, instructions or tools differ', () => {
    const base = seedOf(turn1);
    expect(seedOf({ ...turn1, model: 'other' })).not.toBe(base);
    expect(seedOf({ ...turn1, instructions: 'other' })).not.toBe(base);
    expect(seedOf({ ...turn1, tools: [] })).not.toBe(base);
    expect(seedOf({ ...turn1, input: [turn1.input[0], { type: 'message', role: 'user', content: 'bye' }] })).not.toBe(base);
  });

  it('accepts a string input and chat-completions messages; nothing to seed gives undefined', () => {
    expect(seedOf({ model: 'm', input: 'hi' })).toBeDefined();
    expect(seedOf({ model: 'm', messages: [{ role: 'system', content: 's' }, { role: 'user', content: 'u' }] })).toBeDefined();
    expect(seedOf({ model: 'm' })).toBeUndefined();
  });
});
