import { randomUUID } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from '../logging/logger.js';
import type { AccountHealthView, AccountState, AccountStateTable, HealthPolicy } from './health.js';

/** What replicas tell each other: account names and times only, never a client value. */
type StateEvent =
  | { readonly kind: 'cooldown'; readonly account: string; readonly until: number }
  | { readonly kind: 'credential_failed'; readonly account: string; readonly until: number }
  | { readonly kind: 'usage'; readonly account: string; readonly percent: number; readonly at: number };

const USAGE_SHARE_INTERVAL = 5000;

interface Message {
  readonly from: string;
  readonly event: StateEvent;
}

export interface SharedAccountStateOptions {
  /** Publishes and keeps the latest state per account. */
  readonly client: Redis | Cluster;
  /** A second connection in subscriber mode. */
  readonly subscriber: Redis | Cluster;
  readonly keyPrefix: string;
  /** How often the kept state is read back, for replicas that missed a message. */
  readonly refreshMilliseconds: number;
  readonly logger: Logger;
}

function isEvent(value: unknown): value is StateEvent {
  if (value === null || typeof value !== 'object') return false;
  const event = value as Record<string, unknown>;
  if (typeof event.account !== 'string') return false;
  if (event.kind === 'cooldown' || event.kind === 'credential_failed') return typeof event.until === 'number';
  return event.kind === 'usage' && typeof event.percent === 'number' && typeof event.at === 'number';
}

/**
 * Account state shared between replicas: cooldowns, credential failures and
 * usage readings seen by one replica reach the others through pub/sub at once,
 * and through a periodic read of the last state kept per account (a hash)
 * when a message was missed. In-flight counts and 5xx windows stay per replica.
 * Every call answers from this replica's table; sharing is best effort and
 * never delays a request.
 */
export class SharedAccountState implements AccountState {
  private readonly replica = randomUUID();
  private readonly channel: string;
  private readonly stateKey: string;
  private readonly timer: NodeJS.Timeout;
  private readonly lastShared = new Map<string, { percent: number; at: number }>();

  constructor(
    private readonly local: AccountStateTable,
    private readonly options: SharedAccountStateOptions,
  ) {
    // One hash tag: the channel's companion key lives in one Cluster slot.
    this.channel = `${options.keyPrefix}:{accounts}:events`;
    this.stateKey = `${options.keyPrefix}:{accounts}:state`;
    options.subscriber.on('message', (channel: string, text: string) => {
      if (channel === this.channel) this.receive(text);
    });
    // Commands wait for no connection (no offline queue): subscribe once connected;
    // ioredis subscribes again by itself after a reconnect.
    const subscribe = () => void Promise.resolve(options.subscriber.subscribe(this.channel)).catch((error: unknown) => this.warn('subscribe', error));
    if (options.subscriber.status === 'ready') subscribe();
    else options.subscriber.once('ready', subscribe);
    options.client.on('ready', () => void this.refresh());
    this.timer = setInterval(() => void this.refresh(), options.refreshMilliseconds);
    this.timer.unref();
    void this.refresh();
  }

  get healthPolicy(): HealthPolicy {
    return this.local.healthPolicy;
  }

  private warn(operation: string, error: unknown): void {
    this.options.logger.debug({ operation, reason: error instanceof Error ? error.name : 'unknown' }, 'shared account state unavailable');
  }

  private apply(event: StateEvent): void {
    if (event.kind === 'cooldown') this.local.coolDown(event.account, event.until);
    else if (event.kind === 'credential_failed') this.local.recordCredentialFailure(event.account, event.until, 0);
    else this.local.recordUsageIfNewer(event.account, event.percent, event.at);
  }

  private receive(text: string): void {
    try {
      const message = JSON.parse(text) as Message;
      if (message.from !== this.replica && isEvent(message.event)) this.apply(message.event);
    } catch {
      // Not ours: ignored.
    }
  }

  private publish(event: StateEvent): void {
    const message = JSON.stringify({ from: this.replica, event } satisfies Message);
    const field = `${event.kind}:${event.account}`;
    const client = this.options.client;
    void Promise.all([client.publish(this.channel, message), client.hset(this.stateKey, field, JSON.stringify(event))]).catch((error: unknown) => this.warn('publish', error));
  }

  /** Reads the state every replica kept: what a missed message said. */
  async refresh(): Promise<void> {
    try {
      const kept = await this.options.client.hgetall(this.stateKey);
      for (const text of Object.values(kept)) {
        try {
          const event: unknown = JSON.parse(text);
          if (isEvent(event)) this.apply(event);
        } catch {
          // skip a value that is not ours
        }
      }
    } catch (error) {
      this.warn('refresh', error);
    }
  }

  view(account: string, now: number): AccountHealthView {
    return this.local.view(account, now);
  }

  requestStarted(account: string): void {
    this.local.requestStarted(account);
  }

  requestFinished(account: string): void {
    this.local.requestFinished(account);
  }

  coolDown(account: string, until: number): number {
    const before = this.local.cooldownUntil(account);
    const inForce = this.local.coolDown(account, until);
    if (inForce > before) this.publish({ kind: 'cooldown', account, until: inForce });
    return inForce;
  }

  refineCooldown(account: string, provisional: number, until: number): void {
    this.local.refineCooldown(account, provisional, until);
    this.publish({ kind: 'cooldown', account, until: this.local.cooldownUntil(account) });
  }

  recordFailure(account: string, now: number): void {
    this.local.recordFailure(account, now);
  }

  recordCredentialFailure(account: string, until: number, now: number): boolean {
    const news = this.local.recordCredentialFailure(account, until, now);
    if (news) this.publish({ kind: 'credential_failed', account, until });
    return news;
  }

  recordUsage(account: string, usedPercent: number, now: number): void {
    this.local.recordUsage(account, usedPercent, now);
    // Every response carries a reading: share a change of a point or more, else one every few seconds.
    const last = this.lastShared.get(account);
    if (last && Math.abs(last.percent - usedPercent) < 1 && now - last.at < USAGE_SHARE_INTERVAL) return;
    this.lastShared.set(account, { percent: usedPercent, at: now });
    this.publish({ kind: 'usage', account, percent: usedPercent, at: now });
  }

  recordSuccess(account: string): void {
    this.local.recordSuccess(account);
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all([this.options.subscriber.quit().catch(() => undefined), this.options.client.quit().catch(() => undefined)]);
  }
}
