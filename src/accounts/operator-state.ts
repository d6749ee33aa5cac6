import type { Binding } from '../bindings/binding.js';

/**
 * What an operator decided about accounts and soft bindings, as routing reads it.
 * - A drained account takes no new session; its soft sessions move at their next
 *   request; its hard sessions stay until they end.
 * - A flush forgets soft session bindings created up to its time (of one account,
 *   or of one pool's sessions); the next request of such a session is placed afresh.
 * This class keeps it in this replica's memory; shared-operator-state.ts shares it
 * between replicas through Redis.
 */
export interface OperatorView {
  isDrained(account: string): boolean;
  /** The soft session binding was flushed by an operator (so it is placed afresh). */
  isFlushed(binding: Binding, pool: string): boolean;
  /**
   * The latest flush marks that concern a binding on `account` in `pool` (0: none),
   * as balancing reads them (balance/reconsider.ts): a soft binding created at or
   * before the account's mark leaves the account; before the pool's, it is re-chosen.
   */
  marks(pool: string, account: string): { readonly pool: number; readonly account: number };
}

export interface FlushMarks {
  readonly accounts: ReadonlyMap<string, number>;
  readonly pools: ReadonlyMap<string, number>;
}

/** Pure: a soft binding created at or before a flush of its account or pool is flushed. Hard bindings never are. */
export function flushedBy(binding: Binding, pool: string, marks: FlushMarks): boolean {
  if (binding.strength === 'hard') return false;
  const byAccount = marks.accounts.get(binding.account);
  const byPool = marks.pools.get(pool);
  return (byAccount !== undefined && binding.createdAt <= byAccount) || (byPool !== undefined && binding.createdAt <= byPool);
}

/** What the admin API changes: this replica's state, or one shared through Redis (shared-operator-state.ts). */
export interface OperatorControl extends OperatorView {
  /** Returns false when the account was already drained. */
  drain(account: string): boolean;
  /** Returns false when the account was not drained. */
  undrain(account: string): boolean;
  flushAccount(account: string, now: number): void;
  flushPool(pool: string, now: number): void;
  drainedAccounts(): string[];
  retainAccounts(configured: ReadonlySet<string>): void;
}

export class OperatorState implements OperatorControl {
  private readonly drained = new Set<string>();
  private readonly accountFlushes = new Map<string, number>();
  private readonly poolFlushes = new Map<string, number>();

  isDrained(account: string): boolean {
    return this.drained.has(account);
  }

  drainedAccounts(): string[] {
    return [...this.drained].sort();
  }

  /** Returns false when the account was already drained. */
  drain(account: string): boolean {
    if (this.drained.has(account)) return false;
    this.drained.add(account);
    return true;
  }

  /** Returns false when the account was not drained. */
  undrain(account: string): boolean {
    return this.drained.delete(account);
  }

  /** A later flush wins; an older one (a late message) changes nothing. */
  flushAccount(account: string, now: number): void {
    this.accountFlushes.set(account, Math.max(now, this.accountFlushes.get(account) ?? 0));
  }

  flushPool(pool: string, now: number): void {
    this.poolFlushes.set(pool, Math.max(now, this.poolFlushes.get(pool) ?? 0));
  }

  isFlushed(binding: Binding, pool: string): boolean {
    return flushedBy(binding, pool, { accounts: this.accountFlushes, pools: this.poolFlushes });
  }

  marks(pool: string, account: string): { pool: number; account: number } {
    return { pool: this.poolFlushes.get(pool) ?? 0, account: this.accountFlushes.get(account) ?? 0 };
  }

  /** Accounts no longer configured (a reload removed them) keep no operator state. */
  retainAccounts(configured: ReadonlySet<string>): void {
    for (const account of this.drained) if (!configured.has(account)) this.drained.delete(account);
    for (const account of this.accountFlushes.keys()) if (!configured.has(account)) this.accountFlushes.delete(account);
  }
}
