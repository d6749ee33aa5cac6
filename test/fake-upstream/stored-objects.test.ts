// Stored objects (responses, items, conversations) belong to the exact account that stored them;
// only sealed encrypted_content is readable across the accounts of a domain.
import { afterAll, describe, expect, it, vi } from 'vitest';
import { DomainStore } from './domain-store.js';
import type { FakeAccount } from './types.js';
import { account, apiBody, closeAll, codexBody, outputOf, post } from './test-helpers.js';

const usage = (r: { response: Record<string, unknown> | null }) =>
  r.response?.usage as { input_tokens: number; input_tokens_details: { cached_tokens: number } };

async function call(a: FakeAccount, method: 'GET' | 'DELETE' | 'POST', path: string, body?: unknown): Promise<{ status: number; json: unknown; headers: Headers }> {
  const res = await fetch(`${a.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as unknown) : null, headers: res.headers };
}

const itemNotFound = (id: string) => ({
  error: {
    message: `Item with id '${id}' not found. Items are not persisted when \`store\` is set to false. Try again with \`store\` set to true, or remove this item from your input.`,
    type: 'invalid_request_error',
    param: 'input',
    code: null,
  },
});
const conversationNotFound = (id: string) => ({
  error: { message: `Conversation with id '${id}' not found.`, type: 'invalid_request_error', param: null, code: null },
});

async function sameDomainPair(prefix: string): Promise<{ a: FakeAccount; b: FakeAccount; store: DomainStore }> {
  const store = new DomainStore();
  const a = await account({ name: `${prefix}-a`, domain: `${prefix}-org`, domainStore: store });
  const b = await account({ name: `${prefix}-b`, domain: `${prefix}-org`, domainStore: store });
  return { a, b, store };
}

describe('stored responses belong to the exact account', () => {
  afterAll(closeAll);

  it('previous_response_id from A fails on B of the same domain; encrypted_content from A still works on B', async () => {
    const { a, b } = await sameDomainPair('own-prev');
    const first = await post(a, '/v1/responses', apiBody({ store: true }));
    expect(first.status).toBe(200);
    const id = String(first.response?.id);
    expect((await post(a, '/v1/responses', { model: 'gpt-5.1', input: 'next', previous_response_id: id })).status).toBe(200);

    const onB = await post(b, '/v1/responses', { model: 'gpt-5.1', input: 'next', previous_response_id: id });
    expect(onB.status).toBe(400);
    expect(onB.json).toEqual({
      error: { message: `Previous response with id '${id}' not found.`, type: 'invalid_request_error', param: 'previous_response_id', code: 'previous_response_not_found' },
    });
    expect(b.requests.at(-1)).toMatchObject({ errorCode: 'previous_response_not_found', previousResponseId: id, status: 400 });

    // The same turn resent statelessly: the sealed reasoning of A verifies on B (same domain).
    const reasoning = outputOf(first)[0]!;
    expect(reasoning.type).toBe('reasoning');
    expect(typeof reasoning.encrypted_content).toBe('string');
    const stateless = apiBody({ input: [...(apiBody().input as unknown[]), reasoning, outputOf(first)[1], { type: 'message', role: 'user', content: 'next' }] });
    const resent = await post(b, '/v1/responses', stateless);
    expect(resent.status).toBe(200);
    expect(resent.response?.conversation).toBeNull();
  });
});

