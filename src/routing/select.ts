import type { Account } from '../accounts/account.js';
import type { HealthPolicy } from '../accounts/health.js';
import { isNearLimit, isUsable } from '../accounts/health.js';
import { headroomShare } from './placement.js';
import type { Candidate } from './candidate.js';

/** An account with its current state, as the selection pipeline sees it. */

/** Chooses among equally good accounts; the edge keeps its state (weighted round robin). */
export type TieBreaker = (tied: readonly Account[]) => Account;

export interface SelectionContext {
  readonly now: number;
  readonly policy: HealthPolicy;
  readonly tieBreaker: TieBreaker;
}

// Filters: each narrows the candidates.
export const inDomain = (domain: string) => (candidate: Candidate) => candidate.account.domain === domain;
export const usableAt = (context: SelectionContext) => (candidate: Candidate) => isUsable(candidate.health, context.policy, context.now);
/** Usable and not drained: may take a new session or a soft one moving in. */
export const acceptsNewSessions = (context: SelectionContext) => (candidate: Candidate) => candidate.drained !== true && isUsable(candidate.health, context.policy, context.now);

/** An account near its usage window counts as this many times more loaded. */
export const NEAR_LIMIT_PENALTY = 4;

/**
 * Load per unit of weight if this request were added, the weight reduced by
 * headroom (the fuller of the usage window and the per-minute budget: a
 * per-request choice may follow readings that change by the second). Lower is better.
 */
export function loadScore(candidate: Candidate, policy?: HealthPolicy): number {
  const used = Math.max(candidate.health.usedPercent, candidate.health.budgetUsedPercent);
  const load = (candidate.health.inFlight + 1) / (candidate.account.weight * headroomShare(used));
  return policy && isNearLimit(candidate.health, policy) ? load * NEAR_LIMIT_PENALTY : load;
}

/** Picks the least loaded candidate by weight; ties go to the tie breaker. */
export function pickLeastLoaded(candidates: readonly Candidate[], context: SelectionContext): Account | undefined {
  if (candidates.length === 0) return undefined;
  let best = Number.POSITIVE_INFINITY;
  let tied: Account[] = [];
  for (const candidate of candidates) {
    const score = loadScore(candidate, context.policy);
    if (score < best - 1e-9) {
      best = score;
      tied = [candidate.account];
    } else if (Math.abs(score - best) <= 1e-9) {
      tied.push(candidate.account);
    }
  }
  return tied.length === 1 ? tied[0] : context.tieBreaker(tied);
}

/**
 * Smooth weighted round robin over whichever accounts are tied: spreads new
 * sessions in proportion to weight when load alone does not decide.
 */
export function createWeightedRoundRobin(): TieBreaker {
  const current = new Map<string, number>();
  return (tied) => {
    let total = 0;
    let chosen: Account | undefined;
    let chosenWeight = Number.NEGATIVE_INFINITY;
    for (const account of tied) {
      const weight = (current.get(account.name) ?? 0) + account.weight;
      current.set(account.name, weight);
      total += account.weight;
      if (weight > chosenWeight) {
        chosenWeight = weight;
        chosen = account;
      }
    }
    current.set(chosen!.name, chosenWeight - total);
    return chosen!;
  };
}
