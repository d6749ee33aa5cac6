import { afterAll, describe, expect, it } from 'vitest';
import { DomainStore } from './domain-store.js';
import { account, apiBody, closeAll, codexBody, post } from './test-helpers.js';

const usage = (r: { response: Record<string, unknown> | null }) =>
  r.response?.usage as { input_tokens: number; input_tokens_details: { cached_tokens: number }; output_tokens: number; output_tokens_details: { reasoning_tokens: number }; total_tokens: number };

describe('previous_response_id (per exact account)', () => {
  afterAll(closeAll);

  it('resolves only on the account that stored it, not on another account of the domain nor elsewhere', async () => {
    const store = new DomainStore();
    const a = await account({ name: 'prev-a', domain: 'prev-org-1', domainStore: store });
    const b = await account({ name: 'prev-b', domain: 'prev-org-1', domainStore: store });
    const c = await account({ name: 'prev-c', domain: 'prev-org-2', domainStore: store });
    const first = await post(a, '/v1/responses', { model: 'gpt-5.1', input: 'one', store: true });
    const id = String(first.response?.id);
    expect(id).toMatch(/^resp_/);
    const second = await post(a, '/v1/responses', { model: 'gpt-5.1', input: 'two', previous_response_id: id, store: true });
    expect(second.status).toBe(200);
    expect(second.response?.previous_response_id).toBe(id);
    expect(a.requests.at(-1)?.previousResponseId).toBe(id);
    const notFound = {
      error: { message: `Previous response with id '${id}' not found.`, type: 'invalid_request_error', param: 'previous_response_id', code: 'previous_response_not_found' },
    };
    for (const other of [b, c]) {
      const r = await post(other, '/v1/responses', { model: 'gpt-5.1', input: 'two', previous_response_id: id });
      expect(r.status).toBe(400);
      expect(r.json).toEqual(notFound);
      expect(other.requests.at(-1)?.previousResponseId).toBe(id);
    }
  });

  it('store:false responses are not stored', async () => {
    const a = await account({ name: 'prev-nostore', domain: 'prev-org-3' });
    const first = await post(a, '/v1/responses', { model: 'gpt-5.1', input: 'one', store: false });
    const r = await post(a, '/v1/responses', { model: 'gpt-5.1', input: 'two', previous_response_id: first.response?.id });
    expect(r.status).toBe(400);
    expect(a.requests.at(-1)?.errorCode).toBe('previous_response_not_found');
  });

  it('the ChatGPT backend answers with its terse form', async () => {
    const a = await account({ name: 'prev-gpt', profile: 'chatgpt-codex' });
    const r = await post(a, '/backend-api/codex/responses', codexBody({ previous_response_id: 'resp_unknown' }));
    expect(r.status).toBe(400);
    expect(r.json).toEqual({ error: { message: 'Invalid `previous_response_id`.', type: 'invalid_request_error', code: 'invalid_request_error' } });
  });
});

describe('prompt cache (per account)', () => {
  afterAll(closeAll);

  it('hits on a repeat to the same account, not on another account or another key', async () => {
    const a = await account({ name: 'cache-a', domain: 'cache-org' });
    const b = await account({ name: 'cache-b', domain: 'cache-org' });
    const body = apiBody({ prompt_cache_key: 'thread-1', instructions: 'x'.repeat(4000) });
    const first = await post(a, '/v1/responses', body);
    expect(usage(first).input_tokens_details.cached_tokens).toBe(0);
    const again = await post(a, '/v1/responses', body);
    expect(usage(again).input_tokens_details.cached_tokens).toBe(usage(again).input_tokens);
    expect(a.requests.at(-1)?.cachedTokens).toBeGreaterThan(1000);
    expect(usage(await post(b, '/v1/responses', body)).input_tokens_details.cached_tokens).toBe(0);
    expect(usage(await post(a, '/v1/responses', { ...body, prompt_cache_key: 'thread-2' })).input_tokens_details.cached_tokens).toBe(0);
  });

  it('reports the longest cached prefix when history grows', async () => {
    const a = await account({ name: 'cache-prefix' });
    const base = apiBody({ prompt_cache_key: 't', instructions: 'y'.repeat(2000) });
    const first = await post(a, '/v1/responses', base);
    const grown = { ...base, input: [...(base.input as unknown[]), { type: 'message', role: 'user', content: 'more '.repeat(100) }] };
    const second = await post(a, '/v1/responses', grown);
    const u = usage(second);
    expect(u.input_tokens_details.cached_tokens).toBe(usage(first).input_tokens);
    expect(u.input_tokens).toBeGreaterThan(u.input_tokens_details.cached_tokens);
    expect(u.total_tokens).toBe(u.input_tokens + u.output_tokens);
    expect(u.output_tokens_details.reasoning_tokens).toBeGreaterThan(0);
  });

  it('cacheExpiry: a cache key idle longer than its lifetime is cold again; within it, warm', async () => {
    const clock = { now: 0 };
    const a = await account({ name: 'cache-expiry', cacheExpiry: { clock: () => clock.now, lifetimeMs: 600_000 } });
    const body = apiBody({ prompt_cache_key: 'k' });
    await post(a, '/v1/responses', body);
    clock.now += 600_000;
    expect(usage(await post(a, '/v1/responses', body)).input_tokens_details.cached_tokens).toBeGreaterThan(0);
    clock.now += 600_001;
    expect(usage(await post(a, '/v1/responses', body)).input_tokens_details.cached_tokens).toBe(0);
  });

  it('minCachedTokens suppresses small hits', async () => {
    const a = await account({ name: 'cache-min', minCachedTokens: 1024 });
    const body = apiBody({ prompt_cache_key: 'k' });
    await post(a, '/v1/responses', body);
    expect(usage(await post(a, '/v1/responses', body)).input_tokens_details.cached_tokens).toBe(0);
  });
});
