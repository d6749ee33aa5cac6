import { afterAll, describe, expect, it } from 'vitest';
import { startFakeAccount, type FakeAccount } from '../fake-upstream/index.js';
import { runCodexWorkload } from './codex-workload.js';
import { runResponsesChainWorkload } from './chain-workload.js';
import { startRoundRobinForwarder, type RoundRobinForwarder } from './rr-forwarder.js';

const open: { close(): Promise<void> }[] = [];
async function fake(...args: Parameters<typeof startFakeAccount>): Promise<FakeAccount> {
  const a = await startFakeAccount(...args);
  open.push(a);
  return a;
}
async function forwarder(targets: FakeAccount[]): Promise<RoundRobinForwarder> {
  const f = await startRoundRobinForwarder(targets.map((t) => t.url));
  open.push(f);
  return f;
}

describe('Codex workload against one fake account (no proxy)', () => {
  afterAll(async () => {
    await Promise.all(open.splice(0).map((o) => o.close()));
  });

  it('runs without failures, resends history and hits the prompt cache after turn 1', async () => {
    const a = await fake({ name: 'wl-single', domain: 'wl-org-1' });
    const progress: number[] = [];
    const stats = await runCodexWorkload({ baseUrl: a.url, sessions: 4, turns: 3, concurrency: 2, seed: 42, onProgress: (r) => progress.push(r.turn) });
    expect(stats.requests).toBe(12);
    expect(progress).toHaveLength(12);
    expect(stats.failedTotal).toBe(0);
    expect(stats.cachedTokenRatio).toBeGreaterThan(0);
    for (const r of stats.records) {
      if (r.turn === 0) expect(r.cachedTokens).toBe(0);
      else expect(r.cachedTokens).toBeGreaterThan(0);
    }
    expect(Object.keys(stats.sessionAccounts)).toHaveLength(4);
    for (const accounts of Object.values(stats.sessionAccounts)) expect(new Set(accounts)).toEqual(new Set(['wl-single']));
    // the request log: every request of a session hit this account, with the Codex headers
    const bySession = new Map<string, number>();
    for (const e of a.requests) bySession.set(e.sessionId!, (bySession.get(e.sessionId!) ?? 0) + 1);
    expect([...bySession.values()]).toEqual([3, 3, 3, 3]);
    expect(a.requests.every((e) => e.promptCacheKey === e.sessionId && e.headers['thread-id'] === e.sessionId)).toBe(true);
    // later turns resend the earlier reasoning item (with encrypted_content) and assistant message
    const last = a.requests.filter((e) => e.sessionId === stats.records[0]!.session).at(-1)!;
    expect(last.bodyKeys).toContain('include');
    const meta = JSON.parse(last.headers['x-codex-turn-metadata']!) as { history_initialization: string };
    expect(meta.history_initialization).toBe('cold_resume');
  });

  it('is deterministic for a seed (same sessions, same request shapes)', async () => {
    const a = await fake({ name: 'wl-det-1' });
    const b = await fake({ name: 'wl-det-2' });
    const s1 = await runCodexWorkload({ baseUrl: a.url, sessions: 2, turns: 2, concurrency: 2, seed: 9 });
    const s2 = await runCodexWorkload({ baseUrl: b.url, sessions: 2, turns: 2, concurrency: 1, seed: 9 });
    expect(Object.keys(s1.sessionAccounts)).toEqual(Object.keys(s2.sessionAccounts));
    expect(s1.records.map((r) => r.inputTokens)).toEqual(s2.records.map((r) => r.inputTokens));
  });

  it('tool calls replay the turn state within a turn and drop it at the next turn (ChatGPT backend)', async () => {
    const a = await fake({ name: 'wl-gpt', profile: 'chatgpt-codex' });
    const stats = await runCodexWorkload({
      baseUrl: a.url,
      sessions: 2,
      turns: 2,
      toolCallsPerTurn: 2,
      concurrency: 2,
      seed: 5,
      pathPrefix: '/backend-api/codex/responses',
      instructions: 'You are Codex.',
    });
    expect(stats.failedTotal).toBe(0);
    expect(stats.requests).toBe(2 * 2 * 3);
    for (const r of stats.records) {
      if (r.step === 0) expect(r.turnStateSent).toBeNull();
      else expect(r.turnStateSent).toBe(stats.records.find((x) => x.session === r.session && x.turn === r.turn && x.step === 0)!.turnStateReceived);
    }
    const tokens = new Set(stats.records.filter((r) => r.step === 0).map((r) => r.turnStateReceived));
    expect(tokens.size).toBe(4); // a new token per turn
    expect(a.requests.filter((e) => e.turnStateIn !== null)).toHaveLength(8);
  });

  it('without instructions the ChatGPT backend rejects every request (fixture-true body)', async () => {
    const a = await fake({ name: 'wl-gpt-strict', profile: 'chatgpt-codex' });
    const stats = await runCodexWorkload({ baseUrl: a.url, sessions: 1, turns: 2, concurrency: 1, seed: 1, pathPrefix: '/backend-api/codex/responses' });
    expect(stats.failed.other).toBe(2);
    expect(stats.records[0]!.errorCode).toBe('Instructions are required');
  });

  it('round-robin across 3 accounts in 3 domains: resumes fail with invalid_encrypted_content', async () => {
    const accts = await Promise.all(['rr-d1', 'rr-d2', 'rr-d3'].map((d) => fake({ name: `acct-${d}`, domain: d })));
    const rr = await forwarder(accts);
    const stats = await runCodexWorkload({ baseUrl: rr.url, sessions: 3, turns: 3, concurrency: 1, seed: 3 });
    expect(stats.requests).toBe(9);
    // with concurrency 1 every later turn of a session lands on another domain
    expect(stats.failed.invalid_encrypted_content).toBe(6);
    expect(stats.succeeded).toBe(3);
    for (const r of stats.records) expect(r.ok).toBe(r.turn === 0);
    for (const accounts of Object.values(stats.sessionAccounts)) expect(new Set(accounts).size).toBe(3);
    expect(accts.flatMap((a) => a.requests).filter((e) => e.errorCode === 'invalid_encrypted_content')).toHaveLength(6);
  });

  it('round-robin across 3 accounts of ONE domain: sealing verifies, only the cache suffers', async () => {
    const accts = await Promise.all([1, 2, 3].map((i) => fake({ name: `same-${i}`, domain: 'rr-shared' })));
    const rr = await forwarder(accts);
    const stats = await runCodexWorkload({ baseUrl: rr.url, sessions: 3, turns: 3, concurrency: 1, seed: 4 });
    expect(stats.failedTotal).toBe(0);
    // every turn of a session lands on an account that never saw its prefix
    expect(stats.cachedTokenRatio).toBe(0);
  });

  it('classifies 5xx, rate limits and resets', async () => {
    const a = await fake({ name: 'wl-faults', faults: [{ kind: 'status', status: 502 }, { kind: 'reset' }] });
    a.addFault({ kind: 'status', status: 500 });
    const stats = await runCodexWorkload({ baseUrl: a.url, sessions: 1, turns: 5, concurrency: 1, seed: 6 });
    expect(stats.failed['5xx']).toBe(2);
    expect(stats.failed.network).toBe(1);
    a.setRateLimit({ reject: { kind: 'rate_limit_exceeded', count: 1 } });
    const s2 = await runCodexWorkload({ baseUrl: a.url, sessions: 1, turns: 2, concurrency: 1, seed: 6 });
    expect(s2.failed.rate_limit).toBe(1);
  });
});

