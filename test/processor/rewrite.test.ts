import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import type { WireProcessingResponse } from '../../src/extproc/wire-types.js';
import { metadataOf, routedCluster, ScriptedStream, setHeaders, startTestProcessor, type TestProcessor } from '../support/processor.js';
import { zstdRawFrame } from '../support/zstd-frame.js';

let processor: TestProcessor | undefined;
afterEach(async () => {
  await processor?.close();
  processor = undefined;
});

const CODEX_ACCOUNT = [{ name: 'codex', cluster: 'cluster-codex', profile: 'chatgpt-codex' as const }];
const OPENAI_ACCOUNT = [{ name: 'api', cluster: 'cluster-api', profile: 'openai' as const }];

async function send(target: TestProcessor, headers: Record<string, string>, body: Buffer | object): Promise<WireProcessingResponse> {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
  const stream = new ScriptedStream(target);
  await stream.requestHeaders({ ':method': 'POST', ':path': '/v1/responses', 'content-type': 'application/json', 'content-length': String(bytes.length), ...headers });
  const answer = await stream.requestBody(bytes);
  await stream.end();
  return answer;
}

function bodyOf(answer: WireProcessingResponse): Buffer | undefined {
  const mutation = answer.request_body?.response?.body_mutation?.body;
  return mutation ? Buffer.from(mutation) : undefined;
}

function removed(answer: WireProcessingResponse): string[] {
  return answer.request_body?.response?.header_mutation?.remove_headers ?? [];
}

describe('profile rewrites at stream level', () => {
  it('chatgpt-codex: the new body and a content-length that matches it, in the same answer, with the path mapped', async () => {
    processor = await startTestProcessor({ accounts: CODEX_ACCOUNT });
    const answer = await send(processor, { 'session-id': 'opencode-1' }, { model: 'gpt-5', max_output_tokens: 64, temperature: 0.3, prompt_cache_retention: '24h', input: 'hi' });
    const body = bodyOf(answer)!;
    const json = JSON.parse(body.toString()) as Record<string, unknown>;
    expect(json).toMatchObject({ model: 'gpt-5', input: 'hi', stream: true, store: false, prompt_cache_key: 'opencode-1' });
    expect(json).not.toHaveProperty('max_output_tokens');
    expect(typeof json.instructions).toBe('string');
    const headers = setHeaders(answer);
    expect(headers.get('content-length')).toBe(String(body.length));
    expect(headers.get(':path')).toBe('/backend-api/codex/responses');
    expect(headers.get('session_id')).toBe('opencode-1');
    expect(answer.request_body!.response!.clear_route_cache).toBe(true);
    const metrics = await processor.server.context.metrics.registry.getSingleMetricAsString('codex_affinity_rewrites_total');
    expect(metrics).toMatch(/rule="remove:max_output_tokens"} 1/);
  });

  it('openai: a Codex request that already carries everything passes byte-identical (no body mutation)', async () => {
    processor = await startTestProcessor({ accounts: OPENAI_ACCOUNT });
    const answer = await send(processor, { 'session-id': 's1', session_id: 's1' }, { model: 'gpt-5', prompt_cache_key: 's1', prompt_cache_retention: '24h', temperature: 1, input: [] });
    expect(bodyOf(answer)).toBeUndefined();
    expect([...setHeaders(answer).keys()]).toEqual(['x-codex-affinity-cluster']);
  });

  it('the continuity key is the same on every turn of a session', async () => {
    processor = await startTestProcessor({ accounts: OPENAI_ACCOUNT });
    const keys = new Set<unknown>();
    for (let turn = 0; turn < 3; turn++) {
      const answer = await send(processor, { 'thread-id': 'thread-9' }, { model: 'gpt-5', input: `turn ${turn}` });
      keys.add((JSON.parse(bodyOf(answer)!.toString()) as { prompt_cache_key: unknown }).prompt_cache_key);
      keys.add(setHeaders(answer).get('session_id'));
    }
    expect([...keys]).toEqual(['thread-9']);
  });

  it('rewrites can be turned off', async () => {
    processor = await startTestProcessor({ accounts: CODEX_ACCOUNT, rewrite: { enabled: false } });
    const answer = await send(processor, { 'session-id': 'x' }, { model: 'gpt-5', max_output_tokens: 64 });
    expect(bodyOf(answer)).toBeUndefined();
  });
});

