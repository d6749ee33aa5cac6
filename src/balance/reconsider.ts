import type { Account } from '../accounts/account.js';
import type { AccountHealthView } from '../accounts/health.js';
import type { MoveReason, Mobility } from '../routing/move-reason.js';
import type { PerformanceView } from './performance.js';
import { idleThreshold, type BalancePolicy } from './policy.js';

/** An account as balancing judges it. */
export interface BalanceCandidate {
  readonly account: Account;
  readonly health: AccountHealthView;
  readonly performance: PerformanceView;
  /** Not cooling down, not failing, credential fine. */
  readonly usable: boolean;
}

export interface ReconsiderInput {
  readonly policy: BalancePolicy;
  readonly now: number;
  readonly mobility: Mobility;
  /** The session's binding: where it is, since when (placed or moved), last seen. */
  readonly binding: { readonly account: string; readonly createdAt: number; readonly lastSeenAt: number };
  /** How long this session's prompt cache lives after a turn. */
  readonly lifetime: number;
  readonly candidates: readonly BalanceCandidate[];
  /** Operator flush marks concerning the binding's pool and account (accounts/operator-state.ts; 0: none). */
  readonly flush: { readonly pool: number; readonly account: number };
}

export type Reconsideration =
  | { readonly kind: 'stay' }
  /**
   * Re-choose by normal selection. `leave`: the session's own account is not a
   * candidate (it is the problem); otherwise re-choosing may keep it.
   * `budgeted`: the move spends one of the account's usage moves.
   */
  | { readonly kind: 'move'; readonly reason: MoveReason; readonly leave: boolean; readonly budgeted: boolean }
  /** It would move for this reason, but its state pins it: reported, never moved. */
  | { readonly kind: 'held'; readonly reason: MoveReason }
  /**
   * Idle encrypted content whose whole domain is far above the pool, in a pool that
   * opted in: healed onto another domain (its reasoning dropped). Spends a usage move.
   */
  | { readonly kind: 'heal'; readonly reason: 'usage' };

const STAY: Reconsideration = { kind: 'stay' };

/**
 * Slow or failing, compared with the pool's other usable accounts (which must exist:
 * otherwise there is nowhere better). One pass over the pool, nothing allocated: it
 * runs for every account of the pool on every routed request.
 */
export function degradation(own: BalanceCandidate, candidates: readonly BalanceCandidate[], policy: BalancePolicy): 'errors' | 'latency' | undefined {
  let usableOthers = 0;
  // Somewhere not failing as much (unmeasured counts as fine).
  let fineElsewhere = false;
  let fastestFirstEvent: number | undefined;
  let fastestHeaders: number | undefined;
  for (const other of candidates) {
    if (other.account.name === own.account.name || !other.usable) continue;
    usableOthers++;
    const performance = other.performance;
    if ((performance.errorRate ?? 0) < policy.errorRate) fineElsewhere = true;
    const firstEvent = performance.firstEventMilliseconds;
    if (firstEvent !== undefined && performance.firstEventSamples >= policy.minimumSamples && (fastestFirstEvent === undefined || firstEvent < fastestFirstEvent)) fastestFirstEvent = firstEvent;
    const headers = performance.headersMilliseconds;
    if (headers !== undefined && performance.headersSamples >= policy.minimumSamples && (fastestHeaders === undefined || headers < fastestHeaders)) fastestHeaders = headers;
  }
  if (usableOthers === 0) return undefined;
  const mine = own.performance;
  const ownErrors = mine.errorRate;
  if (ownErrors !== undefined && mine.outcomeSamples >= policy.minimumSamples && ownErrors >= policy.errorRate && fineElsewhere) return 'errors';
  // Time to the first event first, then time to headers.
  if (mine.firstEventMilliseconds !== undefined && mine.firstEventSamples >= policy.minimumSamples && fastestFirstEvent !== undefined && mine.firstEventMilliseconds - fastestFirstEvent >= policy.slowerBy) return 'latency';
  if (mine.headersMilliseconds !== undefined && mine.headersSamples >= policy.minimumSamples && fastestHeaders !== undefined && mine.headersMilliseconds - fastestHeaders >= policy.slowerBy) return 'latency';
  return undefined;
}

/** How far the account's usage-window reading is above the mean of the pool's usable accounts (percentage points). */
export function usageExcess(own: BalanceCandidate, candidates: readonly BalanceCandidate[]): number {
  const counted = candidates.filter((candidate) => candidate.usable || candidate.account.name === own.account.name);
  const mean = counted.reduce((sum, candidate) => sum + candidate.health.usedPercent, 0) / Math.max(1, counted.length);
  return own.health.usedPercent - mean;
}

/**
 * How far the emptiest usable account of the session's domain is above the pool:
 * when even that one is far above, no move inside the domain can help.
 */
export function domainExcess(own: BalanceCandidate, candidates: readonly BalanceCandidate[]): number {
  const domain = candidates.filter((candidate) => candidate.account.domain === own.account.domain && (candidate.usable || candidate === own));
  if (domain.length === candidates.length) return 0;
  return Math.min(...domain.map((candidate) => usageExcess(candidate, candidates)));
}

/**
 * Whether a session that could stay on its usable account should be re-chosen,
 * and why. Pure. Moving costs a soft session its prompt cache at most, so it
 * moves when that cache is gone (idle), when the operator asks, or when its
 * account is degraded or far above the pool (then only warm sessions settled
 * for `minimumDwell`, at a bounded rate). Encrypted content moves only inside
 * its domain and only when idle; stored objects and turn-state never move.
 */
export function reconsider(input: ReconsiderInput): Reconsideration {
  const { policy, now, mobility, binding } = input;
  const own = input.candidates.find((candidate) => candidate.account.name === binding.account);
  if (!own) return STAY;
  if (mobility === 'pool') {
    // As accounts/operator-state.ts counts a flush: a binding created at or before its mark.
    if (input.flush.account > 0 && binding.createdAt <= input.flush.account) return { kind: 'move', reason: 'flushed', leave: true, budgeted: false };
    if (input.flush.pool > 0 && binding.createdAt <= input.flush.pool) return { kind: 'move', reason: 'flushed', leave: false, budgeted: false };
  }
  const idle = now - binding.lastSeenAt > idleThreshold(input.lifetime);
  if (mobility === 'domain' && idle && policy.crossDomainHealing && policy.movesPerMinute > 0 && domainExcess(own, input.candidates) >= policy.usageGapPercent) {
    return { kind: 'heal', reason: 'usage' };
  }
  if (mobility !== 'pinned' && idle) return { kind: 'move', reason: 'idle', leave: false, budgeted: false };
  const degraded = degradation(own, input.candidates, policy);
  if (degraded) return mobility === 'pool' ? { kind: 'move', reason: degraded, leave: true, budgeted: false } : { kind: 'held', reason: degraded };
  if (usageExcess(own, input.candidates) >= policy.usageGapPercent && policy.movesPerMinute > 0) {
    if (mobility !== 'pool') return { kind: 'held', reason: 'usage' };
    if (now - binding.createdAt >= policy.minimumDwell) return { kind: 'move', reason: 'usage', leave: true, budgeted: true };
  }
  return STAY;
}
