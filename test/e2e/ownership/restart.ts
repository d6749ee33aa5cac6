import { createRng } from '../../workload/index.js';
import { startStack } from '../stack.js';
import { runRound, runTurns, TrackedSession } from './clients.js';
import { countBy, liftRateLimit, rateLimit, shuffled, sleep, THREE_DOMAINS, type Outcome } from './tools.js';

// ---------------------------------------------------------------------------------------------
// 1. Restart

export interface RestartFigures {
  sessions: number;
  failedBefore: number;
  /** Turns after the restart, and those that failed (by failure class). */
  turnsAfter: number;
  failedAfter: number;
  failedAfterByClass: Record<string, number>;
  /** Sessions answered after the restart by another account than their home. */
  moved: number;
  homes: Record<string, number>;
}

/** Sessions run `turnsBefore` turns, the processor restarts (fresh store), every session resumes `roundsAfter` times in seeded random order. */
export async function restartScenario(options: { sessions: number; turnsBefore: number; roundsAfter: number; seed: number }): Promise<RestartFigures> {
  const stack = await startStack({ topology: 'affinity', accounts: THREE_DOMAINS });
  try {
    const sessions = Array.from({ length: options.sessions }, (_, index) => new TrackedSession(stack.url, index, options.seed * 1000 + index));
    const before = await runTurns(sessions, options.turnsBefore, 6);
    const homes = new Map(sessions.map((session) => [session, session.home]));
    await stack.restartProcessor();
    const rng = createRng(options.seed, 'restart-order');
    const after: Outcome[] = [];
    let moved = 0;
    const movedSessions = new Set<TrackedSession>();
    for (let round = 0; round < options.roundsAfter; round++) {
      for (const [session, outcome] of await runRound(shuffled(sessions, rng))) {
        after.push(outcome);
        if (outcome.account !== homes.get(session) && !movedSessions.has(session)) {
          movedSessions.add(session);
          moved++;
        }
      }
    }
    const failedAfter = after.filter((outcome) => !outcome.ok);
    return {
      sessions: sessions.length,
      failedBefore: before.filter((outcome) => !outcome.ok).length,
      turnsAfter: after.length,
      failedAfter: failedAfter.length,
      failedAfterByClass: countBy(failedAfter, (outcome) => outcome.failure ?? 'ok'),
      moved,
      homes: countBy(sessions, (session) => homes.get(session) ?? 'none'),
    };
  } finally {
    await stack.close();
  }
}

export interface RestartLimitedFigures {
  sessions: number;
  failedBefore: number;
  limitedAccount: string;
  /** Sessions whose home (before the restart) is the limited account. */
  homedOnLimited: number;
  roundsLimited: number;
  roundsToRecover: number;
  /** Per session, invalid_encrypted_content answers after the restart. */
  maxEncryptedFailuresPerSession: number;
  sessionsOverBudget: number;
  encryptedFailures: number;
  rateLimited: number;
  otherFailures: Record<string, number>;
  /** Sessions homed elsewhere that failed a turn after the restart. */
  bystandersFailed: number;
  /** Sessions without a successful turn after the limit was lifted. */
  stuck: number;
}

/**
 * As restartScenario, but one account answers 429 (short retry-after) from the restart on:
 * the sessions resume for `roundsLimited` rounds, the limit is lifted, and the sessions keep
 * resuming (those that have not yet succeeded since the lift) for up to `maxRecoveryRounds`.
 */
export async function restartWithLimitScenario(options: {
  sessions: number;
  seed: number;
  retryAfterSeconds: number;
  roundsLimited: number;
  maxRecoveryRounds: number;
}): Promise<RestartLimitedFigures> {
  const stack = await startStack({ topology: 'affinity', accounts: THREE_DOMAINS });
  try {
    const sessions = Array.from({ length: options.sessions }, (_, index) => new TrackedSession(stack.url, index, options.seed * 1000 + index));
    const before = await runTurns(sessions, 2, 6);
    const homes = new Map(sessions.map((session) => [session, session.home]));
    const limited = stack.accounts[0]!;
    await stack.restartProcessor();
    rateLimit(limited, options.retryAfterSeconds);
    const rng = createRng(options.seed, 'restart-limited-order');
    const after = new Map<TrackedSession, Outcome[]>(sessions.map((session) => [session, []]));
    let lastRateLimitAt = Date.now();
    for (let round = 0; round < options.roundsLimited; round++) {
      for (const [session, outcome] of await runRound(shuffled(sessions, rng))) {
        after.get(session)!.push(outcome);
        if (outcome.status === 429) lastRateLimitAt = Date.now();
      }
    }
    liftRateLimit(limited);
    // Clients honour retry-after: the processor's cooldown of the account is over too.
    await sleep(Math.max(0, lastRateLimitAt + options.retryAfterSeconds * 1000 + 200 - Date.now()));
    const recovered = new Set<TrackedSession>();
    let roundsToRecover = 0;
    for (let round = 0; round < options.maxRecoveryRounds && recovered.size < sessions.length; round++) {
      roundsToRecover++;
      const pending = shuffled(
        sessions.filter((session) => !recovered.has(session)),
        rng,
      );
      for (const [session, outcome] of await runRound(pending)) {
        after.get(session)!.push(outcome);
        if (outcome.ok) recovered.add(session);
      }
    }
    const all = [...after.values()].flat();
    const encryptedPerSession = sessions.map((session) => after.get(session)!.filter((outcome) => outcome.failure === 'invalid_encrypted_content').length);
    const maxEncrypted = Math.max(0, ...encryptedPerSession);
    return {
      sessions: sessions.length,
      failedBefore: before.filter((outcome) => !outcome.ok).length,
      limitedAccount: limited.name,
      homedOnLimited: sessions.filter((session) => homes.get(session) === limited.name).length,
      roundsLimited: options.roundsLimited,
      roundsToRecover,
      maxEncryptedFailuresPerSession: maxEncrypted,
      sessionsOverBudget: encryptedPerSession.filter((count) => count > THREE_DOMAINS.length - 1).length,
      encryptedFailures: encryptedPerSession.reduce((sum, count) => sum + count, 0),
      rateLimited: all.filter((outcome) => outcome.failure === 'rate_limit').length,
      otherFailures: countBy(
        all.filter((outcome) => !outcome.ok && outcome.failure !== 'rate_limit' && outcome.failure !== 'invalid_encrypted_content'),
        (outcome) => outcome.code ?? String(outcome.status),
      ),
      bystandersFailed: sessions.filter((session) => homes.get(session) !== limited.name && after.get(session)!.some((outcome) => !outcome.ok)).length,
      stuck: sessions.length - recovered.size,
    };
  } finally {
    await stack.close();
  }
}
