// Tenants of one pool that borrows the accounts' credentials: who may call, whose stored
// objects a request may reach, and which cache keys the upstream sees. Through the whole
// stack (Envoy stand-in, processor, fake accounts that check the injected credential).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import type { FakeAccountOptions } from '../fake-upstream/index.js';
import { startStack, type Stack } from '../e2e/stack.js';

const E2E_TIMEOUT = { timeout: 60_000 };
const KEY_VARIABLE = 'CODEX_AFFINITY_TEST_TENANCY_KEY';
const POOL_KEY = 'sk-pool-credential-tenancy';

const FAKES: FakeAccountOptions[] = [
  { name: 'org1', domain: 'org-1', profile: 'openai', expectedAuthorization: `Bearer ${POOL_KEY}` },
  { name: 'org2', domain: 'org-2', profile: 'openai', expectedAuthorization: `Bearer ${POOL_KEY}` },
];

/** Both accounts inject the pool's credential: clients borrow it. */
function injectingConfig(tenancy: ConfigInput['tenancy'] = {}): Partial<ConfigInput> {
  return {
    accounts: FAKES.map((fake) => ({ name: fake.name, cluster: `cluster-${fake.name}`, domain: fake.domain, profile: 'openai' as const, credential: { apiKey: { env: KEY_VARIABLE } } })),
    tenancy,
  };
}

interface Answer {
  status: number;
  json: { id?: string; output?: Array<{ id?: string }>; error?: { code?: string; param?: string | null; message?: string } } | null;
  headers: Headers;
}

async function call(stack: Stack, method: string, path: string, clientKey: string | undefined, body?: unknown, extra: Record<string, string> = {}): Promise<Answer> {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json', ...extra };
  if (clientKey !== undefined) headers.authorization = `Bearer ${clientKey}`;
  const response = await fetch(new URL(path, stack.url), { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}), signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  let json: Answer['json'] = null;
  try {
    json = JSON.parse(text) as Answer['json'];
  } catch {
    json = null;
  }
  return { status: response.status, json, headers: response.headers };
}

const upstreamRequests = (stack: Stack): number => stack.accounts.reduce((sum, account) => sum + account.requests.length, 0);

let stack: Stack | undefined;
beforeAll(() => {
  process.env[KEY_VARIABLE] = POOL_KEY;
});
afterAll(() => {
  delete process.env[KEY_VARIABLE];
});
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

/** Tenant A stores a response (and with it an output item) and a conversation. */
async function storeAsTenantA(current: Stack): Promise<{ responseId: string; itemId: string; conversationId: string }> {
  const stored = await call(current, 'POST', '/v1/responses', 'sk-tenant-a', { model: 'gpt-5.1', input: 'remember the launch codes', store: true });
  expect(stored.status).toBe(200);
  const conversation = await call(current, 'POST', '/v1/conversations', 'sk-tenant-a', { metadata: { topic: 'private' } });
  expect(conversation.status).toBe(200);
  const itemId = stored.json?.output?.find((item) => typeof item.id === 'string')?.id;
  expect(itemId).toBeTypeOf('string');
  return { responseId: stored.json!.id!, itemId: itemId!, conversationId: conversation.json!.id! };
}

