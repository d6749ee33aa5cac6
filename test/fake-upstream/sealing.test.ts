import { afterAll, describe, expect, it } from 'vitest';
import { defaultDomainKey, inspectSealed, seal, verifySealed } from './sealing.js';
import { account, apiBody, closeAll, codexBody, outputOf, post } from './test-helpers.js';

describe('sealing (unit)', () => {
  const key = defaultDomainKey('org-1');
  it('verifies with the same domain and key, rejects others', () => {
    const token = seal('org-1', key, { itemId: 'rs_1', kind: 'reasoning' });
    expect(token.startsWith('gAAAA')).toBe(true);
    expect(verifySealed(token, 'org-1', key).ok).toBe(true);
    expect(verifySealed(token, 'org-2', defaultDomainKey('org-2'))).toEqual({ ok: false, reason: 'bad_mac' });
    expect(verifySealed(token, 'org-2', key)).toEqual({ ok: false, reason: 'wrong_domain' });
    expect(verifySealed('ENC-acctA-1', 'org-1', key)).toEqual({ ok: false, reason: 'malformed' });
    expect(inspectSealed(token)?.d).toBe('org-1');
  });
  it('detects tampering', () => {
    const token = seal('org-1', key, { itemId: 'rs_1', kind: 'reasoning' });
    const forged = token.replace(/\.(.)/, (_m, c: string) => `.${c === 'A' ? 'B' : 'A'}`);
    expect(verifySealed(forged, 'org-1', key).ok).toBe(false);
  });
});