describe('compressed bodies', () => {
  const body = { model: 'gpt-5', max_output_tokens: 9, prompt_cache_key: 'zip-session', input: 'hello' };
  const raw = Buffer.from(JSON.stringify(body));
  it.each([
    ['gzip', gzipSync(raw)],
    ['deflate', deflateSync(raw)],
    ['br', brotliCompressSync(raw)],
    ['zstd', zstdRawFrame(raw)],
  ])('%s: read for signals; a changed body is sent decoded with content-encoding removed', async (encoding, compressed) => {
    processor = await startTestProcessor({ accounts: CODEX_ACCOUNT });
    const answer = await send(processor, { 'content-encoding': encoding }, compressed);
    expect(metadataOf(answer).source).toBe('prompt_cache_key');
    const sent = bodyOf(answer)!;
    expect(JSON.parse(sent.toString())).toMatchObject({ model: 'gpt-5', prompt_cache_key: 'zip-session', stream: true });
    expect(setHeaders(answer).get('content-length')).toBe(String(sent.length));
    expect(removed(answer)).toContain('content-encoding');
  });

  it('an unchanged compressed body passes as it came', async () => {
    processor = await startTestProcessor({ accounts: OPENAI_ACCOUNT });
    const answer = await send(processor, { 'content-encoding': 'gzip', session_id: 'zip-session' }, gzipSync(raw));
    expect(metadataOf(answer).source).toBe('session_header');
    expect(bodyOf(answer)).toBeUndefined();
    expect(removed(answer)).not.toContain('content-encoding');
  });

  it('an unknown encoding routes by headers only, no rewrite, counted', async () => {
    processor = await startTestProcessor({ accounts: CODEX_ACCOUNT });
    const answer = await send(processor, { 'content-encoding': 'compress', 'session-id': 'lzw' }, Buffer.from('\x1f\x9d\x90garbage'));
    expect(metadataOf(answer).source).toBe('session_header');
    expect(bodyOf(answer)).toBeUndefined();
    const metrics = await processor.server.context.metrics.registry.getSingleMetricAsString('codex_affinity_body_scan_failures_total');
    expect(metrics).toMatch(/reason="content_encoding"} 1/);
  });

  it('a decompression bomb gets 413 request_too_large, not a full inflate', async () => {
    processor = await startTestProcessor({ accounts: CODEX_ACCOUNT, limits: { maxBodyBytes: 1024 * 1024 } });
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20));
    expect(bomb.length).toBeLessThan(1024 * 1024);
    const answer = await send(processor, { 'content-encoding': 'gzip' }, bomb);
    expect(answer.immediate_response!.status.code).toSatisfy((code: unknown) => code === 413 || code === 'PayloadTooLarge');
    expect(JSON.parse(Buffer.from(answer.immediate_response!.body!).toString())).toMatchObject({ error: { type: 'invalid_request_error', code: 'request_too_large' } });
  });

  it('a raw body over the limit gets 413 with an OpenAI-style error', async () => {
    processor = await startTestProcessor({ accounts: CODEX_ACCOUNT, limits: { maxBodyBytes: 1000 } });
    const answer = await send(processor, {}, { input: 'x'.repeat(2000) });
    expect(answer.immediate_response).toBeDefined();
  });
});

describe('bad bodies', () => {
  it.each([
    ['malformed JSON', { 'content-type': 'application/json' }, Buffer.from('{"model": "gpt-5", "max_output_tokens": 1')],
    ['a non-JSON content type', { 'content-type': 'text/plain' }, Buffer.from('{"model":"gpt-5","max_output_tokens":1}')],
  ])('%s: routed by headers, no rewrite, never an error', async (_name, headers, body) => {
    processor = await startTestProcessor({ accounts: CODEX_ACCOUNT });
    const answer = await send(processor, { ...headers, 'session-id': 'bad' }, body);
    expect(answer.immediate_response).toBeUndefined();
    expect(routedCluster(answer)).toBe('cluster-codex');
    expect(bodyOf(answer)).toBeUndefined();
  });
});