describe('tenancy where the pool injects credentials', () => {
  it('another principal cannot reach stored objects: previous_response_id, item_reference, conversation, GET by id all get a 404 of the processor and never reach an account', E2E_TIMEOUT, async () => {
    stack = await startStack({ topology: 'affinity', accounts: FAKES, processor: injectingConfig() });
    const owned = await storeAsTenantA(stack);
    const before = upstreamRequests(stack);

    const attempts = [
      { what: 'previous_response_id', answer: await call(stack, 'POST', '/v1/responses', 'sk-tenant-b', { model: 'gpt-5.1', input: 'repeat it', previous_response_id: owned.responseId, store: true }), code: 'previous_response_not_found' },
      { what: 'item_reference', answer: await call(stack, 'POST', '/v1/responses', 'sk-tenant-b', { model: 'gpt-5.1', input: [{ type: 'item_reference', id: owned.itemId }, { role: 'user', content: 'again' }] }), code: 'item_not_found' },
      { what: 'conversation', answer: await call(stack, 'POST', '/v1/responses', 'sk-tenant-b', { model: 'gpt-5.1', input: 'hi', conversation: owned.conversationId }), code: 'conversation_not_found' },
      { what: 'GET /v1/responses/{id}', answer: await call(stack, 'GET', `/v1/responses/${owned.responseId}`, 'sk-tenant-b'), code: 'previous_response_not_found' },
    ];
    for (const attempt of attempts) {
      expect({ what: attempt.what, status: attempt.answer.status, code: attempt.answer.json?.error?.code }).toEqual({ what: attempt.what, status: 404, code: attempt.code });
      expect(attempt.answer.headers.get('x-codex-affinity-error')).toBe(attempt.code);
      // The refusal never echoes the id it refused.
      expect(JSON.stringify(attempt.answer.json)).not.toContain(owned.responseId);
    }
    expect(upstreamRequests(stack)).toBe(before);

    // The owner still reaches all of them.
    expect((await call(stack, 'POST', '/v1/responses', 'sk-tenant-a', { model: 'gpt-5.1', input: 'and now?', previous_response_id: owned.responseId, store: true })).status).toBe(200);
    expect((await call(stack, 'POST', '/v1/responses', 'sk-tenant-a', { model: 'gpt-5.1', input: 'hi', conversation: owned.conversationId })).status).toBe(200);
    // The owner's GET reaches the account that stored it (the fake serves no GET by id: it answers 404 itself).
    const home = stack.accounts.find((account) => account.requests.some((entry) => entry.responseId === owned.responseId));
    const fetched = await call(stack, 'GET', `/v1/responses/${owned.responseId}`, 'sk-tenant-a');
    expect(fetched.headers.get('x-codex-affinity-error')).toBeNull();
    expect(home?.requests.at(-1)?.path).toBe(`/v1/responses/${owned.responseId}`);
  });

  it('a reference never learned here is refused by default (refuse), not guessed', E2E_TIMEOUT, async () => {
    stack = await startStack({ topology: 'affinity', accounts: FAKES, processor: injectingConfig() });
    const answer = await call(stack, 'POST', '/v1/responses', 'sk-tenant-a', { model: 'gpt-5.1', input: 'x', previous_response_id: 'resp_never_seen_here' });
    expect(answer.status).toBe(404);
    expect(answer.json?.error?.code).toBe('previous_response_not_found');
    expect(answer.json?.error?.param).toBe('previous_response_id');
    expect(upstreamRequests(stack)).toBe(0);
  });

  it('with unknownStoredReferences: place, an unknown reference is placed, yet a foreign one is still refused', E2E_TIMEOUT, async () => {
    stack = await startStack({ topology: 'affinity', accounts: FAKES, processor: injectingConfig({ unknownStoredReferences: 'place' }) });
    const owned = await storeAsTenantA(stack);
    const before = upstreamRequests(stack);
    const unknown = await call(stack, 'POST', '/v1/responses', 'sk-tenant-b', { model: 'gpt-5.1', input: 'x', previous_response_id: 'resp_never_seen_here' });
    // Placed: an account answered (the fake knows no such response either).
    expect(upstreamRequests(stack)).toBe(before + 1);
    expect(unknown.headers.get('x-codex-affinity-error')).toBeNull();
    const foreign = await call(stack, 'POST', '/v1/responses', 'sk-tenant-b', { model: 'gpt-5.1', input: 'x', previous_response_id: owned.responseId });
    expect(foreign.status).toBe(404);
    expect(foreign.headers.get('x-codex-affinity-error')).toBe('previous_response_not_found');
    expect(upstreamRequests(stack)).toBe(before + 1);
  });

  it('a request that names no principal gets a 401 unless the operator allows anonymous use', E2E_TIMEOUT, async () => {
    stack = await startStack({ topology: 'affinity', accounts: FAKES, processor: injectingConfig() });
    const anonymous = await call(stack, 'POST', '/v1/responses', undefined, { model: 'gpt-5.1', input: 'hi' });
    expect(anonymous.status).toBe(401);
    expect(anonymous.json?.error?.code).toBe('principal_required');
    expect(upstreamRequests(stack)).toBe(0);
    await stack.close();

    stack = await startStack({ topology: 'affinity', accounts: FAKES, processor: injectingConfig({ anonymous: 'allow' }) });
    expect((await call(stack, 'POST', '/v1/responses', undefined, { model: 'gpt-5.1', input: 'hi' })).status).toBe(200);
  });

  it('two tenants with the same session id and prompt_cache_key send different, stable cache keys upstream', E2E_TIMEOUT, async () => {
    stack = await startStack({ topology: 'affinity', accounts: FAKES, processor: injectingConfig() });
    const turn = (tenant: string) =>
      call(stack!, 'POST', '/v1/responses', tenant, { model: 'gpt-5.1', input: 'hello', prompt_cache_key: 'shared-key', store: false }, { session_id: 'shared-session' });
    for (const tenant of ['sk-tenant-a', 'sk-tenant-b', 'sk-tenant-a', 'sk-tenant-b']) expect((await turn(tenant)).status).toBe(200);
    const seen = stack.accounts.flatMap((account) => account.requests).sort((left, right) => left.seq - right.seq);
    expect(seen).toHaveLength(4);
    const keys = seen.map((entry) => entry.promptCacheKey);
    const sessions = seen.map((entry) => entry.headers.session_id);
    expect(keys[0]).toBe(keys[2]);
    expect(keys[1]).toBe(keys[3]);
    expect(keys[0]).not.toBe(keys[1]);
    expect(sessions[0]).toBe(sessions[2]);
    expect(sessions[0]).not.toBe(sessions[1]);
    for (const value of [...keys, ...sessions]) expect(value).not.toContain('shared');
  });
});

describe('tenancy where clients bring their own credentials', () => {
  it('anonymous requests pass, unknown references are placed, and the caller’s own cache key goes upstream unchanged', E2E_TIMEOUT, async () => {
    stack = await startStack({ topology: 'affinity', accounts: FAKES.map(({ expectedAuthorization: _dropped, ...fake }) => fake) });
    expect((await call(stack, 'POST', '/v1/responses', undefined, { model: 'gpt-5.1', input: 'hi', prompt_cache_key: 'mine' })).status).toBe(200);
    await call(stack, 'POST', '/v1/responses', 'sk-own', { model: 'gpt-5.1', input: 'x', previous_response_id: 'resp_never_seen_here' });
    const seen = stack.accounts.flatMap((account) => account.requests);
    expect(seen).toHaveLength(2);
    expect(seen.some((entry) => entry.promptCacheKey === 'mine')).toBe(true);
  });
});
