import { afterAll, describe, expect, it } from 'vitest';
import { CHATGPT_UNSUPPORTED_PARAMETERS } from './strictness.js';
import { account, closeAll, codexBody, post } from './test-helpers.js';

const PATH = '/backend-api/codex/responses';

describe('ChatGPT Codex backend strictness', () => {
  afterAll(closeAll);

  it('accepts a well-formed Codex body (SSE)', async () => {
    const a = await account({ name: 'strict-ok', profile: 'chatgpt-codex' });
    const r = await post(a, PATH, codexBody());
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toContain('text/event-stream');
    expect(r.response?.status).toBe('completed');
  });

  for (const name of CHATGPT_UNSUPPORTED_PARAMETERS) {
    it(`rejects ${name} with {"detail":"Unsupported parameter: ${name}"}`, async () => {
      const a = await account({ name: `strict-${name}`, profile: 'chatgpt-codex' });
      const r = await post(a, PATH, codexBody({ [name]: name === 'truncation' ? 'auto' : 1 }));
      expect(r.status).toBe(400);
      expect(r.json).toEqual({ detail: `Unsupported parameter: ${name}` });
      expect(a.requests[0]?.errorCode).toBe(`Unsupported parameter: ${name}`);
    });
  }

  it('requires instructions (missing or empty)', async () => {
    const a = await account({ name: 'strict-instr', profile: 'chatgpt-codex' });
    const { instructions: _drop, ...without } = codexBody();
    expect((await post(a, PATH, without)).json).toEqual({ detail: 'Instructions are required' });
    const empty = await post(a, PATH, codexBody({ instructions: '  ' }));
    expect(empty.status).toBe(400);
    expect(empty.json).toEqual({ detail: 'Instructions are required' });
  });

  it('requires store:false (true or missing)', async () => {
    const a = await account({ name: 'strict-store', profile: 'chatgpt-codex' });
    expect((await post(a, PATH, codexBody({ store: true }))).json).toEqual({ detail: 'Store must be set to false' });
    const { store: _drop, ...without } = codexBody();
    expect((await post(a, PATH, without)).json).toEqual({ detail: 'Store must be set to false' });
  });

  it('requires stream:true (false or missing)', async () => {
    const a = await account({ name: 'strict-stream', profile: 'chatgpt-codex' });
    expect((await post(a, PATH, codexBody({ stream: false }))).json).toEqual({ detail: 'Stream must be set to true' });
    const { stream: _drop, ...without } = codexBody();
    const r = await post(a, PATH, without);
    expect(r.status).toBe(400);
    expect(r.json).toEqual({ detail: 'Stream must be set to true' });
  });

  it('reports the unsupported parameter before missing instructions', async () => {
    const a = await account({ name: 'strict-order', profile: 'chatgpt-codex' });
    const { instructions: _drop, ...without } = codexBody({ max_output_tokens: 100 });
    expect((await post(a, PATH, without)).json).toEqual({ detail: 'Unsupported parameter: max_output_tokens' });
  });

  it('chatgpt-codex also applies the rules on /v1/responses unless serveV1Paths is false', async () => {
    const a = await account({ name: 'strict-v1', profile: 'chatgpt-codex' });
    expect((await post(a, '/v1/responses', codexBody({ temperature: 0.2 }))).json).toEqual({ detail: 'Unsupported parameter: temperature' });
    const b = await account({ name: 'strict-nov1', profile: 'chatgpt-codex', serveV1Paths: false });
    const r = await post(b, '/v1/responses', codexBody());
    expect(r.status).toBe(404);
    expect(r.json).toEqual({ error: { message: 'Invalid URL (POST /v1/responses)', type: 'invalid_request_error', param: null, code: null } });
  });

  it('openai profile: public API accepts the parameters; backend path only when configured', async () => {
    const a = await account({ name: 'openai-lenient', profile: 'openai' });
    const ok = await post(a, '/v1/responses', { model: 'gpt-5.1', input: 'hi', max_output_tokens: 50, temperature: 0.5, store: true });
    expect(ok.status).toBe(200);
    expect((await post(a, PATH, codexBody())).status).toBe(404);
    const b = await account({ name: 'openai-serves-backend', profile: 'openai', serveCodexBackend: true });
    expect((await post(b, PATH, codexBody({ top_p: 0.9 }))).json).toEqual({ detail: 'Unsupported parameter: top_p' });
    expect((await post(b, PATH, codexBody())).status).toBe(200);
  });
});
