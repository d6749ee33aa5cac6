// Turn-state tokens end to end: ChatGPT-Codex-profile fake accounts issue x-codex-turn-state per
// turn and reject a token they did not issue; the Codex workload replays the token on the
// tool-call follow-ups of a turn. A binding store that keeps forgetting session bindings
// mid-run (evictions) must not send a single token-carrying request to another account.
import { describe, expect, it } from 'vitest';

// Whole-stack runs: bounded, but slow on a loaded 2-core machine.
const E2E_TIMEOUT = { timeout: 180_000 };
import type { Binding, BindingKey, ExclusionKey } from '../../src/bindings/binding.js';
import type { BindingStore, LearnedBinding } from '../../src/bindings/store.js';
import { memoryStore } from '../support/stores.js';
import { runCodexWorkload } from '../workload/index.js';
import { startStack, type Stack } from './stack.js';

/** A store that can forget every session binding at once, as an eviction storm would. */
class ForgetfulStore implements BindingStore {
  private readonly inner = memoryStore({ maxEntries: 100_000 });
  private readonly sessionKeys = new Map<string, BindingKey>();
  forgotten = 0;

  private note(key: BindingKey): void {
    if (key.kind === 'session') this.sessionKeys.set(`${key.partition}:${key.id}`, key);
  }
  forgetSessions(): void {
    for (const key of this.sessionKeys.values()) if (this.inner.forget(key)) this.forgotten++;
    this.sessionKeys.clear();
  }
  read(keys: readonly BindingKey[]) {
    return this.inner.read(keys);
  }
  create(key: BindingKey, binding: Binding) {
    this.note(key);
    return this.inner.create(key, binding);
  }
  compareAndSet(key: BindingKey, version: number | undefined, binding: Binding) {
    this.note(key);
    return this.inner.compareAndSet(key, version, binding);
  }
  learn(bindings: readonly LearnedBinding[]) {
    return this.inner.learn(bindings);
  }
  deleteIf(key: BindingKey, version: number) {
    return this.inner.deleteIf(key, version);
  }
  readExclusion(key: ExclusionKey) {
    return this.inner.readExclusion(key);
  }
  exclude(key: ExclusionKey, entry: { domain?: string; account?: string }) {
    return this.inner.exclude(key, entry);
  }
  close() {
    return this.inner.close();
  }
}

const CODEX_ACCOUNTS = [
  { name: 'codex-a', domain: 'ws-a', profile: 'chatgpt-codex' as const },
  { name: 'codex-b', domain: 'ws-b', profile: 'chatgpt-codex' as const },
  { name: 'codex-c', domain: 'ws-c', profile: 'chatgpt-codex' as const },
];

/** Codex sessions with tool calls inside turns while the store forgets session bindings every `evictEvery` requests. */
async function runWithEvictions(stack: Stack, store: ForgetfulStore, options: { sessions: number; concurrency: number; seed: number; evictEvery: number }) {
  let done = 0;
  const stats = await runCodexWorkload({
    baseUrl: stack.url,
    sessions: options.sessions,
    turns: 3,
    toolCallsPerTurn: 2,
    concurrency: options.concurrency,
    seed: options.seed,
    instructions: 'You are Codex.',
    onProgress: () => {
      done++;
      if (done % options.evictEvery === 0) store.forgetSessions();
    },
  });
  const requests = stack.accounts.flatMap((account) => account.requests);
  const withToken = requests.filter((entry) => entry.turnStateIn !== null);
  const misrouted = withToken.filter((entry) => !stack.accounts.find((account) => account.name === entry.account)!.issuedTurnStates.has(entry.turnStateIn!));
  return { stats, requests, withToken, misrouted };
}

describe('turn-state tokens through the whole stack', () => {
  it('with tool calls inside turns and session bindings evicted mid-run, 0 token requests go to another account', E2E_TIMEOUT, async () => {
    const store = new ForgetfulStore();
    const stack = await startStack({ topology: 'affinity', accounts: CODEX_ACCOUNTS, store });
    try {
      const { stats, requests, withToken, misrouted } = await runWithEvictions(stack, store, { sessions: 60, concurrency: 10, seed: 11, evictEvery: 25 });
      console.log(
        `turn-state e2e: ${stats.requests} requests, ${withToken.length} carried a token, ${misrouted.length} misrouted, ${store.forgotten} session bindings evicted, failures ${stats.failedTotal}`,
      );
      expect(stats.requests).toBe(60 * 3 * 3);
      expect(withToken.length).toBe(60 * 3 * 2);
      expect(store.forgotten).toBeGreaterThan(60);
      expect(misrouted).toHaveLength(0);
      expect(requests.filter((entry) => entry.errorCode === 'invalid_turn_state')).toHaveLength(0);
      expect(stats.failedTotal).toBe(0);
      // Later turns are hard (encrypted reasoning resent): evictions never moved a session either.
      for (const accounts of Object.values(stats.sessionAccounts)) expect(new Set(accounts).size).toBe(1);
      const metrics = await stack.processor!.context.metrics.registry.getSingleMetricAsString('codex_affinity_requests_total');
      expect(metrics).toMatch(/source="turn_state"/);
    } finally {
      await stack.close();
    }
  });

  it('the token alone routes home: with item learning off, evicted sessions are placed where they were and no token request strays', E2E_TIMEOUT, async () => {
    const store = new ForgetfulStore();
    const stack = await startStack({ topology: 'affinity', accounts: CODEX_ACCOUNTS, processor: { responses: { learnResponseIds: false } }, store });
    try {
      const { stats, withToken, misrouted } = await runWithEvictions(stack, store, { sessions: 40, concurrency: 8, seed: 12, evictEvery: 10 });
      // Nothing learned and bindings forgotten: turn starts (resent encrypted reasoning, no
      // token) are orphans, and rendezvous placement puts each back where it was placed first ...
      expect(store.forgotten).toBeGreaterThan(40);
      expect(stats.failedTotal).toBe(0);
      for (const accounts of Object.values(stats.sessionAccounts)) expect(new Set(accounts).size).toBe(1);
      // ... while every request that carried a token went to the account that issued it.
      expect(withToken.length).toBeGreaterThan(40);
      expect(misrouted).toHaveLength(0);
    } finally {
      await stack.close();
    }
  });
});
