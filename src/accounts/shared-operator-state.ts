import type { Cluster, Redis } from 'ioredis';
import { openSharedChannel, type SharedChannel } from '../redis/shared-channel.js';
import type { Logger } from '../logging/logger.js';
import type { Binding } from '../bindings/binding.js';
import type { OperatorControl, OperatorState } from './operator-state.js';

/** What replicas tell each other about operator actions: names and times, never a client value. */
type OperatorEvent =
  | { readonly kind: 'drain' | 'undrain'; readonly account: string; readonly at: number }
  | { readonly kind: 'flush_account'; readonly account: string; readonly at: number }
  | { readonly kind: 'flush_pool'; readonly pool: string; readonly at: number };

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

function isEvent(value: unknown): value is OperatorEvent {
  if (value === null || typeof value !== 'object') return false;
  const event = value as Record<string, unknown>;
  if (typeof event.at !== 'number' || !Number.isFinite(event.at)) return false;
  if (event.kind === 'flush_pool') return typeof event.pool === 'string' && NAME.test(event.pool);
  return ['drain', 'undrain', 'flush_account'].includes(event.kind as string) && typeof event.account === 'string' && NAME.test(event.account);
}

/** One hash field per account or pool and kind: the latest word wins (a drain and an undrain share one). */
function fieldOf(event: OperatorEvent): string {
  if (event.kind === 'flush_pool') return `flush_pool:${event.pool}`;
  return `${event.kind === 'flush_account' ? 'flush_account' : 'drain'}:${event.account}`;
}

export interface SharedOperatorStateOptions {
  readonly client: Redis | Cluster;
  readonly subscriber: Redis | Cluster;
  readonly keyPrefix: string;
  readonly refreshMilliseconds: number;
  readonly logger: Logger;
  /** The configured accounts (kept up to date by reloads): events about other names are ignored. */
  readonly accounts: ReadonlySet<string>;
  /** Flush marks later than this clock's now are applied only once it has passed (default Date.now). */
  readonly clock?: () => number;
}

/**
 * Drains and flushes shared by every replica on one Redis: an admin call on one replica
 * reaches the others at once through pub/sub, and through the state kept per account
 * and pool (a hash, read back periodically) when a message was missed or a replica
 * starts later. Routing reads this replica's copy only: sharing never delays a request.
 */
export class SharedOperatorState implements OperatorControl {
  private readonly channel: string;
  private readonly stateKey: string;
  private readonly connection: SharedChannel;

  constructor(
    private readonly local: OperatorState,
    private readonly options: SharedOperatorStateOptions,
  ) {
    this.channel = `${options.keyPrefix}:{operator}:events`;
    this.stateKey = `${options.keyPrefix}:{operator}:state`;
    this.connection = openSharedChannel({
      ...options,
      channel: this.channel,
      receive: (text) => this.receive(text),
      refresh: () => this.refresh(),
      warn: (operation, error) => this.warn(operation, error),
    });
  }

  private warn(operation: string, error: unknown): void {
    this.options.logger.debug({ operation, reason: error instanceof Error ? error.name : 'unknown' }, 'shared operator state unavailable');
  }

  private apply(event: OperatorEvent): void {
    // A mark ahead of this replica's now (clock skew, or anything that can write to Redis)
    // waits until it has passed: applied early, it would flush every binding made before
    // it, again and again. The kept state brings it back at a later refresh.
    if ((event.kind === 'flush_pool' || event.kind === 'flush_account') && event.at > (this.options.clock ?? Date.now)()) return;
    if (event.kind === 'flush_pool') {
      this.local.flushPool(event.pool, event.at);
      return;
    }
    if (!this.options.accounts.has(event.account)) return;
    if (event.kind === 'drain') this.local.drain(event.account);
    else if (event.kind === 'undrain') this.local.undrain(event.account);
    else this.local.flushAccount(event.account, event.at);
  }

  private receive(text: string): void {
    try {
      const event: unknown = JSON.parse(text);
      if (isEvent(event)) this.apply(event);
    } catch {
      // Not ours: ignored.
    }
  }

  private publish(event: OperatorEvent): void {
    const text = JSON.stringify(event);
    const client = this.options.client;
    void Promise.all([client.hset(this.stateKey, fieldOf(event), text), client.publish(this.channel, text)]).catch((error: unknown) => this.warn('publish', error));
  }

  /** Reads what every replica kept: what a missed message said. */
  async refresh(): Promise<void> {
    try {
      const kept = await this.options.client.hgetall(this.stateKey);
      for (const text of Object.values(kept)) this.receive(text);
    } catch (error) {
      this.warn('refresh', error);
    }
  }

  isDrained(account: string): boolean {
    return this.local.isDrained(account);
  }

  isFlushed(binding: Binding, pool: string): boolean {
    return this.local.isFlushed(binding, pool);
  }

  marks(pool: string, account: string): { pool: number; account: number } {
    return this.local.marks(pool, account);
  }

  drainedAccounts(): string[] {
    return this.local.drainedAccounts();
  }

  drain(account: string): boolean {
    const changed = this.local.drain(account);
    this.publish({ kind: 'drain', account, at: Date.now() });
    return changed;
  }

  undrain(account: string): boolean {
    const changed = this.local.undrain(account);
    this.publish({ kind: 'undrain', account, at: Date.now() });
    return changed;
  }

  flushAccount(account: string, now: number): void {
    this.local.flushAccount(account, now);
    this.publish({ kind: 'flush_account', account, at: now });
  }

  flushPool(pool: string, now: number): void {
    this.local.flushPool(pool, now);
    this.publish({ kind: 'flush_pool', pool, at: now });
  }

  retainAccounts(configured: ReadonlySet<string>): void {
    this.local.retainAccounts(configured);
  }

  async close(): Promise<void> {
    await this.connection.close();
  }
}
