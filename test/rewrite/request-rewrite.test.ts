import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { scanJsonBody } from '../../src/body/json-scan.js';
import { continuityKey } from '../../src/rewrite/continuity.js';
import { mergeRules, PROFILE_RULES, DEFAULT_CODEX_INSTRUCTIONS } from '../../src/rewrite/profiles.js';
import { rewriteRequest, type RewriteInput } from '../../src/rewrite/request-rewrite.js';
import { websocketHandshakeChanges } from '../../src/rewrite/websocket-handshake.js';

function rewrite(body: unknown, overrides: Partial<RewriteInput> = {}) {
  const buffer = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  const input: RewriteInput = {
    path: '/v1/responses',
    query: '',
    headers: new Map(),
    body: { buffer, scan: scanJsonBody(buffer) },
    rules: PROFILE_RULES['chatgpt-codex'],
    continuity: undefined,
    sessionHeaders: ['session_id'],
    ...overrides,
  };
  const result = rewriteRequest(input);
  return { result, json: result.body ? (JSON.parse(result.body.toString()) as Record<string, unknown>) : undefined, buffer };
}

describe('chatgpt-codex profile', () => {
  it('removes every parameter the backend rejects, forces stream and store, injects instructions', () => {
    const { json, result } = rewrite({
      model: 'gpt-5.1-codex',
      max_output_tokens: 100,
      max_completion_tokens: 5,
      temperature: 0.2,
      top_p: 1,
      truncation: 'auto',
      prompt_cache_retention: '24h',
      stream: false,
      store: true,
      input: [{ type: 'message', role: 'user', content: 'hi' }],
    });
    expect(json).toEqual({ model: 'gpt-5.1-codex', stream: true, store: false, input: [{ type: 'message', role: 'user', content: 'hi' }], instructions: DEFAULT_CODEX_INSTRUCTIONS });
    expect(result.applied).toContain('remove:max_output_tokens');
    expect(result.applied).toContain('instructions');
  });

  it('removes duplicated keys entirely (JSON.parse would keep the last one)', () => {
    const { json } = rewrite('{"temperature":1,"model":"m","temperature":2,"stream":true,"store":false,"instructions":"x"}');
    expect(json).toEqual({ model: 'm', stream: true, store: false, instructions: 'x' });
  });

  it.each([[''], ['   '], [null]])('injects instructions when they are %j', (instructions) => {
    expect(rewrite({ instructions, stream: true, store: false }).json!.instructions).toBe(DEFAULT_CODEX_INSTRUCTIONS);
  });

  it("never replaces the caller's own instructions", () => {
    const { result } = rewrite({ instructions: 'Be terse.', stream: true, store: false });
    expect(result.body).toBeUndefined();
  });

  it('does not force stream/store on the compact endpoint (one JSON document in and out)', () => {
    const { json } = rewrite({ model: 'm', input: [], max_output_tokens: 5 }, { path: '/v1/responses/compact' });
    expect(json).toEqual({ model: 'm', input: [], instructions: DEFAULT_CODEX_INSTRUCTIONS });
  });

  it('maps the path and keeps the query string', () => {
    const { result } = rewrite({ stream: true, store: false, instructions: 'x' }, { query: '?trace=1' });
    expect(result.setHeaders).toContainEqual([':path', '/backend-api/codex/responses?trace=1']);
  });

  it('per-account overrides: keep a field, add a removal, turn injection off, map another path', () => {
    const rules = mergeRules(PROFILE_RULES['chatgpt-codex'], { keep: ['temperature'], remove: ['metadata'], defaultInstructions: null, paths: { '/v2/r': '/x' } });
    const { json, result } = rewrite({ temperature: 1, metadata: {}, stream: true, store: false }, { rules, path: '/v2/r' });
    expect(json).toEqual({ temperature: 1, stream: true, store: false });
    expect(result.setHeaders).toContainEqual([':path', '/x']);
  });
});

describe('openai profile', () => {
  it('preserves caller fields, prompt_cache_retention included: byte-identical, no body', () => {
    const { result } = rewrite({ model: 'gpt-5', prompt_cache_retention: '24h', max_output_tokens: 10, temperature: 0.1, prompt_cache_key: 'k' }, { rules: PROFILE_RULES.openai });
    expect(result.body).toBeUndefined();
    expect(result.setHeaders).toEqual([]);
  });
});

