import type { Pool } from '../accounts/account.js';
import { isUsable, type HealthPolicy } from '../accounts/health.js';
import type { Logger } from '../logging/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { Candidate } from '../routing/candidate.js';
import { OperatorState, type OperatorControl } from '../accounts/operator-state.js';
import { MoveBudget } from './move-budget.js';
import type { Mobility, MoveReason } from '../routing/move-reason.js';
import { AccountPerformance } from './performance.js';
import { balancePolicies, cacheLifetime, touchInterval, type BalancePolicy } from './policy.js';
import { degradation, reconsider, type BalanceCandidate } from './reconsider.js';
import type { Config } from '../config/schema.js';

/** What the routing decision gets from balancing for one request. */
export interface BalanceAdvice {
  readonly rebalance: { readonly reason: MoveReason; readonly leave: boolean; readonly salt: string } | undefined;
  readonly spreadSoft: boolean;
  readonly degraded: ReadonlySet<string>;
  /** It would move for this reason, but its state keeps it (reported as held). */
  readonly held: MoveReason | undefined;
  /** Last-seen times older than this are refreshed on the session binding. */
  readonly touchAfter: number;
  /** Heal this idle encrypted-content session onto another domain (the pool opted in). */
  readonly healAcrossDomains: boolean;
}

export interface SessionView {
  readonly account: string;
  readonly createdAt: number;
  readonly lastSeenAt: number;
}

const NONE: ReadonlySet<string> = new Set();

/**
 * What balancing keeps across configuration generations (a live reload builds a
 * new Balancer around the same state): this replica's performance averages, the
 * usage-move budgets, and the operator's flush marks, which are the admin API's
 * (accounts/operator-state.ts, shared between replicas by shared-operator-state.ts).
 * The averages' half-life is the one configured at start.
 */
export class BalanceState {
  constructor(
    config: Pick<Config, 'balance'>,
    readonly operator: OperatorControl = new OperatorState(),
    readonly performance: AccountPerformance = new AccountPerformance(config.balance.performanceHalfLife),
    readonly budget: MoveBudget = new MoveBudget(),
  ) {}
}

/**
 * Balancing's edge: per-pool policies (this configuration's) around the state
 * kept across reloads (BalanceState), and the pure judgement in reconsider.ts.
 * Routing asks it for advice before deciding and reports moves after; response
 * handling feeds it measurements.
 */
export class Balancer {
  readonly policies: ReadonlyMap<string, BalancePolicy>;
  private readonly performance: AccountPerformance;
  private readonly budget: MoveBudget;
  private readonly operator: OperatorControl;

  constructor(
    private readonly config: Pick<Config, 'balance' | 'pools'>,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    state: BalanceState = new BalanceState(config),
  ) {
    this.policies = balancePolicies(config);
    this.performance = state.performance;
    this.budget = state.budget;
    this.operator = state.operator;
  }

  /**
   * The same judgement for explaining a decision: the same averages and flush marks,
   * moves counted in `metrics`, usage-move budgets spent from a copy.
   */
  dryRun(metrics: Metrics): Balancer {
    return new Balancer(this.config, metrics, this.logger, new BalanceState(this.config, this.operator, this.performance, this.budget.copy()));
  }

  policy(pool: string): BalancePolicy {
    return this.policies.get(pool) ?? this.policies.get('default')!;
  }

  private judged(candidates: readonly Candidate[], healthPolicy: HealthPolicy, now: number): BalanceCandidate[] {
    return candidates.map((candidate) => ({
      account: candidate.account,
      health: candidate.health,
      performance: this.performance.view(candidate.account.name, now),
      usable: isUsable(candidate.health, healthPolicy, now),
    }));
  }

