/**
 * How many usage moves an account may still give away: a token bucket per
 * account, refilled at `movesPerMinute` and holding at most one minute's worth,
 * so a hot account sheds its warm sessions gradually, never all at once.
 */
export interface Bucket {
  readonly tokens: number;
  readonly at: number;
}

/** Pure: the bucket after refilling to `now` and, when a token is there, taking it. */
export function takeToken(bucket: Bucket | undefined, now: number, movesPerMinute: number): { taken: boolean; bucket: Bucket } {
  const capacity = Math.max(1, movesPerMinute);
  const refilled = bucket === undefined ? capacity : Math.min(capacity, bucket.tokens + (Math.max(0, now - bucket.at) * movesPerMinute) / 60_000);
  if (movesPerMinute <= 0 || refilled < 1) return { taken: false, bucket: { tokens: refilled, at: now } };
  return { taken: true, bucket: { tokens: refilled - 1, at: now } };
}

/** This replica's buckets, one per pool and account. */
export class MoveBudget {
  private readonly buckets = new Map<string, Bucket>();

  take(pool: string, account: string, now: number, movesPerMinute: number): boolean {
    const key = `${pool}\u0000${account}`;
    const result = takeToken(this.buckets.get(key), now, movesPerMinute);
    this.buckets.set(key, result.bucket);
    return result.taken;
  }

  /** A copy to spend from without touching these buckets (explaining a decision). */
  copy(): MoveBudget {
    const copied = new MoveBudget();
    for (const [key, bucket] of this.buckets) copied.buckets.set(key, bucket);
    return copied;
  }
}