describe('continuity', () => {
  const scope = { pool: 'default', principal: 'p' };
  it('sets prompt_cache_key and the session header from the session, identically on every turn', () => {
    const key = continuityKey(scope, { source: 'session_header', value: 'thread-1' }, undefined);
    expect(key).toBe('thread-1');
    const turn1 = rewrite({ input: 'a' }, { rules: PROFILE_RULES.openai, continuity: key });
    const turn2 = rewrite({ input: 'a b c' }, { rules: PROFILE_RULES.openai, continuity: key });
    expect(turn1.json!.prompt_cache_key).toBe('thread-1');
    expect(turn2.json!.prompt_cache_key).toBe('thread-1');
    expect(turn1.result.setHeaders).toEqual([['session_id', 'thread-1']]);
  });

  it("never changes a caller's prompt_cache_key; the session header follows it", () => {
    const key = continuityKey(scope, { source: 'session_header', value: 'thread-1' }, 'caller-key');
    const { result } = rewrite({ prompt_cache_key: 'caller-key' }, { rules: PROFILE_RULES.openai, continuity: key });
    expect(result.body).toBeUndefined();
    expect(result.setHeaders).toEqual([['session_id', 'caller-key']]);
  });

  it('content-seeded or unsafe ids become a stable namespaced hash, never random', () => {
    const seeded = continuityKey(scope, { source: 'content_seed', value: 'seed' }, undefined);
    expect(seeded).toMatch(/^ca_[A-Za-z0-9_-]{32}$/);
    expect(continuityKey(scope, { source: 'content_seed', value: 'seed' }, undefined)).toBe(seeded);
    expect(continuityKey({ ...scope, principal: 'q' }, { source: 'content_seed', value: 'seed' }, undefined)).not.toBe(seeded);
    expect(continuityKey(scope, { source: 'prompt_cache_key', value: 'a\r\nb' }, undefined)).toMatch(/^ca_/);
  });

  it('a value with CR/LF is never copied into a header', () => {
    const { result } = rewrite({ prompt_cache_key: 'x\r\ninjected: 1' }, { rules: PROFILE_RULES.openai, continuity: 'x\r\ninjected: 1' });
    expect(result.setHeaders).toEqual([]);
  });
});

describe('WebSocket handshakes', () => {
  it('drop HTTP-only headers and swap the beta token, keeping other tokens', () => {
    const headers = new Map([
      ['accept', 'text/event-stream'],
      ['content-type', 'application/json'],
      ['cookie', 'a=b'],
      ['accept-encoding', 'gzip'],
      ['openai-beta', 'responses=experimental, assistants=v2'],
      ['upgrade', 'websocket'],
      ['connection', 'Upgrade'],
    ]);
    const changes = websocketHandshakeChanges(headers, 'responses_websockets=2026-02-06');
    expect(changes.remove.sort()).toEqual(['accept', 'accept-encoding', 'content-type', 'cookie']);
    expect(changes.set).toEqual([['openai-beta', 'responses_websockets=2026-02-06, assistants=v2']]);
  });
});

describe('property: arbitrary JSON bodies', () => {
  it('the rewrite never throws, always yields valid JSON, and leaves caller instructions untouched', () => {
    const body = fc.record(
      {
        instructions: fc.oneof(fc.string(), fc.constant(null), fc.jsonValue()),
        stream: fc.jsonValue(),
        store: fc.jsonValue(),
        max_output_tokens: fc.jsonValue(),
        temperature: fc.jsonValue(),
        prompt_cache_key: fc.string(),
        input: fc.jsonValue(),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(body, fc.dictionary(fc.string(), fc.jsonValue()), fc.constantFrom('chatgpt-codex', 'openai') as fc.Arbitrary<'chatgpt-codex' | 'openai'>, fc.option(fc.string({ minLength: 1 })), (known, extra, profile, continuity) => {
        const value = { ...extra, ...known };
        const { result, json, buffer } = rewrite(value, { rules: PROFILE_RULES[profile], continuity: continuity ?? undefined });
        const after = json ?? (JSON.parse(buffer.toString()) as Record<string, unknown>);
        if (typeof value.instructions === 'string' && value.instructions.trim() !== '') expect(after.instructions).toBe(value.instructions);
        if (value.prompt_cache_key !== undefined) expect(after.prompt_cache_key).toBe(value.prompt_cache_key);
        if (profile === 'chatgpt-codex') {
          expect(after.stream).toBe(true);
          expect(after.store).toBe(false);
          expect('max_output_tokens' in after).toBe(false);
        }
        if (result.body === undefined) expect(json).toBeUndefined();
      }),
      { numRuns: 400 },
    );
  });
});
