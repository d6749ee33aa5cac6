// State ownership end to end: who may serve a request is decided by who owns the state it
// carries. encrypted_content → its domain (failover inside the domain is fine); stored
// responses, stored items, conversations and turn-state tokens → the exact account; a
// session key → a soft preference. New sessions and orphaned hard requests (binding lost to
// a restart or an eviction) are placed by weighted rendezvous hashing of the sticky key
// over the usable accounts; an orphan refused as unreadable excludes that domain/account for
// the session for a while, so it costs at most (domains − 1) failed turns. A principal's
// flood evicts its own entries, never another principal's. chatgpt-codex accounts keep
// nothing: requests needing stored state go to openai accounts only. Content seeds stay soft.
// Scenario drivers: ownership/ (one file per scenario). Loopback only; every test bounded.
import { describe, expect, it } from 'vitest';
import { contentSeedScenario } from './ownership/content-seeds.js';
import { floodScenario } from './ownership/flood.js';
import { mixedPoolScenario } from './ownership/mixed-pool.js';
import { raceScenario } from './ownership/races.js';
import { restartScenario, restartWithLimitScenario } from './ownership/restart.js';
import { storedFailoverScenario } from './ownership/stored-failover.js';
import { countBy, THREE_DOMAINS } from './ownership/tools.js';

const E2E_TIMEOUT = { timeout: 90_000 };

