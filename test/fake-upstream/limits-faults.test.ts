import { afterAll, describe, expect, it } from 'vitest';
import { formatResetDuration } from './rate-limit.js';
import { account, apiBody, closeAll, codexBody, post } from './test-helpers.js';

describe('rate-limit headers and 429s', () => {
  afterAll(closeAll);

  it('every response carries x-codex-* and x-ratelimit-* headers from the usage counter', async () => {
    const a = await account({
      name: 'rl-headers',
      rateLimit: { primary: { usedPercent: 10, windowMinutes: 300, resetAfterSeconds: 600 }, percentPerRequest: 2.5, requestsLimit: 100 },
    });
    const before = Math.floor(Date.now() / 1000);
    const r = await post(a, '/v1/responses', apiBody());
    const h = r.headers;
    expect(h['x-codex-primary-used-percent']).toBe('10');
    expect(h['x-codex-primary-window-minutes']).toBe('300');
    expect(h['x-codex-primary-reset-after-seconds']).toBe('600');
    expect(Number(h['x-codex-primary-reset-at'])).toBeGreaterThanOrEqual(before + 600);
    expect(h['x-codex-secondary-window-minutes']).toBe('10080');
    expect(h['x-ratelimit-limit-requests']).toBe('100');
    expect(h['x-ratelimit-remaining-requests']).toBe('100');
    expect(h['x-ratelimit-reset-requests']).toBe('6s');
    expect(h['x-ratelimit-limit-tokens']).toBeDefined();
    expect(h['x-ratelimit-reset-tokens']).toBe('120ms');
    expect(h['x-fake-account']).toBe('rl-headers');
    const r2 = await post(a, '/v1/responses', apiBody());
    expect(r2.headers['x-codex-primary-used-percent']).toBe('12.5');
    expect(r2.headers['x-ratelimit-remaining-requests']).toBe('99');
    expect(Number(r2.headers['x-ratelimit-remaining-tokens'])).toBeLessThan(Number(h['x-ratelimit-remaining-tokens']));
    // error answers carry them too
    const bad = await post(a, '/v1/nothing', {});
    expect(bad.status).toBe(404);
    expect(bad.headers['x-codex-primary-used-percent']).toBeDefined();
  });

  it('rate_limit_exceeded: OpenAI body, retry-after, for the configured number of requests', async () => {
    const a = await account({ name: 'rl-429', domain: 'org-rl' });
    a.setRateLimit({ reject: { kind: 'rate_limit_exceeded', count: 2, retryAfterSeconds: 20 } });
    const r = await post(a, '/v1/responses', apiBody());
    expect(r.status).toBe(429);
    expect(r.headers['retry-after']).toBe('20');
    const err = (r.json as { error: Record<string, unknown> }).error;
    expect(err).toMatchObject({ type: 'tokens', param: null, code: 'rate_limit_exceeded' });
    expect(String(err.message)).toMatch(/^Rate limit reached for gpt-5\.1 in organization org-org-rl on tokens per min \(TPM\): .*Please try again in 20s\./);
    expect((await post(a, '/v1/responses', apiBody())).status).toBe(429);
    expect((await post(a, '/v1/responses', apiBody())).status).toBe(200);
  });

  it('usage_limit_reached: ChatGPT backend body with resets_at / resets_in_seconds', async () => {
    const a = await account({ name: 'rl-usage', profile: 'chatgpt-codex' });
    a.setRateLimit({ reject: { kind: 'usage_limit_reached', retryAfterSeconds: 3600, planType: 'pro' } });
    const now = Math.floor(Date.now() / 1000);
    const r = await post(a, '/backend-api/codex/responses', codexBody());
    expect(r.status).toBe(429);
    const err = (r.json as { error: Record<string, unknown> }).error;
    expect(err).toMatchObject({ type: 'usage_limit_reached', message: 'The usage limit has been reached', plan_type: 'pro', resets_in_seconds: 3600 });
    expect(Number(err.resets_at)).toBeGreaterThanOrEqual(now + 3600);
    expect(r.headers['x-codex-primary-used-percent']).toBe('100');
    a.setRateLimit({ reject: null });
    expect((await post(a, '/backend-api/codex/responses', codexBody())).status).toBe(200);
  });

  it('insufficient_quota', async () => {
    const a = await account({ name: 'rl-quota', rateLimit: { reject: { kind: 'insufficient_quota' } } });
    const r = await post(a, '/v1/responses', apiBody());
    expect(r.status).toBe(429);
    expect((r.json as { error: Record<string, unknown> }).error).toMatchObject({ type: 'insufficient_quota', code: 'insufficient_quota', param: null });
  });

  it('rejectWhenExhausted turns the counter into 429s', async () => {
    const a = await account({ name: 'rl-exhaust', rateLimit: { requestsLimit: 2, rejectWhenExhausted: true } });
    expect((await post(a, '/v1/responses', apiBody())).status).toBe(200);
    expect((await post(a, '/v1/responses', apiBody())).status).toBe(200);
    const r = await post(a, '/v1/responses', apiBody());
    expect(r.status).toBe(429);
    expect(r.headers['x-ratelimit-remaining-requests']).toBe('0');
    const g = await account({ name: 'rl-exhaust-gpt', profile: 'chatgpt-codex', rateLimit: { primary: { usedPercent: 100 }, rejectWhenExhausted: true } });
    expect(((await post(g, '/backend-api/codex/responses', codexBody())).json as { error: { type: string } }).error.type).toBe('usage_limit_reached');
  });

  it('formats reset durations like the API', () => {
    expect(formatResetDuration(0.02)).toBe('20ms');
    expect(formatResetDuration(20)).toBe('20s');
    expect(formatResetDuration(360)).toBe('6m0s');
    expect(formatResetDuration(3725)).toBe('1h2m5s');
  });
});

