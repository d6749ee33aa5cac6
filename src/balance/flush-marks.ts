/**
 * Operator flushes: a soft binding written before its pool's (or its
 * account's) flush mark is re-chosen on its next turn. A mark instead of a
 * scan: bindings are stored under digests, so "every binding of a pool" cannot
 * be listed, and a mark costs nothing per request.
 */
export interface FlushMarks {
  /** Soft bindings of the pool written before `now` are re-chosen. */
  flushPool(pool: string, now: number): void;
  /** Soft bindings on this account (in every pool) written before `now` leave it. */
  flushAccount(account: string, now: number): void;
  /** Latest marks that concern a binding on `account` in `pool` (0: none). */
  marks(pool: string, account: string): { readonly pool: number; readonly account: number };
}

/** This replica's marks. */
export class LocalFlushMarks implements FlushMarks {
  private readonly pools = new Map<string, number>();
  private readonly accounts = new Map<string, number>();

  flushPool(pool: string, now: number): void {
    this.pools.set(pool, Math.max(now, this.pools.get(pool) ?? 0));
  }

  flushAccount(account: string, now: number): void {
    this.accounts.set(account, Math.max(now, this.accounts.get(account) ?? 0));
  }

  marks(pool: string, account: string): { pool: number; account: number } {
    return { pool: this.pools.get(pool) ?? 0, account: this.accounts.get(account) ?? 0 };
  }
}