describe('item_reference and items sent by id only', () => {
  afterAll(closeAll);

  it('item_reference resolves on the account that stored the item, 404s on another account of the domain', async () => {
    const { a, b } = await sameDomainPair('own-ref');
    const first = await post(a, '/v1/responses', apiBody({ store: true, include: [] }));
    const [reasoning, message] = outputOf(first);
    for (const id of [String(reasoning?.id), String(message?.id)]) {
      const ref = { type: 'item_reference', id };
      const onA = await post(a, '/v1/responses', apiBody({ input: [...(apiBody().input as unknown[]), ref, { type: 'message', role: 'user', content: 'go on' }] }));
      expect(onA.status).toBe(200);
      const onB = await post(b, '/v1/responses', apiBody({ input: [ref] }));
      expect(onB.status).toBe(404);
      expect(onB.json).toEqual(itemNotFound(id));
    }
    const unknown = await post(a, '/v1/responses', apiBody({ input: [{ type: 'item_reference', id: 'msg_never_stored' }] }));
    expect(unknown.status).toBe(404);
    expect(unknown.json).toEqual(itemNotFound('msg_never_stored'));
  });

  it('a reference is expanded to the stored item: same tokens as sending the item, and a cache hit', async () => {
    const a = await account({ name: 'own-expand', domain: 'own-expand-org', domainStore: new DomainStore() });
    const long = { type: 'message', id: 'msg_long_input', role: 'user', content: [{ type: 'input_text', text: 'context '.repeat(500) }] };
    const stored = await post(a, '/v1/responses', { model: 'gpt-5.1', input: [long], store: true, prompt_cache_key: 'k1' });
    expect(stored.status).toBe(200);
    const byValue = usage(stored).input_tokens;
    const byRef = await post(a, '/v1/responses', { model: 'gpt-5.1', input: [{ type: 'item_reference', id: 'msg_long_input' }], store: false, prompt_cache_key: 'k1' });
    expect(byRef.status).toBe(200);
    expect(usage(byRef).input_tokens).toBe(byValue);
    expect(usage(byRef).input_tokens_details.cached_tokens).toBe(byValue);
    // A message item with only type and id is a reference too; one carrying content never is.
    const bare = await post(a, '/v1/responses', { model: 'gpt-5.1', input: [{ type: 'message', id: 'msg_long_input' }], store: false });
    expect(usage(bare).input_tokens).toBe(byValue);
    const withContent = await post(a, '/v1/responses', { model: 'gpt-5.1', input: [{ type: 'message', id: 'msg_not_stored', role: 'user', content: 'hi' }], store: false });
    expect(withContent.status).toBe(200);
  });

  it('a function_call sent by id only resolves on its account', async () => {
    const { a, b } = await sameDomainPair('own-fc');
    const first = await post(a, '/v1/responses', { model: 'gpt-5.1', input: 'do it [tool_calls=1]', store: true });
    const call = outputOf(first).find((i) => i.type === 'function_call')!;
    expect(String(call.id)).toMatch(/^fc_/);
    const next = (input: unknown[]) => ({ model: 'gpt-5.1', input, store: false });
    const ok = await post(a, '/v1/responses', next([{ type: 'message', role: 'user', content: 'do it [tool_calls=1]' }, { type: 'function_call', id: call.id }, { type: 'function_call_output', call_id: call.call_id, output: 'done' }]));
    expect(ok.status).toBe(200);
    expect(outputOf(ok).at(-1)?.type).toBe('message');
    const onB = await post(b, '/v1/responses', next([{ type: 'function_call', id: call.id }]));
    expect(onB.status).toBe(404);
    expect(onB.json).toEqual(itemNotFound(String(call.id)));
  });
});