describe('previous_response_id chain workload', () => {
  afterAll(async () => {
    await Promise.all(open.splice(0).map((o) => o.close()));
  });

  it('works against one account, JSON and SSE, with no session headers', async () => {
    const a = await fake({ name: 'chain-1', domain: 'chain-org-1' });
    const stats = await runResponsesChainWorkload({ baseUrl: a.url, chains: 3, turns: 3, concurrency: 3, seed: 1 });
    expect(stats.failedTotal).toBe(0);
    expect(a.requests.every((e) => e.sessionId === null)).toBe(true);
    expect(a.requests.filter((e) => e.previousResponseId !== null)).toHaveLength(6);
    const sse = await runResponsesChainWorkload({ baseUrl: a.url, chains: 1, turns: 3, concurrency: 1, seed: 2, stream: true });
    expect(sse.failedTotal).toBe(0);
    expect(sse.cachedTokenRatio).toBeGreaterThan(0);
  });

  it('round-robin across two domains breaks chains with previous_response_not_found', async () => {
    const accts = [await fake({ name: 'chain-x', domain: 'chain-org-x' }), await fake({ name: 'chain-y', domain: 'chain-org-y' })];
    const rr = await forwarder(accts);
    const stats = await runResponsesChainWorkload({ baseUrl: rr.url, chains: 1, turns: 4, concurrency: 1, seed: 3 });
    // x ok, y fails (prev on x), x ok (prev still on x), y fails
    expect(stats.failed.previous_response_not_found).toBe(2);
    expect(stats.succeeded).toBe(2);
  });
});
