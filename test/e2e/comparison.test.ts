// The end-to-end proof: simulated Codex sessions (whole history resent every turn, encrypted
// reasoning included) through the Envoy stand-in to fake accounts in three domains that really
// enforce sealing, with codex-affinity versus round robin and Envoy's ring hash on session-id.
import { describe, expect, it } from 'vitest';

// Whole-stack runs: bounded, but slow on a loaded 2-core machine.
const E2E_TIMEOUT = { timeout: 180_000 };
import { formatTable, runTopology, type ComparisonRow } from './comparison.js';

const rows: ComparisonRow[] = [];

describe('codex-affinity against round robin and ring hash, end to end', () => {
  it('steady state, 200 sessions × 5 turns: zero encrypted-content failures, every session on one account', E2E_TIMEOUT, async () => {
    const ours = await runTopology('affinity', 'steady', { sessions: 200, turns: 5 });
    const roundRobin = await runTopology('round-robin', 'steady', { sessions: 200, turns: 5 });
    const ringHash = await runTopology('ring-hash', 'steady', { sessions: 200, turns: 5 });
    rows.push(ours.row, roundRobin.row, ringHash.row);
    expect(ours.row.requests).toBe(1000);
    expect(ours.row.failed).toBe(0);
    expect(ours.row.sessionsOnOneAccount).toBe(200);
    expect(ours.row.cacheHitRatio).toBeGreaterThan(0.5);
    // The baseline proves the fake accounts enforce sealing: resumes on another domain fail.
    expect(roundRobin.row.encryptedContentFailures).toBeGreaterThan(100);
    // Consistent hashing is sticky too while nothing changes.
    expect(ringHash.row.encryptedContentFailures).toBe(0);
  });

  it('one account rate-limited mid-run: no hard-session failure caused by routing, new sessions avoid it', E2E_TIMEOUT, async () => {
    const ours = await runTopology('affinity', 'rate-limited', { sessions: 100, turns: 5 });
    const roundRobin = await runTopology('round-robin', 'rate-limited', { sessions: 100, turns: 5 });
    const ringHash = await runTopology('ring-hash', 'rate-limited', { sessions: 100, turns: 5 });
    rows.push(ours.row, roundRobin.row, ringHash.row);
    expect(ours.row.encryptedContentFailures + ours.row.previousResponseFailures).toBe(0);
    expect(ours.row.otherFailures).toBe(0);
    // Only sessions already bound (hard) to the limited account see its 429: their domain has no
    // other account. Sessions started after the first 429 never go there.
    const limitedAfterCooldown = ours.stats.records.filter((record) => record.failure === 'rate_limit' && record.turn === 0);
    expect(limitedAfterCooldown.length).toBeLessThanOrEqual(12);
    expect(ours.row.rateLimited).toBeLessThan(ringHash.row.rateLimited);
  });

  it('one account removed mid-run: no encrypted-content failure; only sessions of the vanished domain fail', E2E_TIMEOUT, async () => {
    const ours = await runTopology('affinity', 'account-removed', { sessions: 100, turns: 5 });
    const roundRobin = await runTopology('round-robin', 'account-removed', { sessions: 100, turns: 5 });
    const ringHash = await runTopology('ring-hash', 'account-removed', { sessions: 100, turns: 5 });
    rows.push(ours.row, roundRobin.row, ringHash.row);
    expect(ours.row.encryptedContentFailures + ours.row.previousResponseFailures).toBe(0);
    // Ours fails only where the vanished account was the answer: sessions bound to it (hard,
    // no other account in their domain) and the few new sessions sent there before five
    // connect failures marked it unhealthy. All are Envoy's 503s, never a wrong account.
    expect(ours.row.otherFailures).toBe(ours.row.failed);
    const failedSessions = new Set(ours.stats.records.filter((record) => !record.ok).map((record) => record.session));
    expect(failedSessions.size).toBeLessThanOrEqual(12 + 5);
    for (const session of failedSessions) {
      const served = new Set(ours.stats.records.filter((record) => record.session === session && record.ok).map((record) => record.account));
      // A session either stayed with the removed account, or moved off it once and stayed put.
      expect(served.size).toBeLessThanOrEqual(1);
    }
    expect(ringHash.row.encryptedContentFailures + roundRobin.row.encryptedContentFailures).toBeGreaterThan(0);
    console.log(`\n${formatTable(rows)}\n`);
  });
});