describe('conversations (openai profile, exact account)', () => {
  afterAll(closeAll);

  it('create / get / delete, with the API object shapes', async () => {
    const { a, b } = await sameDomainPair('conv-crud');
    const created = await call(a, 'POST', '/v1/conversations', { metadata: { topic: 'demo' } });
    expect(created.status).toBe(200);
    const conv = created.json as Record<string, unknown>;
    expect(conv).toEqual({ id: expect.stringMatching(/^conv_[0-9a-f]+$/) as unknown, object: 'conversation', created_at: expect.any(Number) as unknown, metadata: { topic: 'demo' } });
    expect(Math.abs((conv.created_at as number) - Date.now() / 1000)).toBeLessThan(5);
    const id = String(conv.id);
    expect(created.headers.get('x-fake-account')).toBe(a.name);

    expect((await call(a, 'GET', `/v1/conversations/${id}`)).json).toEqual(conv);
    const onB = await call(b, 'GET', `/v1/conversations/${id}`);
    expect(onB.status).toBe(404);
    expect(onB.json).toEqual(conversationNotFound(id));
    expect((await call(b, 'DELETE', `/v1/conversations/${id}`)).status).toBe(404);

    const deleted = await call(a, 'DELETE', `/v1/conversations/${id}`);
    expect(deleted.status).toBe(200);
    expect(deleted.json).toEqual({ id, object: 'conversation.deleted', deleted: true });
    expect((await call(a, 'GET', `/v1/conversations/${id}`)).json).toEqual(conversationNotFound(id));
    expect((await call(a, 'DELETE', `/v1/conversations/${id}`)).status).toBe(404);

    // An empty body is fine too.
    const empty = await call(a, 'POST', '/v1/conversations');
    expect(empty.status).toBe(200);
    expect((empty.json as { metadata: unknown }).metadata).toEqual({});

    // The request log records every conversation call.
    expect(a.requests.map((e) => [e.method, e.path.replace(id, '{id}'), e.status])).toEqual([
      ['POST', '/v1/conversations', 200],
      ['GET', '/v1/conversations/{id}', 200],
      ['DELETE', '/v1/conversations/{id}', 200],
      ['GET', '/v1/conversations/{id}', 404],
      ['DELETE', '/v1/conversations/{id}', 404],
      ['POST', '/v1/conversations', 200],
    ]);
    expect(a.requests.slice(0, 5).every((e) => e.conversationId === id)).toBe(true);
    expect(b.requests.map((e) => [e.method, e.status, e.conversationId])).toEqual([
      ['GET', 404, id],
      ['DELETE', 404, id],
    ]);
  });

  it('responses with a conversation: context grows on A, 404 on B, exclusive with previous_response_id', async () => {
    const { a, b } = await sameDomainPair('conv-resp');
    const created = await call(a, 'POST', '/v1/conversations', { items: [{ type: 'message', role: 'user', content: 'I am the seed of this conversation. '.repeat(40) }] });
    const id = String((created.json as { id: string }).id);

    const turn1 = await post(a, '/v1/responses', { model: 'gpt-5.1', input: 'first question', conversation: id, store: false });
    expect(turn1.status).toBe(200);
    expect(turn1.response?.conversation).toEqual({ id });
    const seedOnly = await post(a, '/v1/responses', { model: 'gpt-5.1', input: 'first question', store: false });
    expect(usage(turn1).input_tokens).toBeGreaterThan(usage(seedOnly).input_tokens + 300);

    // Turn 2 (object form, streamed) sees the seed, turn 1's input and turn 1's output.
    const turn2 = await post(a, '/v1/responses', { model: 'gpt-5.1', input: 'second question', conversation: { id }, stream: true, store: false });
    expect(turn2.status).toBe(200);
    expect(turn2.response?.conversation).toEqual({ id });
    expect((turn2.events?.[0]?.response as Record<string, unknown>).conversation).toEqual({ id });
    expect(usage(turn2).input_tokens).toBeGreaterThan(usage(turn1).input_tokens);
    expect(usage(turn2).input_tokens_details.cached_tokens).toBeGreaterThanOrEqual(usage(turn1).input_tokens);

    // Items appended to the conversation are referenceable on A (they got ids).
    const answer = outputOf(turn1).at(-1)!;
    expect((await post(a, '/v1/responses', { model: 'gpt-5.1', input: [{ type: 'item_reference', id: answer.id }], store: false })).status).toBe(200);

    expect(a.requests.filter((e) => e.path === '/v1/responses' && e.conversationId === id)).toHaveLength(2);

    for (const conversation of [id, { id }]) {
      const onB = await post(b, '/v1/responses', { model: 'gpt-5.1', input: 'hi', conversation });
      expect(onB.status).toBe(404);
      expect(onB.json).toEqual(conversationNotFound(id));
    }
    expect(b.requests.at(-1)?.conversationId).toBe(id);

    const prev = String(turn1.response?.id);
    const both = await post(a, '/v1/responses', { model: 'gpt-5.1', input: 'hi', conversation: id, previous_response_id: prev });
    expect(both.status).toBe(400);
    expect(both.json).toEqual({
      error: {
        message: "Mutually exclusive parameters: Ensure you are only providing one of: 'previous_response_id' or 'conversation'.",
        type: 'invalid_request_error',
        param: null,
        code: 'mutually_exclusive_parameters',
      },
    });

    const unknown = await post(a, '/v1/responses', { model: 'gpt-5.1', input: 'hi', conversation: 'conv_unknown' });
    expect(unknown.status).toBe(404);
    expect(unknown.json).toEqual(conversationNotFound('conv_unknown'));

    const wrongType = await post(a, '/v1/responses', { model: 'gpt-5.1', input: 'hi', conversation: 7 });
    expect(wrongType.status).toBe(400);
    expect((wrongType.json as { error: { param: string; code: string } }).error).toMatchObject({ param: 'conversation', code: 'invalid_type' });

    await call(a, 'DELETE', `/v1/conversations/${id}`);
    expect((await post(a, '/v1/responses', { model: 'gpt-5.1', input: 'hi', conversation: id })).json).toEqual(conversationNotFound(id));
  });

  it('conversation creation checks its items like input (foreign sealed content, unknown references)', async () => {
    const a = await account({ name: 'conv-items', domain: 'conv-items-org', domainStore: new DomainStore() });
    const other = await account({ name: 'conv-items-other', domain: 'conv-items-org-2', domainStore: new DomainStore() });
    const foreign = outputOf(await post(other, '/v1/responses', apiBody()))[0]!;
    expect((await call(a, 'POST', '/v1/conversations', { items: [foreign] })).status).toBe(400);
    const ref = await call(a, 'POST', '/v1/conversations', { items: [{ type: 'item_reference', id: 'msg_nope' }] });
    expect(ref.status).toBe(404);
    expect(ref.json).toEqual(itemNotFound('msg_nope'));
  });
});