describe('credentials', () => {
  it('an API key from a file replaces the client credential, drops cookies, and is re-read when the file changes', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'codex-affinity-secret-'));
    const file = join(directory, 'api-key');
    writeFileSync(file, 'sk-upstream-one\n');
    processor = await startTestProcessor({ accounts: [{ name: 'api', cluster: 'cluster-api', credential: { apiKey: { file } } }] });
    const first = await send(processor, { authorization: 'Bearer client-key', cookie: 'session=abc', 'x-api-key': 'client' }, { model: 'm', prompt_cache_key: 'p', input: 'x' });
    expect(setHeaders(first).get('authorization')).toBe('Bearer sk-upstream-one');
    expect(removed(first).sort()).toEqual(['cookie', 'x-api-key']);
    // The principal (binding namespace) is still the client's credential, not the account's.
    expect(metadataOf(first).outcome).toBe('new');
    writeFileSync(file, 'sk-upstream-two\n');
    const deadline = Date.now() + 8000;
    let value: string | undefined;
    while (Date.now() < deadline) {
      value = setHeaders(await send(processor, { authorization: 'Bearer client-key' }, { model: 'm', prompt_cache_key: 'p', input: 'x' })).get('authorization');
      if (value === 'Bearer sk-upstream-two') break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(value).toBe('Bearer sk-upstream-two');
    expect(processor.logs.join('')).not.toMatch(/sk-upstream|client-key/);
  });

  it('a ChatGPT access token and account id from environment variables', async () => {
    process.env.TEST_CHATGPT_TOKEN = 'chatgpt-token-1';
    process.env.TEST_CHATGPT_ACCOUNT = 'acct-uuid-1';
    processor = await startTestProcessor({
      accounts: [{ name: 'codex', cluster: 'cluster-codex', profile: 'chatgpt-codex', credential: { chatgpt: { accessToken: { env: 'TEST_CHATGPT_TOKEN' }, accountId: { env: 'TEST_CHATGPT_ACCOUNT' } } } }],
    });
    const headers = setHeaders(await send(processor, { authorization: 'Bearer client' }, { model: 'm', instructions: 'x', stream: true, store: false }));
    expect(headers.get('authorization')).toBe('Bearer chatgpt-token-1');
    expect(headers.get('chatgpt-account-id')).toBe('acct-uuid-1');
  });

  it('without a configured credential the client authorization is left alone', async () => {
    processor = await startTestProcessor({ accounts: OPENAI_ACCOUNT });
    const answer = await send(processor, { authorization: 'Bearer client', cookie: 'a=b' }, { model: 'm', prompt_cache_key: 'k' });
    expect(setHeaders(answer).has('authorization')).toBe(false);
    expect(removed(answer)).toEqual([]);
  });

  it('a missing secret stops the start with an error naming the account, not the value', async () => {
    await expect(startTestProcessor({ accounts: [{ name: 'broken', cluster: 'c', credential: { apiKey: { env: 'NO_SUCH_VARIABLE_SET' } } }] })).rejects.toThrow(
      /accounts "broken" credential apiKey: empty or unreadable environment variable NO_SUCH_VARIABLE_SET/,
    );
  });
});

describe('WebSocket handshakes', () => {
  it('pinned at request_headers, HTTP-only headers dropped, beta token swapped, path mapped for a Codex account', async () => {
    processor = await startTestProcessor({ accounts: CODEX_ACCOUNT });
    const stream = new ScriptedStream(processor);
    const answer = await stream.requestHeaders(
      {
        ':method': 'GET',
        ':path': '/v1/responses',
        upgrade: 'websocket',
        connection: 'Upgrade',
        'sec-websocket-key': 'x3JJHMbDL1EzLkh9GBhXDw==',
        'sec-websocket-version': '13',
        accept: 'text/event-stream',
        'content-type': 'application/json',
        cookie: 'c=1',
        'openai-beta': 'responses=experimental',
        'session-id': 'ws-1',
      },
      false,
    );
    await stream.end();
    const headers = setHeaders(answer);
    expect(headers.get('x-codex-affinity-cluster')).toBe('cluster-codex');
    expect(headers.get('openai-beta')).toBe('responses_websockets=2026-02-06');
    expect(headers.get(':path')).toBe('/backend-api/codex/responses');
    expect(answer.request_headers!.response!.header_mutation!.remove_headers!.sort()).toEqual(['accept', 'content-type', 'cookie']);
    expect(answer.mode_override).toMatchObject({ request_body_mode: 'NONE' });
  });

  it('a handshake of a hard session stays on its account', async () => {
    processor = await startTestProcessor();
    const first = await send(processor, { 'session-id': 'ws-hard' }, { model: 'm', input: [{ type: 'reasoning', id: 'rs_1', encrypted_content: 'E' }] });
    for (let attempt = 0; attempt < 5; attempt++) {
      const stream = new ScriptedStream(processor);
      const answer = await stream.requestHeaders({ ':method': 'GET', ':path': '/v1/responses', upgrade: 'websocket', connection: 'Upgrade', 'session-id': 'ws-hard' }, false);
      await stream.end();
      expect(routedCluster(answer)).toBe(routedCluster(first));
    }
  });
});

describe('property: rewrites through the stream', () => {
  it('for arbitrary JSON bodies every answer is valid JSON with a matching content-length, and caller instructions survive', async () => {
    const fc = (await import('fast-check')).default;
    processor = await startTestProcessor({ accounts: CODEX_ACCOUNT });
    const target = processor;
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 6 }),
        fc.option(fc.string({ minLength: 1, maxLength: 30 }).filter((text) => text.trim() !== '')),
        fc.option(fc.integer()),
        async (extra, instructions, maxOutputTokens) => {
          const body = { ...extra, ...(instructions !== null ? { instructions } : {}), ...(maxOutputTokens !== null ? { max_output_tokens: maxOutputTokens } : {}) };
          const answer = await send(target, { 'session-id': 'prop' }, body);
          const sent = bodyOf(answer);
          if (sent === undefined) return;
          expect(setHeaders(answer).get('content-length')).toBe(String(sent.length));
          const json = JSON.parse(sent.toString()) as Record<string, unknown>;
          if (instructions !== null) expect(json.instructions).toBe(instructions);
          expect(json).not.toHaveProperty('max_output_tokens');
        },
      ),
      { numRuns: 60 },
    );
  }, 60_000);
});