describe('fault injection', () => {
  afterAll(closeAll);

  it('next N requests get a 5xx with an OpenAI-style body', async () => {
    const a = await account({ name: 'f-5xx' });
    a.setFault({ kind: 'status', status: 503, count: 2 });
    const r = await post(a, '/v1/responses', apiBody());
    expect(r.status).toBe(503);
    expect((r.json as { error: Record<string, unknown> }).error).toMatchObject({ code: 'server_is_overloaded', type: 'server_error' });
    expect((await post(a, '/v1/responses', apiBody())).status).toBe(503);
    expect((await post(a, '/v1/responses', apiBody())).status).toBe(200);
    a.setFault({ kind: 'status', status: 500 });
    const r500 = await post(a, '/v1/responses', apiBody());
    expect(r500.status).toBe(500);
    expect((r500.json as { error: Record<string, unknown> }).error).toMatchObject({ type: 'server_error', code: null });
    a.setFault({ kind: 'status', status: 502, body: { error: { message: 'upstream connect error', type: 'server_error', param: null, code: null } } });
    const r502 = await post(a, '/v1/responses', apiBody());
    expect(r502.status).toBe(502);
    expect((r502.json as { error: { message: string } }).error.message).toBe('upstream connect error');
    expect(a.requests.map((x) => x.status)).toEqual([503, 503, 200, 500, 502]);
  });

  it('slow response', async () => {
    const a = await account({ name: 'f-slow', faults: [{ kind: 'delay', ms: 150 }] });
    const t = Date.now();
    const r = await post(a, '/v1/responses', apiBody());
    expect(r.status).toBe(200);
    expect(Date.now() - t).toBeGreaterThanOrEqual(140);
  });

  it('socket reset without a response, and after the SSE headers', async () => {
    const a = await account({ name: 'f-reset', profile: 'chatgpt-codex' });
    a.setFault({ kind: 'reset' });
    const r = await post(a, '/backend-api/codex/responses', codexBody());
    expect(r.status).toBe(0);
    expect(r.networkError).toBeTruthy();
    expect(a.requests[0]?.reset).toBe(true);
    a.setFault({ kind: 'reset', afterHeaders: true });
    const mid = await post(a, '/backend-api/codex/responses', codexBody());
    expect(mid.status).toBe(200);
    expect(mid.networkError).toBeTruthy();
    expect((await post(a, '/backend-api/codex/responses', codexBody())).status).toBe(200);
  });

  it('401 credential failure (per profile) and expectedAuthorization', async () => {
    const a = await account({ name: 'f-401', faults: [{ kind: 'unauthorized' }] });
    const r = await post(a, '/v1/responses', apiBody());
    expect(r.status).toBe(401);
    expect((r.json as { error: Record<string, unknown> }).error).toMatchObject({ code: 'invalid_api_key', type: 'invalid_request_error' });
    const g = await account({ name: 'f-401-gpt', profile: 'chatgpt-codex', expectedAuthorization: 'Bearer good' });
    const rg = await post(g, '/backend-api/codex/responses', codexBody(), { authorization: 'Bearer bad' });
    expect(rg.status).toBe(401);
    expect(rg.json).toEqual({ detail: 'Unauthorized' });
    expect((await post(g, '/backend-api/codex/responses', codexBody(), { authorization: 'Bearer good' })).status).toBe(200);
  });

  it('invalid JSON body', async () => {
    const a = await account({ name: 'f-json' });
    const res = await fetch(`${a.url}/v1/responses`, { method: 'POST', body: '{nope', headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { type: string } }).error.type).toBe('invalid_request_error');
  });
});
