import type { Cluster, Redis } from 'ioredis';
import type { Logger } from '../logging/logger.js';
import { quitOrDisconnect } from '../redis/client.js';
import { LocalFlushMarks, type FlushMarks } from './flush-marks.js';

export interface SharedFlushMarksOptions {
  readonly client: Redis | Cluster;
  readonly keyPrefix: string;
  /** How often the marks every replica wrote are read back. */
  readonly refreshMilliseconds: number;
  /** Configured names: a mark about any other is ignored. */
  readonly pools: ReadonlySet<string>;
  readonly accounts: ReadonlySet<string>;
  readonly clock: () => number;
  readonly logger: Logger;
}

/**
 * Operator flushes shared between replicas: a flush on one replica (the admin
 * API answers on one) is written to one Redis hash, and every replica reads
 * the hash back each refresh interval, so a flush reaches them all within it.
 * Answers always come from this replica's marks; Redis never delays a request.
 * A mark later than the receiver's now waits until it has passed (a mark
 * clamped to now would move with the clock and flush again and again).
 */
export class SharedFlushMarks implements FlushMarks {
  private readonly local = new LocalFlushMarks();
  private readonly key: string;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly options: SharedFlushMarksOptions) {
    this.key = `${options.keyPrefix}:{balance}:flush`;
    this.timer = setInterval(() => void this.refresh(), options.refreshMilliseconds);
    this.timer.unref();
    void this.refresh();
  }

  flushPool(pool: string, now: number): void {
    this.local.flushPool(pool, now);
    this.write(`pool:${pool}`, now);
  }

  flushAccount(account: string, now: number): void {
    this.local.flushAccount(account, now);
    this.write(`account:${account}`, now);
  }

  marks(pool: string, account: string): { pool: number; account: number } {
    return this.local.marks(pool, account);
  }

  private write(field: string, now: number): void {
    void Promise.resolve(this.options.client.hset(this.key, field, String(now))).catch((error: unknown) => this.warn('write', error));
  }

  /** Applies the marks every replica wrote (the latest of each wins, as a flush only ever moves forward). */
  async refresh(): Promise<void> {
    try {
      const kept = await this.options.client.hgetall(this.key);
      const now = this.options.clock();
      for (const [field, text] of Object.entries(kept)) {
        const mark = Number(text);
        if (!Number.isFinite(mark) || mark <= 0 || mark > now) continue;
        const separator = field.indexOf(':');
        const kind = field.slice(0, separator);
        const name = field.slice(separator + 1);
        if (kind === 'pool' && this.options.pools.has(name)) this.local.flushPool(name, mark);
        else if (kind === 'account' && this.options.accounts.has(name)) this.local.flushAccount(name, mark);
      }
    } catch (error) {
      this.warn('refresh', error);
    }
  }

  private warn(operation: string, error: unknown): void {
    this.options.logger.debug({ operation, reason: error instanceof Error ? error.name : 'unknown' }, 'shared flush marks unavailable');
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await quitOrDisconnect(this.options.client);
  }
}