  /**
   * Advice for one request of `pool`: which accounts are degraded, whether the
   * session (when it has a binding) should be re-chosen and why. A usage move
   * takes one of its account's moves per minute here; none left, it stays.
   */
  advise(
    pool: Pool,
    candidates: readonly Candidate[],
    healthPolicy: HealthPolicy,
    now: number,
    session: { readonly binding: SessionView | undefined; readonly mobility: Mobility; readonly extendedRetention: boolean },
  ): BalanceAdvice {
    const policy = this.policy(pool.name);
    const lifetime = cacheLifetime(policy, session.extendedRetention);
    const judged = this.judged(candidates, healthPolicy, now);
    let degraded: Set<string> | undefined;
    for (const candidate of judged) {
      if (candidate.usable && degradation(candidate, judged, policy)) (degraded ??= new Set()).add(candidate.account.name);
    }
    const spreadSoft = policy.stickiness === 'soft-off';
    const touchAfter = touchInterval(lifetime);
    // One literal of one shape per answer: spreading a shared base costs more than the judgement.
    const answer = (rebalance: BalanceAdvice['rebalance'], held: MoveReason | undefined, healAcrossDomains = false): BalanceAdvice => ({
      rebalance,
      spreadSoft,
      degraded: degraded ?? NONE,
      held,
      touchAfter,
      healAcrossDomains,
    });
    if (!session.binding) return answer(undefined, undefined);
    const verdict = reconsider({
      policy,
      now,
      mobility: session.mobility,
      binding: session.binding,
      lifetime,
      candidates: judged,
      flush: this.operator.marks(pool.name, session.binding.account),
    });
    if (verdict.kind === 'held') return answer(undefined, verdict.reason);
    if (verdict.kind === 'heal') {
      const allowed = this.budget.take(pool.name, session.binding.account, now, policy.movesPerMinute);
      return answer(undefined, allowed ? undefined : 'usage', allowed);
    }
    if (verdict.kind === 'stay') return answer(undefined, undefined);
    if (verdict.budgeted && !this.budget.take(pool.name, session.binding.account, now, policy.movesPerMinute)) return answer(undefined, undefined);
    return answer({ reason: verdict.reason, leave: verdict.leave, salt: String(session.binding.lastSeenAt) }, undefined);
  }

  /** A session left `from` for `to`: counted, and logged at debug (names of accounts only). */
  moved(pool: string, reason: MoveReason, from: string, to: string): void {
    this.metrics.bindingMoves.inc({ pool, reason, account: from });
    this.logger.debug({ pool, reason, from, to }, 'session moved');
  }

  held(pool: string, reason: MoveReason, account: string): void {
    this.metrics.movesHeld.inc({ pool, reason, account });
    this.logger.debug({ pool, reason, account }, 'session kept on its account: its state cannot move');
  }

  recordHeaders(account: string, milliseconds: number, now: number): void {
    this.performance.recordHeaders(account, milliseconds, now);
    this.metrics.accountHeadersSeconds.set({ account }, (this.performance.mean(account, 'headers', now) ?? 0) / 1000);
  }

  recordFirstEvent(account: string, milliseconds: number, now: number): void {
    this.performance.recordFirstEvent(account, milliseconds, now);
    this.metrics.accountFirstEventSeconds.set({ account }, (this.performance.mean(account, 'firstEvent', now) ?? 0) / 1000);
  }

  recordOutcome(account: string, failed: boolean, now: number): void {
    this.performance.recordOutcome(account, failed, now);
    this.metrics.accountErrorRate.set({ account }, this.performance.mean(account, 'outcomes', now) ?? 0);
  }

  /**
   * Operator action: every soft binding of the pool is re-chosen on its next turn (hard ones stay).
   * The same marks as the admin API's flush (accounts/operator-state.ts).
   */
  flushPool(pool: string, now: number): void {
    this.operator.flushPool(pool, now);
    this.logger.debug({ pool }, 'soft bindings of the pool flushed');
  }

  /** Operator action: soft sessions on the account (in every pool) leave it on their next turn (hard ones stay). */
  flushAccount(account: string, now: number): void {
    this.operator.flushAccount(account, now);
    this.logger.debug({ account }, 'soft bindings of the account flushed');
  }
}
