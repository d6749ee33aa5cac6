// Response inspection through the whole stack: the seed incident (an account that answers
// invalid_encrypted_content must not become a failover or a 5xx storm), usage limits that
// keep new sessions away until the reset, and healing when a session's domain is removed.
import { describe, expect, it } from 'vitest';
import { memoryStore } from '../support/stores.js';
import { fakeErrors } from '../fake-upstream/index.js';
import { unclosable } from '../support/processor.js';
import { runCodexWorkload } from '../workload/index.js';
import { CodexSession } from './codex-session.js';
import { startStack } from './stack.js';

const E2E_TIMEOUT = { timeout: 120_000 };
const THREE = [
  { name: 'acct-a', domain: 'org-a' },
  { name: 'acct-b', domain: 'org-b' },
  { name: 'acct-c', domain: 'org-c' },
];

describe('response inspection end to end', () => {
  it('an account answering invalid_encrypted_content: the client sees that 400 once, the session stays bound, no retry storm', E2E_TIMEOUT, async () => {
    const stack = await startStack({ topology: 'affinity', accounts: THREE, retry: { retry_on: '5xx,reset,connect-failure', num_retries: 3 } });
    try {
      const session = new CodexSession(stack.url, 1);
      expect((await session.turnOnce()).status).toBe(200);
      expect((await session.turnOnce()).status).toBe(200);
      const home = stack.accounts.find((account) => account.requests.length > 0)!;
      home.setFault({ kind: 'status', status: 400, body: fakeErrors.invalidEncryptedContent('rs_x'), count: 1 });
      const failed = await session.turnOnce();
      expect(failed.status).toBe(400);
      expect(failed.headers['x-codex-affinity-session']).toBe('account-bound');
      const record = stack.envoy.log.at(-1)!;
      expect(record.attempts).toHaveLength(1);
      // The next turn goes to the same account and succeeds: nothing was moved or marked.
      expect((await session.turnOnce()).status).toBe(200);
      const perAccount = stack.accounts.map((account) => account.requests.length);
      expect(perAccount.filter((count) => count > 0)).toEqual([home.requests.length]);
      const view = stack.processor!.context.accountState.view(home.name, Date.now());
      expect([view.recentFailures, view.coolingDownUntil > Date.now()]).toEqual([0, false]);
    } finally {
      await stack.close();
    }
  });

  it('a usage-limited account gets no new sessions until its reset, then gets them again', E2E_TIMEOUT, async () => {
    const stack = await startStack({ topology: 'affinity', accounts: THREE });
    try {
      const limited = stack.accounts[0]!;
      limited.setRateLimit({ reject: { kind: 'usage_limit_reached', retryAfterSeconds: 2, count: 1 } });
      // Sessions start until one hits the limited account and gets its 429.
      const first = await runCodexWorkload({ baseUrl: stack.url, sessions: 6, turns: 1, concurrency: 1, seed: 3 });
      expect(first.failed.rate_limit).toBe(1);
      const during = await runCodexWorkload({ baseUrl: stack.url, sessions: 12, turns: 1, concurrency: 3, seed: 4 });
      expect(during.failedTotal).toBe(0);
      expect(during.records.filter((record) => record.account === limited.name)).toHaveLength(0);
      await new Promise((resolve) => setTimeout(resolve, 2300));
      const after = await runCodexWorkload({ baseUrl: stack.url, sessions: 9, turns: 1, concurrency: 1, seed: 5 });
      expect(after.failedTotal).toBe(0);
      expect(after.records.filter((record) => record.account === limited.name).length).toBeGreaterThan(0);
    } finally {
      await stack.close();
    }
  });

  it('healing rescues a session whose domain was removed: it continues on another account without its old reasoning', E2E_TIMEOUT, async () => {
    const store = unclosable(memoryStore({ maxEntries: 10_000 }));
    const before = await startStack({ topology: 'affinity', accounts: THREE, store });
    const session = new CodexSession(before.url, 9);
    let home: string;
    try {
      expect((await session.turnOnce()).status).toBe(200);
      expect((await session.turnOnce()).status).toBe(200);
      home = before.accounts.find((account) => account.requests.length > 0)!.name;
    } finally {
      await before.close();
    }
    const remaining = THREE.filter((account) => account.name !== home);
    for (const healing of [false, true]) {
      const after = await startStack({ topology: 'affinity', accounts: remaining, store, processor: { healing: { enabled: healing } } });
      try {
        // The session's client keeps talking to the same gateway address in real life; here the
        // new stack has a new port, which changes nothing for the processor.
        Object.assign(session, { baseUrl: after.url });
        const resumed = await session.turnOnce();
        if (!healing) {
          expect(resumed.status).toBe(409);
          expect((resumed.json as { error: { code: string } }).error.code).toBe('account_domain_unavailable');
          continue;
        }
        expect(resumed.status).toBe(200);
        expect(resumed.headers['x-codex-affinity-healed']).toMatch(/^dropped-reasoning-items=\d+/);
        const next = await session.turnOnce();
        expect(next.status).toBe(200);
        const served = after.accounts.filter((account) => account.requests.length > 0);
        expect(served).toHaveLength(1);
      } finally {
        await after.close();
      }
    }
  });
});