describe('state ownership end to end', () => {
  it('a processor restart (fresh store) loses nothing: 60 Codex sessions resume with 0 failed turns', E2E_TIMEOUT, async () => {
    const figures = await restartScenario({ sessions: 60, turnsBefore: 2, roundsAfter: 2, seed: 61 });
    console.log(
      `ownership restart: ${figures.sessions} sessions (homes ${JSON.stringify(figures.homes)}), ${figures.failedBefore} failed turns before, ` +
        `${figures.failedAfter}/${figures.turnsAfter} failed turns after restart ${JSON.stringify(figures.failedAfterByClass)}, ${figures.moved} sessions answered by another account`,
    );
    expect(figures.failedBefore).toBe(0);
    // Placement is a function of the sticky key and the (unchanged) account states.
    expect(figures.failedAfter).toBe(0);
    expect(figures.moved).toBe(0);
  });

  it('a restart while one account is rate-limited: at most (domains − 1) invalid_encrypted_content per session, none stuck after the limit lifts', E2E_TIMEOUT, async () => {
    const figures = await restartWithLimitScenario({ sessions: 60, seed: 62, retryAfterSeconds: 2, roundsLimited: 3, maxRecoveryRounds: 4 });
    console.log(
      `ownership restart with ${figures.limitedAccount} limited: ${figures.sessions} sessions, ${figures.homedOnLimited} homed on it, ${figures.roundsLimited} rounds limited; ` +
        `invalid_encrypted_content ${figures.encryptedFailures} (max ${figures.maxEncryptedFailuresPerSession}/session, ${figures.sessionsOverBudget} sessions over ${THREE_DOMAINS.length - 1}), ` +
        `429s ${figures.rateLimited}, other failures ${JSON.stringify(figures.otherFailures)}, bystander sessions failed ${figures.bystandersFailed}, ` +
        `stuck after lift ${figures.stuck} (recovery rounds ${figures.roundsToRecover})`,
    );
    expect(figures.failedBefore).toBe(0);
    expect(figures.homedOnLimited).toBeGreaterThan(0);
    expect(figures.maxEncryptedFailuresPerSession).toBeLessThanOrEqual(THREE_DOMAINS.length - 1);
    expect(figures.otherFailures).toEqual({});
    // Sessions whose home is not the limited account are placed exactly as before.
    expect(figures.bystandersFailed).toBe(0);
    expect(figures.stuck).toBe(0);
  });

  it("a flood of 25,000 new sessions by another principal evicts none of principal A's bindings: 0 of A's 30 sessions change account", E2E_TIMEOUT, async () => {
    // No per-principal quota: the flood fills the whole store, and the store-wide rule
    // (largest partition first, soft before hard) has to keep A's bindings by itself.
    const figures = await floodScenario({ sessionsA: 30, flood: 25_000, maxEntries: 20_000, maxEntriesPerPrincipal: 20_000, concurrency: 64, seed: 63 });
    console.log(
      `ownership flood: principal A ${figures.sessionsA} sessions (homes ${JSON.stringify(figures.homesA)}, ${figures.creationRateLimited} 429s while creating), ` +
        `principal B ${figures.floodRequests} new sessions in ${figures.floodSeconds.toFixed(1)} s (${figures.floodErrors} stream errors), store maxEntries 20000 holding ${figures.storeSizeAfterFlood ?? '?'} entries; ` +
        `after: ${figures.changedAccount} of A's sessions changed account, ${figures.resumeFailures} failed ${JSON.stringify(figures.resumeFailuresByClass)}`,
    );
    expect(figures.creationFailures).toBe(0);
    expect(figures.secondTurnFailures).toBe(0);
    expect(figures.floodErrors).toBe(0);
    expect(figures.changedAccount).toBe(0);
    expect(figures.resumeFailures).toBe(0);
  });

  it('races against a slow store: a WebSocket reconnect goes where the first upgrade went, while soft requests move off a cooling account', E2E_TIMEOUT, async () => {
    const figures = await raceScenario({ rounds: 50, softPerRound: 4, seed: 64 });
    console.log(
      `ownership races: ${figures.sessions} sessions, ${figures.reconnectsMoved} reconnects on another account than the first upgrade, ` +
        `${figures.softMovedOff}/${figures.softRequests} concurrent soft requests moved off the cooling account, ${figures.upgradesOnCooling} first upgrades on it, ` +
        `${figures.storeCalls} store calls (2 ms each), ${figures.setupSkipped} setups skipped`,
    );
    expect(figures.storeCalls).toBeGreaterThan(0);
    expect(figures.setupSkipped).toBe(0);
    expect(figures.reconnectsMoved).toBe(0);
  });

  it('a previous_response_id chain stays on the exact account that stored it: 429 while it is limited (never previous_response_not_found), then continues there', E2E_TIMEOUT, async () => {
    const figures = await storedFailoverScenario({ stepsBefore: 3, limitedSteps: 3, stepsAfter: 3 });
    const show = (steps: typeof figures.stepsLimited) => steps.map((step) => `${step.status}${step.code ? `:${step.code}` : ''}@${step.account}`).join(' ');
    console.log(
      `ownership stored failover: chain on ${figures.home} (${figures.homeDomain}, started after ${figures.startAttempts} attempts); ` +
        `before [${show(figures.stepsBefore)}], limited [${show(figures.stepsLimited)}], after [${show(figures.stepsAfter)}]`,
    );
    expect(figures.homeDomain).toBe('org-1');
    expect(figures.stepsBefore.every((step) => step.ok && step.account === figures.home)).toBe(true);
    for (const step of figures.stepsLimited) {
      expect(step.code).not.toBe('previous_response_not_found');
      expect([step.status, step.account]).toEqual([429, figures.home]);
    }
    expect(figures.stepsAfter.filter((step) => !step.ok)).toHaveLength(0);
    expect(figures.stepsAfter.every((step) => step.account === figures.home)).toBe(true);
  });

  it('a mixed pool (two openai accounts, one chatgpt-codex): SDK chains, stateless conversations and Codex sessions, 0 failures, no chain on chatgpt-codex', E2E_TIMEOUT, async () => {
    const figures = await mixedPoolScenario({ each: 12, steps: 3, concurrency: 8, seed: 65 });
    const all = [...figures.chainRequests, ...figures.statelessRequests, ...figures.codexRequests];
    const failed = all.filter((outcome) => !outcome.ok);
    const chainOnCodex = figures.chainRequests.filter((outcome) => outcome.account === 'acct-c');
    console.log(
      `ownership mixed pool: ${figures.chainRequests.length} chain requests ${JSON.stringify(countBy(figures.chainRequests, (o) => o.account ?? 'none'))}, ` +
        `${figures.statelessRequests.length} stateless ${JSON.stringify(countBy(figures.statelessRequests, (o) => o.account ?? 'none'))}, ` +
        `${figures.codexRequests.length} Codex ${JSON.stringify(countBy(figures.codexRequests, (o) => o.account ?? 'none'))}; ` +
        `${failed.length} failed ${JSON.stringify(countBy(failed, (o) => o.code ?? String(o.status)))}, ${chainOnCodex.length} chain requests served by chatgpt-codex`,
    );
    expect(all).toHaveLength(12 * 3 * 3);
    expect(failed).toHaveLength(0);
    expect(chainOnCodex).toHaveLength(0);
  });

  it('content seeds stay soft: new conversations with the opening of one whose account is rate-limited go elsewhere (no 429)', E2E_TIMEOUT, async () => {
    const figures = await contentSeedScenario({ newConversations: 10 });
    const show = (steps: typeof figures.newFirstTurns) => JSON.stringify(countBy(steps, (step) => `${step.status}${step.code ? `:${step.code}` : ''}@${step.account}`));
    console.log(
      `ownership content seeds: conversation 1 on ${figures.home} [${figures.firstTurns.map((step) => step.status).join(',')}], its turn while limited ` +
        `${figures.limitedTurn ? `${figures.limitedTurn.status}${figures.limitedTurn.code ? `:${figures.limitedTurn.code}` : ''}@${figures.limitedTurn.account}` : 'none'}; ` +
        `10 new conversations, first turns ${show(figures.newFirstTurns)}, second turns ${show(figures.newSecondTurns)}`,
    );
    expect(figures.firstTurns.every((step) => step.ok && step.account === figures.home)).toBe(true);
    // Conversation 1 itself is hard (its encrypted reasoning): it meets its own account's 429.
    expect(figures.limitedTurn).toMatchObject({ status: 429, account: figures.home });
    expect(figures.newFirstTurns).toHaveLength(10);
    expect(figures.newFirstTurns.filter((step) => step.status === 429)).toHaveLength(0);
    expect(figures.newFirstTurns.filter((step) => !step.ok || step.account === figures.home)).toHaveLength(0);
    // And they carry on where they started (their reasoning is sealed for that domain).
    expect(figures.newSecondTurns).toHaveLength(10);
    expect(figures.newSecondTurns.filter((step) => !step.ok)).toHaveLength(0);
  });
});
