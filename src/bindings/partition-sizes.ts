/**
 * Partitions bucketed by size, so the largest is found in O(1) amortised
 * while sizes change one entry at a time.
 */
export class PartitionSizes<Partition> {
  private readonly buckets = new Map<number, Set<Partition>>();
  private maximum = 0;

  /** Records that `partition` went from `before` to `after` entries (0: absent). */
  moved(partition: Partition, before: number, after: number): void {
    if (before > 0) {
      const bucket = this.buckets.get(before);
      bucket?.delete(partition);
      if (bucket?.size === 0) this.buckets.delete(before);
    }
    if (after > 0) {
      let bucket = this.buckets.get(after);
      if (!bucket) {
        bucket = new Set();
        this.buckets.set(after, bucket);
      }
      bucket.add(partition);
      if (after > this.maximum) this.maximum = after;
    }
    while (this.maximum > 0 && !this.buckets.has(this.maximum)) this.maximum--;
  }

  /** One of the largest partitions; `preferred` when it is as large. */
  largest(preferred?: Partition): Partition | undefined {
    const bucket = this.buckets.get(this.maximum);
    if (!bucket) return undefined;
    if (preferred !== undefined && bucket.has(preferred)) return preferred;
    return bucket.values().next().value;
  }

  clear(): void {
    this.buckets.clear();
    this.maximum = 0;
  }
}
