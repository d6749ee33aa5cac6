// Codex request normalisation through the whole stack: a ChatGPT-Codex-profile fake account
// with the backend's strictness rejects what OpenCode, the OpenAI SDK and older Codex versions
// send (400), and accepts the same requests once codex-affinity rewrites them (200).
import { describe, expect, it } from 'vitest';
import { postResponses } from '../workload/index.js';
import { startStack } from './stack.js';

const E2E_TIMEOUT = { timeout: 60_000 };

interface Shape {
  name: string;
  headers: Record<string, string>;
  body: Record<string, unknown>;
  /** What the strict backend says without the rewrite. */
  rejectedWith: string;
  /** The client reads JSON (did not ask for a stream). */
  expectsJson: boolean;
}

const user = [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hello' }] }];
const SHAPES: Shape[] = [
  {
    name: 'OpenCode (session_id underscore header, max_output_tokens, no instructions)',
    headers: { session_id: 'ses_opencode_1', 'content-type': 'application/json', accept: 'text/event-stream' },
    body: { model: 'gpt-5.1-codex', input: user, stream: true, store: false, max_output_tokens: 32000, include: ['reasoning.encrypted_content'], prompt_cache_key: 'ses_opencode_1' },
    rejectedWith: 'Unsupported parameter: max_output_tokens',
    expectsJson: false,
  },
  {
    name: 'OpenAI SDK (non-streaming, temperature, store default, no instructions)',
    headers: { 'content-type': 'application/json', 'x-stainless-lang': 'js' },
    body: { model: 'gpt-5.1-codex', input: 'Say hi', temperature: 0.2, max_output_tokens: 256 },
    rejectedWith: 'Unsupported parameter: max_output_tokens',
    expectsJson: true,
  },
  {
    name: 'older Codex (session_id header, prompt_cache_retention, store true)',
    headers: { session_id: '0199-older-codex', 'content-type': 'application/json', accept: 'text/event-stream', originator: 'codex_cli_rs' },
    body: { model: 'gpt-5-codex', instructions: 'You are Codex.', input: user, stream: true, store: true, prompt_cache_retention: '24h', prompt_cache_key: '0199-older-codex' },
    rejectedWith: 'Unsupported parameter: prompt_cache_retention',
    expectsJson: false,
  },
  {
    name: 'Codex CLI 0.169.0 shape on /v1/responses (no instructions)',
    headers: { 'session-id': '01a2-cli', 'thread-id': '01a2-cli', 'content-type': 'application/json', accept: 'text/event-stream' },
    body: { model: 'gpt-5.1-codex', input: user, stream: true, store: false, include: ['reasoning.encrypted_content'], prompt_cache_key: '01a2-cli' },
    rejectedWith: 'Instructions are required',
    expectsJson: false,
  },
];

async function runShapes(rewrite: boolean) {
  const stack = await startStack({
    topology: 'affinity',
    // The fake applies the backend's strictness on /v1 paths too, so the unrewritten request meets it.
    accounts: [{ name: 'codex', domain: 'ws-1', profile: 'chatgpt-codex' }],
    processor: { rewrite: { enabled: rewrite } },
  });
  try {
    const results = [];
    for (const shape of SHAPES) {
      const result = await postResponses(`${stack.url}/v1/responses`, { authorization: 'Bearer client', ...shape.headers }, shape.body, { timeoutMs: 10_000 });
      results.push({ shape, result, upstream: stack.accounts[0]!.requests.at(-1) });
    }
    return results;
  } finally {
    await stack.close();
  }
}

describe('normalisation end to end against the strict ChatGPT Codex backend', () => {
  it('without the rewrite the backend refuses each client shape, for the reason the rewrite fixes', E2E_TIMEOUT, async () => {
    for (const { shape, result, upstream } of await runShapes(false)) {
      expect([shape.name, result.status]).toEqual([shape.name, 400]);
      expect(upstream!.errorCode).toBe(shape.rejectedWith);
    }
  });

  it('with codex-affinity every shape is accepted (400 → 200), with one continuity identity per session', E2E_TIMEOUT, async () => {
    for (const { shape, result, upstream } of await runShapes(true)) {
      expect([shape.name, result.status]).toEqual([shape.name, 200]);
      expect(upstream!.path).toBe('/backend-api/codex/responses');
      expect(upstream!.bodyKeys).not.toContain('max_output_tokens');
      expect(upstream!.bodyKeys).toContain('instructions');
      if (shape.expectsJson) {
        // The backend streamed (it must); the client asked for JSON and got JSON.
        expect(result.headers['content-type']).toMatch(/^application\/json/);
        expect(result.response).toMatchObject({ object: 'response', status: 'completed' });
      } else {
        expect(result.headers['content-type']).toMatch(/^text\/event-stream/);
      }
      const sessionHeader = upstream!.headers['session_id'];
      expect(sessionHeader).toBeDefined();
      expect(upstream!.promptCacheKey).toBe(sessionHeader);
    }
  });
});
