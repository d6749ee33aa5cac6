/**
 * Per-replica account state: in-flight requests, cooldown after 429 / usage
 * limits, credential failures, usage-window headroom, and 5xx / reset failures
 * in a sliding window. Time always comes in as an argument so the decisions
 * stay pure and testable.
 */
export interface AccountHealthView {
  readonly inFlight: number;
  readonly coolingDownUntil: number;
  readonly recentFailures: number;
  /** 401/403 seen: avoided for new sessions until then (epoch ms). */
  readonly credentialFailedUntil: number;
  /** Highest usage-window percent the upstream reported (x-codex-*-used-percent), 0 when unknown. */
  readonly usedPercent: number;
  /**
   * How much of its per-minute budget the public API reported used
   * (x-ratelimit-remaining-* of x-ratelimit-limit-*), 0 when unknown. It varies
   * by the second, so it steers only per-request choices, never placement.
   */
  readonly budgetUsedPercent: number;
}

export interface HealthPolicy {
  readonly failureWindowMilliseconds: number;
  readonly failureThreshold: number;
  /** At or above this usage percent an account gets fewer new sessions. */
  readonly nearLimitPercent: number;
}

export const HEALTHY: AccountHealthView = Object.freeze({ inFlight: 0, coolingDownUntil: 0, recentFailures: 0, credentialFailedUntil: 0, usedPercent: 0, budgetUsedPercent: 0 });

export function isCoolingDown(view: AccountHealthView, now: number): boolean {
  return view.coolingDownUntil > now;
}

export function isUnhealthy(view: AccountHealthView, policy: HealthPolicy, now: number): boolean {
  return view.recentFailures >= policy.failureThreshold || view.credentialFailedUntil > now;
}

/** Usable for new or movable (soft) sessions. */
export function isUsable(view: AccountHealthView, policy: HealthPolicy, now: number): boolean {
  return !isCoolingDown(view, now) && !isUnhealthy(view, policy, now);
}

/** Near, not at, the limit: a full window is handled by the cooldown its 429 brings. */
export function isNearLimit(view: AccountHealthView, policy: HealthPolicy): boolean {
  return view.usedPercent >= policy.nearLimitPercent && view.usedPercent < 100;
}

/** How long a usage-window reading counts without a newer one, when the upstream named no reset. */
export const USAGE_FRESHNESS_MILLISECONDS = 10 * 60_000;

/** How long a per-minute budget reading holds at most. */
export const BUDGET_VALIDITY_MILLISECONDS = 60_000;

/** The longest a reading is believed even with a named reset (the longest usage window, a week, and a day). */
export const LONGEST_USAGE_VALIDITY_MILLISECONDS = 8 * 24 * 3_600_000;

class AccountHealth {
  inFlight = 0;
  coolingDownUntil = 0;
  credentialFailedUntil = 0;
  usedPercent = 0;
  usageObservedAt = 0;
  /** The window's reset named with the reading (0: none named). */
  usageResetsAt = 0;
  budgetUsedPercent = 0;
  /** The per-minute budget reading holds until its reset (0: none). */
  budgetValidUntil = 0;
  failureTimes: number[] = [];
}

/**
 * Account state as routing reads and response handling writes it. This
 * replica's table implements it today; a shared one (another replica's
 * cooldowns, failures and usage readings) can stand behind the same calls.
 * In-flight counts stay per replica.
 */
export interface AccountState {
  readonly healthPolicy: HealthPolicy;
  view(account: string, now: number): AccountHealthView;
  requestStarted(account: string): void;
  requestFinished(account: string): void;
  /** Extends the cooldown to `until` (never shortens it); returns the cooldown now in force. */
  coolDown(account: string, until: number): number;
  recordFailure(account: string, now: number): void;
  /** True when this is news (the account was not already marked). */
  recordCredentialFailure(account: string, until: number, now: number): boolean;
  /** `resetsAt`: when the window that reported it resets, if the upstream said; the reading holds until then. */
  recordUsage(account: string, usedPercent: number, now: number, resetsAt?: number): void;
  /** A per-minute budget reading, held until `resetsAt` (else for a minute). This replica's own. */
  recordBudget(account: string, usedPercent: number, now: number, resetsAt?: number): void;
  recordSuccess(account: string): void;
  /** An operator's reset: no cooldown, no failures, no credential failure (usage readings stay: they are the upstream's). */
  reset(account: string): void;
}

export class AccountStateTable implements AccountState {
  private readonly states = new Map<string, AccountHealth>();
  constructor(private readonly policy: HealthPolicy) {}