describe('sealing across accounts and domains', () => {
  afterAll(closeAll);

  it('returns a reasoning item with sealed encrypted_content when include asks for it', async () => {
    const a = await account({ name: 'seal-a', domain: 'seal-org-1' });
    const r = await post(a, '/v1/responses', apiBody());
    expect(r.status).toBe(200);
    const [reasoning, message] = outputOf(r);
    expect(reasoning).toMatchObject({ type: 'reasoning', summary: [] });
    expect(String(reasoning?.id)).toMatch(/^rs_/);
    expect(inspectSealed(String(reasoning?.encrypted_content))?.d).toBe('seal-org-1');
    expect(message).toMatchObject({ type: 'message', role: 'assistant' });
    // store:true without include: reasoning item, but no encrypted_content
    const stored = await post(a, '/v1/responses', apiBody({ store: true, include: undefined }));
    expect(outputOf(stored)[0]).toMatchObject({ type: 'reasoning' });
    expect(outputOf(stored)[0]?.encrypted_content).toBeUndefined();
    // neither: no reasoning item
    const plain = await post(a, '/v1/responses', apiBody({ include: [] }));
    expect(outputOf(plain).map((i) => i.type)).toEqual(['message']);
  });

  it('accepts the item on any account of the same domain, rejects it in another domain with the OpenAI body', async () => {
    const a = await account({ name: 'seal-a1', domain: 'seal-org-2' });
    const b = await account({ name: 'seal-a2', domain: 'seal-org-2' });
    const c = await account({ name: 'seal-c', domain: 'seal-org-3' });
    const first = await post(a, '/v1/responses', apiBody());
    const reasoning: Record<string, unknown> = { ...outputOf(first)[0], content: null };
    const resend = apiBody({ input: [...(apiBody().input as unknown[]), reasoning, { type: 'message', role: 'user', content: 'again' }] });
    expect((await post(a, '/v1/responses', resend)).status).toBe(200);
    expect((await post(b, '/v1/responses', resend)).status).toBe(200);
    const foreign = await post(c, '/v1/responses', resend);
    expect(foreign.status).toBe(400);
    expect(foreign.json).toEqual({
      error: {
        message: `The encrypted content for item ${String(reasoning.id)} could not be verified. Reason: Encrypted content could not be decrypted or parsed.`,
        type: 'invalid_request_error',
        param: null,
        code: 'invalid_encrypted_content',
      },
    });
    expect(c.requests.at(-1)?.errorCode).toBe('invalid_encrypted_content');
  });

  it('a different key under the same domain id does not verify', async () => {
    const a = await account({ name: 'seal-k1', domain: 'seal-org-4', domainKey: 'k1' });
    const b = await account({ name: 'seal-k2', domain: 'seal-org-4', domainKey: 'k2' });
    const first = await post(a, '/v1/responses', apiBody());
    const r = await post(b, '/v1/responses', apiBody({ input: [outputOf(first)[0]] }));
    expect(r.status).toBe(400);
  });

  it('rejects unparseable content (like the fixture placeholder) and supports the short wording', async () => {
    const a = await account({ name: 'seal-short', domain: 'seal-org-5', encryptedErrorStyle: 'item' });
    const r = await post(a, '/v1/responses', apiBody({ input: [{ type: 'reasoning', id: 'rs_1', summary: [], encrypted_content: 'ENC-acctA-1' }] }));
    expect(r.status).toBe(400);
    expect((r.json as { error: { message: string } }).error.message).toBe('The encrypted content for item rs_1 could not be verified.');
  });

  it('chatgpt-codex profile: same envelope by default, code configurable (e.g. null)', async () => {
    const a = await account({ name: 'seal-gpt-a', domain: 'ws-1', profile: 'chatgpt-codex' });
    const b = await account({ name: 'seal-gpt-b', domain: 'ws-2', profile: 'chatgpt-codex' });
    const c = await account({ name: 'seal-gpt-c', domain: 'ws-3', profile: 'chatgpt-codex', chatgptEncryptedError: { code: null } });
    const first = await post(a, '/backend-api/codex/responses', codexBody());
    const reasoning = outputOf(first)[0];
    const resend = codexBody({ input: [reasoning] });
    const rb = await post(b, '/backend-api/codex/responses', resend);
    expect(rb.status).toBe(400);
    expect((rb.json as { error: { code: unknown; type: string } }).error).toMatchObject({ code: 'invalid_encrypted_content', type: 'invalid_request_error' });
    const rc = await post(c, '/backend-api/codex/responses', resend);
    expect((rc.json as { error: { code: unknown } }).error.code).toBeNull();
  });

  it('compact returns a sealed compaction item that only its domain accepts', async () => {
    const a = await account({ name: 'seal-cmp-a', domain: 'seal-org-6' });
    const b = await account({ name: 'seal-cmp-b', domain: 'seal-org-7' });
    const r = await post(a, '/v1/responses/compact', { model: 'gpt-5.1-codex', input: apiBody().input });
    expect(r.status).toBe(200);
    const out = (r.json as { output: Record<string, unknown>[] }).output;
    const compaction = out.at(-1)!;
    expect(compaction.type).toBe('compaction');
    expect(String(compaction.id)).toMatch(/^cmp_/);
    expect(out[0]).toMatchObject({ type: 'message', role: 'user' });
    const next = apiBody({ input: [...out, { type: 'message', role: 'user', content: 'go on' }] });
    expect((await post(a, '/v1/responses', next)).status).toBe(200);
    const rb = await post(b, '/v1/responses', next);
    expect(rb.status).toBe(400);
    expect((rb.json as { error: { message: string } }).error.message).toContain(`item ${String(compaction.id)}`);
    const rc = await post(b, '/v1/responses/compact', { model: 'gpt-5.1-codex', input: out });
    expect(rc.status).toBe(400);
  });

  it('a reasoning item sent by id only must have been stored by this exact account (store:true)', async () => {
    const a = await account({ name: 'seal-id-a', domain: 'seal-org-8' });
    const b = await account({ name: 'seal-id-b', domain: 'seal-org-8' });
    const c = await account({ name: 'seal-id-c', domain: 'seal-org-9' });
    const first = await post(a, '/v1/responses', apiBody({ store: true, include: [] }));
    const ref = { type: 'reasoning', id: outputOf(first)[0]?.id, summary: [] };
    expect((await post(a, '/v1/responses', apiBody({ input: [ref] }))).status).toBe(200);
    for (const other of [b, c]) {
      const r = await post(other, '/v1/responses', apiBody({ input: [ref] }));
      expect(r.status).toBe(404);
      expect((r.json as { error: { message: string } }).error.message).toContain(`Item with id '${String(ref.id)}' not found.`);
    }
  });
});