describe('chatgpt-codex accounts never store', () => {
  afterAll(closeAll);

  it('no path calls putResponse / putConversation; previous_response_id and conversations fail', async () => {
    const store = new DomainStore();
    const putResponse = vi.spyOn(store, 'putResponse');
    const putConversation = vi.spyOn(store, 'putConversation');
    const putItems = vi.spyOn(store, 'putItems');
    const c = await account({ name: 'never-stores', domain: 'never-ws', profile: 'chatgpt-codex', domainStore: store });

    const turn = await post(c, '/backend-api/codex/responses', codexBody());
    expect(turn.status).toBe(200);
    expect(turn.response?.conversation).toBeNull();
    expect((await post(c, '/v1/responses', codexBody())).status).toBe(200);
    expect((await post(c, '/backend-api/codex/responses', codexBody({ store: true }))).json).toEqual({ detail: 'Store must be set to false' });
    // compact is not subject to the strictness and sends no store flag: still nothing stored.
    expect((await post(c, '/backend-api/codex/responses/compact', { model: 'gpt-5.1-codex', input: codexBody().input })).status).toBe(200);
    expect((await post(c, '/v1/responses/compact', { model: 'gpt-5.1-codex', input: codexBody().input, store: true })).status).toBe(200);

    const prev = await post(c, '/backend-api/codex/responses', codexBody({ previous_response_id: String(turn.response?.id) }));
    expect(prev.status).toBe(400);
    expect(prev.json).toEqual({ error: { message: 'Invalid `previous_response_id`.', type: 'invalid_request_error', code: 'invalid_request_error' } });

    // A reasoning item sent back by id only (without encrypted_content) is never found.
    const rsId = String(outputOf(turn)[0]?.id);
    expect((await post(c, '/backend-api/codex/responses', codexBody({ input: [{ type: 'reasoning', id: rsId, summary: [] }] }))).status).toBe(404);

    // No Conversations API on this profile; a conversation parameter names nothing here.
    const conv = await call(c, 'POST', '/v1/conversations', {});
    expect(conv.status).toBe(404);
    expect(conv.json).toEqual({ error: { message: 'Invalid URL (POST /v1/conversations)', type: 'invalid_request_error', param: null, code: null } });
    expect((await call(c, 'GET', '/v1/conversations/conv_x')).status).toBe(404);
    expect((await post(c, '/backend-api/codex/responses', codexBody({ conversation: 'conv_x' }))).json).toEqual(conversationNotFound('conv_x'));

    expect(putResponse).not.toHaveBeenCalled();
    expect(putConversation).not.toHaveBeenCalled();
    expect(putItems).not.toHaveBeenCalled();
    expect(store.responseCount('never-stores')).toBe(0);
  });

  it('an openai account never stores compact answers either', async () => {
    const store = new DomainStore();
    const putResponse = vi.spyOn(store, 'putResponse');
    const a = await account({ name: 'compact-no-store', domainStore: store });
    expect((await post(a, '/v1/responses/compact', { model: 'gpt-5.1-codex', input: apiBody().input, store: true })).status).toBe(200);
    expect(putResponse).not.toHaveBeenCalled();
    expect((await post(a, '/v1/responses', apiBody({ store: true }))).status).toBe(200);
    expect(putResponse).toHaveBeenCalledTimes(1);
    expect(putResponse.mock.calls[0]![0]).toMatchObject({ account: 'compact-no-store', domain: 'compact-no-store' });
  });
});
