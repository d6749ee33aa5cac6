import { afterAll, describe, expect, it } from 'vitest';
import { account, apiBody, closeAll, codexBody, post } from './test-helpers.js';

const PATH = '/backend-api/codex/responses';

describe('x-codex-turn-state', () => {
  afterAll(closeAll);

  it('chatgpt-codex issues a new token when none is sent and echoes a replayed one', async () => {
    const a = await account({ name: 'ts-a', profile: 'chatgpt-codex' });
    const first = await post(a, PATH, codexBody());
    const token = first.headers['x-codex-turn-state'];
    expect(token).toMatch(/^ts_/);
    expect(a.issuedTurnStates.has(token!)).toBe(true);
    const replay = await post(a, PATH, codexBody(), { 'x-codex-turn-state': token! });
    expect(replay.status).toBe(200);
    expect(replay.headers['x-codex-turn-state']).toBe(token);
    const nextTurn = await post(a, PATH, codexBody());
    expect(nextTurn.headers['x-codex-turn-state']).not.toBe(token);
    expect(a.requests.map((r) => [r.turnStateIn, r.turnStateOut])).toEqual([
      [null, token],
      [token, token],
      [null, nextTurn.headers['x-codex-turn-state']],
    ]);
  });

  it('rejects a token issued by another account (configurable answer)', async () => {
    const a = await account({ name: 'ts-issuer', profile: 'chatgpt-codex', domain: 'ts-ws' });
    const b = await account({ name: 'ts-other', profile: 'chatgpt-codex', domain: 'ts-ws' });
    const token = (await post(a, PATH, codexBody())).headers['x-codex-turn-state']!;
    const r = await post(b, PATH, codexBody(), { 'x-codex-turn-state': token });
    expect(r.status).toBe(400);
    expect(r.json).toEqual({ error: { message: 'Invalid x-codex-turn-state.', type: 'invalid_request_error', param: null, code: 'invalid_turn_state' } });
    expect(r.headers['x-codex-turn-state']).toBeUndefined();
    const c = await account({ name: 'ts-custom', profile: 'chatgpt-codex', foreignTurnState: { status: 409, body: { detail: 'Conflict' } } });
    const rc = await post(c, PATH, codexBody(), { 'x-codex-turn-state': token });
    expect(rc.status).toBe(409);
    expect(rc.json).toEqual({ detail: 'Conflict' });
  });

  it('openai profile ignores and issues no tokens unless enabled', async () => {
    const a = await account({ name: 'ts-openai' });
    const r = await post(a, '/v1/responses', apiBody(), { 'x-codex-turn-state': 'ts_whatever' });
    expect(r.status).toBe(200);
    expect(r.headers['x-codex-turn-state']).toBeUndefined();
    const b = await account({ name: 'ts-openai-on', issueTurnState: true });
    const rb = await post(b, '/v1/responses', apiBody());
    expect(rb.headers['x-codex-turn-state']).toMatch(/^ts_/);
    expect((await post(b, '/v1/responses', apiBody(), { 'x-codex-turn-state': 'ts_whatever' })).status).toBe(400);
  });

  it('compact carries the turn state too', async () => {
    const a = await account({ name: 'ts-compact', profile: 'chatgpt-codex' });
    const token = (await post(a, PATH, codexBody())).headers['x-codex-turn-state']!;
    const r = await post(a, '/backend-api/codex/responses/compact', { model: 'gpt-5.1-codex', input: [] }, { 'x-codex-turn-state': token });
    expect(r.status).toBe(200);
    expect(r.headers['x-codex-turn-state']).toBe(token);
  });
});
