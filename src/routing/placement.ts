import { sha256Hex } from '../hashing/sha256.js';
import type { Account } from '../accounts/account.js';
import { isNearLimit, type HealthPolicy } from '../accounts/health.js';
import type { Candidate } from './candidate.js';

/** An account near its usage window gets this share of its weight in placement. */
export const NEAR_LIMIT_WEIGHT_SHARE = 0.25;

const TWO_POW_48 = 2 ** 48;

/**
 * Weighted rendezvous (highest random weight) score of an account for a
 * placement key: -weight / ln(u), u uniform in (0, 1) from a hash of both.
 * Every replica, and a replica after a restart, computes the same score, and
 * removing one account moves only the keys that were on it.
 */
export function rendezvousScore(placementKey: string, account: Account, weight: number): number {
  // The first 48 bits of the digest (12 hex digits), as a number.
  const bits = Number.parseInt(sha256Hex(`${placementKey}\u0000${account.name}`).slice(0, 12), 16);
  const unit = (bits + 0.5) / TWO_POW_48;
  return -weight / Math.log(unit);
}

/** The least share of its weight an account keeps however used its window is (it still gets some sessions). */
const MINIMUM_HEADROOM_SHARE = 0.01;

/** How steeply placement prefers headroom: the share is the fraction left to this power. */
export const HEADROOM_EXPONENT = 4;

/**
 * Share of its weight an account gets for its usage-window headroom: the
 * fraction left to the fourth power, so an account at 60% gets 2.6% of its
 * weight, one at 20% gets 41%, and two accounts ten points apart near the
 * middle differ by about a factor of 1.5. New and re-chosen sessions drift to
 * headroom; an account without readings (0%) keeps its whole weight.
 */
export function headroomShare(usedPercent: number): number {
  const left = Math.min(1, Math.max(0, (100 - usedPercent) / 100));
  return Math.max(MINIMUM_HEADROOM_SHARE, left ** HEADROOM_EXPONENT);
}

/** Usage steps placement sees: readings a few points apart (timing, rounding) place alike. */
export const PLACEMENT_USAGE_STEP = 10;

/**
 * The usage reading rounded down to its step. Replicas that share nothing (a
 * Redis outage) read the same account's usage headers at slightly different
 * moments; placement must not split a session over them for that.
 */
export function placementUsage(usedPercent: number): number {
  return Math.floor(usedPercent / PLACEMENT_USAGE_STEP) * PLACEMENT_USAGE_STEP;
}

/**
 * The weight placement uses: the configured weight, reduced by usage-window
 * headroom and again near the limit. It reads only account state that
 * replicas share (usage readings), never per-replica in-flight counts, so
 * replicas agree.
 */
export function placementWeight(candidate: Candidate, policy: HealthPolicy): number {
  const weight = candidate.account.weight * headroomShare(placementUsage(candidate.health.usedPercent));
  return isNearLimit(candidate.health, policy) ? weight * NEAR_LIMIT_WEIGHT_SHARE : weight;
}

/** Candidates in placement order for the key, best first. */
export function placementOrder(placementKey: string, candidates: readonly Candidate[], policy: HealthPolicy): Candidate[] {
  return candidates
    .map((candidate) => ({ candidate, score: rendezvousScore(placementKey, candidate.account, placementWeight(candidate, policy)) }))
    .sort((left, right) => right.score - left.score || (left.candidate.account.name < right.candidate.account.name ? -1 : 1))
    .map((entry) => entry.candidate);
}

export function place(placementKey: string, candidates: readonly Candidate[], policy: HealthPolicy): Account | undefined {
  let best: Candidate | undefined;
  let bestScore = Number.NEGATIVE_INFINITY;
  for (const candidate of candidates) {
    const score = rendezvousScore(placementKey, candidate.account, placementWeight(candidate, policy));
    if (score > bestScore || (score === bestScore && best !== undefined && candidate.account.name < best.account.name)) {
      best = candidate;
      bestScore = score;
    }
  }
  return best?.account;
}