  private state(account: string): AccountHealth {
    let state = this.states.get(account);
    if (!state) {
      state = new AccountHealth();
      this.states.set(account, state);
    }
    return state;
  }

  view(account: string, now: number): AccountHealthView {
    const state = this.state(account);
    this.prune(state, now);
    return {
      inFlight: state.inFlight,
      coolingDownUntil: state.coolingDownUntil,
      recentFailures: state.failureTimes.length,
      credentialFailedUntil: state.credentialFailedUntil,
      usedPercent: this.freshUsage(state, now),
      budgetUsedPercent: state.budgetValidUntil > now ? state.budgetUsedPercent : 0,
    };
  }

  /**
   * A usage reading taken before a cooldown that has since ended predates the
   * reset that ended it. A reading holds until its window's reset when the
   * upstream named one (usage only falls at a reset: an account balancing keeps
   * idle is still as full), else for the freshness window.
   */
  private freshUsage(state: AccountHealth, now: number): number {
    const validUntil = state.usageResetsAt > state.usageObservedAt ? state.usageResetsAt : state.usageObservedAt + USAGE_FRESHNESS_MILLISECONDS;
    if (now >= validUntil) return 0;
    if (state.coolingDownUntil <= now && state.usageObservedAt < state.coolingDownUntil) return 0;
    return state.usedPercent;
  }

  private prune(state: AccountHealth, now: number): void {
    const oldest = now - this.policy.failureWindowMilliseconds;
    let drop = 0;
    while (drop < state.failureTimes.length && state.failureTimes[drop]! <= oldest) drop++;
    if (drop > 0) state.failureTimes.splice(0, drop);
  }

  requestStarted(account: string): void {
    this.state(account).inFlight++;
  }

  requestFinished(account: string): void {
    const state = this.state(account);
    if (state.inFlight > 0) state.inFlight--;
  }

  /** Extends the cooldown to `until` (never shortens it); returns the cooldown now in force. */
  coolDown(account: string, until: number): number {
    const state = this.state(account);
    if (until > state.coolingDownUntil) state.coolingDownUntil = until;
    return state.coolingDownUntil;
  }

  recordFailure(account: string, now: number): void {
    const state = this.state(account);
    state.failureTimes.push(now);
    this.prune(state, now);
  }

  /** Returns true when this is news (the account was not already marked). */
  recordCredentialFailure(account: string, until: number, now: number): boolean {
    const state = this.state(account);
    const news = state.credentialFailedUntil <= now;
    state.credentialFailedUntil = Math.max(state.credentialFailedUntil, until);
    return news;
  }

  recordUsage(account: string, usedPercent: number, now: number, resetsAt?: number): void {
    const state = this.state(account);
    state.usedPercent = usedPercent;
    state.usageObservedAt = now;
    state.usageResetsAt = resetsAt !== undefined && resetsAt > now ? Math.min(resetsAt, now + LONGEST_USAGE_VALIDITY_MILLISECONDS) : 0;
  }

  recordBudget(account: string, usedPercent: number, now: number, resetsAt?: number): void {
    const state = this.state(account);
    state.budgetUsedPercent = usedPercent;
    state.budgetValidUntil = resetsAt !== undefined && resetsAt > now ? Math.min(resetsAt, now + BUDGET_VALIDITY_MILLISECONDS) : now + BUDGET_VALIDITY_MILLISECONDS;
  }

  /** A reading another replica took: kept only when newer than this replica's. */
  recordUsageIfNewer(account: string, usedPercent: number, observedAt: number, resetsAt?: number): void {
    if (observedAt > this.state(account).usageObservedAt) this.recordUsage(account, usedPercent, observedAt, resetsAt);
  }

  /** Another replica saw the account's credential work again. */
  clearCredentialFailure(account: string): void {
    this.state(account).credentialFailedUntil = 0;
  }

  /** The cooldown in force (epoch ms; 0 when none was ever set). */
  cooldownUntil(account: string): number {
    return this.state(account).coolingDownUntil;
  }

  recordSuccess(account: string): void {
    // A success after failures shows recovery: forget the oldest failure so an
    // account that works again becomes usable before the window has fully passed.
    const state = this.state(account);
    if (state.failureTimes.length > 0) state.failureTimes.shift();
    state.credentialFailedUntil = 0;
  }

  reset(account: string): void {
    const state = this.state(account);
    state.coolingDownUntil = 0;
    state.credentialFailedUntil = 0;
    state.failureTimes = [];
  }

  get healthPolicy(): HealthPolicy {
    return this.policy;
  }
}
