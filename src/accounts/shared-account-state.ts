import { randomUUID } from 'node:crypto';
import { openSharedChannel, type SharedChannel } from '../redis/shared-channel.js';
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from '../logging/logger.js';
import type { AccountHealthView, AccountState, AccountStateTable, HealthPolicy } from './health.js';

/**
 * What replicas tell each other: account names and times only, never a client value.
 * `at` is the sender's clock when it sent: a receiver turns `until` into a wait from
 * its own clock, so a replica whose clock is off does not shift the others'.
 */
type StateEvent =
  | { readonly kind: 'cooldown'; readonly account: string; readonly until: number; readonly at: number }
  | { readonly kind: 'credential_failed'; readonly account: string; readonly until: number; readonly at: number }
  /** a success after a credential failure: the account works again */
  | { readonly kind: 'credential_ok'; readonly account: string; readonly at: number }
  | { readonly kind: 'usage'; readonly account: string; readonly percent: number; readonly at: number; readonly resetsAt?: number }
  /** an operator reset the account: its cooldown and credential failure end */
  | { readonly kind: 'reset'; readonly account: string; readonly at: number };

/** No upstream names a longer wait (weekly usage windows); anything longer is not believed. */
const LONGEST_WAIT_MILLISECONDS = 8 * 24 * 3600_000;
/** Kept state older than this is not applied and is removed (it was long decided). */
const KEPT_STATE_LIFETIME_MILLISECONDS = LONGEST_WAIT_MILLISECONDS;

const USAGE_SHARE_INTERVAL = 5000;
/** A kept reset is applied by a replica that missed its message only this soon after it. */
const RESET_KEPT_MILLISECONDS = 5000;

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
  /** The configured accounts: state about any other name is ignored. */
  readonly accounts: ReadonlySet<string>;
  readonly clock: () => number;
}

const finite = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

function isEvent(value: unknown): value is StateEvent {
  if (value === null || typeof value !== 'object') return false;
  const event = value as Record<string, unknown>;
  if (typeof event.account !== 'string' || !finite(event.at)) return false;
  if (event.kind === 'cooldown' || event.kind === 'credential_failed') return finite(event.until);
  if (event.kind === 'credential_ok' || event.kind === 'reset') return true;
  return event.kind === 'usage' && finite(event.percent) && event.percent >= 0 && event.percent <= 100 && (event.resetsAt === undefined || finite(event.resetsAt));
}

/** One hash field per account and kind of state: the latest word wins. */
function fieldOf(event: StateEvent): string {
  // A reset takes the cooldown's field: the kept cooldown it ended is not applied again.
  const topic = event.kind === 'credential_ok' ? 'credential_failed' : event.kind === 'reset' ? 'cooldown' : event.kind;
  return `${topic}:${event.account}`;
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
  private readonly connection: SharedChannel;
  private readonly lastShared = new Map<string, { percent: number; at: number }>();

  constructor(
    private readonly local: AccountStateTable,
    private readonly options: SharedAccountStateOptions,
  ) {
    // One hash tag: the channel's companion key lives in one Cluster slot.
    this.channel = `${options.keyPrefix}:{accounts}:events`;
    this.stateKey = `${options.keyPrefix}:{accounts}:state`;
    this.connection = openSharedChannel({
      ...options,
      channel: this.channel,
      receive: (text) => this.receive(text),
      refresh: () => this.refresh(),
      warn: (operation, error) => this.warn(operation, error),
    });
  }

  get healthPolicy(): HealthPolicy {
    return this.local.healthPolicy;
  }

  private warn(operation: string, error: unknown): void {
    this.options.logger.debug({ operation, reason: error instanceof Error ? error.name : 'unknown' }, 'shared account state unavailable');
  }

  /**
   * Applies what another replica saw, within bounds: configured accounts only, waits
   * no longer than any upstream names, times on this replica's clock.
   */
  private apply(event: StateEvent, source: 'message' | 'kept'): void {
    if (!this.options.accounts.has(event.account)) return;
    const now = this.options.clock();
    if (now - event.at > KEPT_STATE_LIFETIME_MILLISECONDS) return;
    // A message is fresh: its wait counts from now on this clock. Kept state may be old:
    // its end is taken as written (replicas' clocks are assumed in sync), never further
    // than the longest wait.
    const until = (sentUntil: number) =>
      source === 'message' ? now + Math.min(Math.max(0, sentUntil - event.at), LONGEST_WAIT_MILLISECONDS) : Math.min(sentUntil, now + LONGEST_WAIT_MILLISECONDS);
    if (event.kind === 'cooldown') this.local.coolDown(event.account, until(event.until));
    else if (event.kind === 'credential_failed') this.local.recordCredentialFailure(event.account, until(event.until), now);
    else if (event.kind === 'credential_ok') this.local.clearCredentialFailure(event.account);
    // Kept, a reset says only that the cooldown kept before it is over; fresh, it ends what is in force now.
    else if (event.kind === 'reset') {
      if (source === 'message' || now - event.at < RESET_KEPT_MILLISECONDS) this.local.reset(event.account);
    }
    else this.local.recordUsageIfNewer(event.account, event.percent, Math.min(event.at, now), event.resetsAt === undefined ? undefined : until(event.resetsAt));
  }

  private receive(text: string): void {
    try {
      const message = JSON.parse(text) as Message;
      if (message.from !== this.replica && isEvent(message.event)) this.apply(message.event, 'message');
    } catch {
      // Not ours: ignored.
    }
  }

  private publish(event: StateEvent): void {
    const message = JSON.stringify({ from: this.replica, event } satisfies Message);
    const client = this.options.client;
    void Promise.all([client.publish(this.channel, message), client.hset(this.stateKey, fieldOf(event), JSON.stringify(event))]).catch((error: unknown) => this.warn('publish', error));
  }

  /** Reads the state every replica kept: what a missed message said. */
  async refresh(): Promise<void> {
    try {
      const kept = await this.options.client.hgetall(this.stateKey);
      const now = this.options.clock();
      const stale: string[] = [];
      for (const [field, text] of Object.entries(kept)) {
        let event: unknown;
        try {
          event = JSON.parse(text);
        } catch {
          event = undefined;
        }
        // What is not ours, or long decided, is removed: the hash stays small.
        if (!isEvent(event) || now - event.at > KEPT_STATE_LIFETIME_MILLISECONDS) stale.push(field);
        else this.apply(event, 'kept');
      }
      if (stale.length > 0) await this.options.client.hdel(this.stateKey, ...stale);
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
    if (inForce > before) this.publish({ kind: 'cooldown', account, until: inForce, at: this.options.clock() });
    return inForce;
  }

  recordFailure(account: string, now: number): void {
    this.local.recordFailure(account, now);
  }

  recordCredentialFailure(account: string, until: number, now: number): boolean {
    const news = this.local.recordCredentialFailure(account, until, now);
    if (news) this.publish({ kind: 'credential_failed', account, until, at: now });
    return news;
  }

  recordBudget(account: string, usedPercent: number, now: number, resetsAt?: number): void {
    this.local.recordBudget(account, usedPercent, now, resetsAt);
  }

  recordUsage(account: string, usedPercent: number, now: number, resetsAt?: number): void {
    this.local.recordUsage(account, usedPercent, now, resetsAt);
    // Every response carries a reading: share a change of a point or more, else one every few seconds.
    const last = this.lastShared.get(account);
    if (last && Math.abs(last.percent - usedPercent) < 1 && now - last.at < USAGE_SHARE_INTERVAL) return;
    this.lastShared.set(account, { percent: usedPercent, at: now });
    this.publish({ kind: 'usage', account, percent: usedPercent, at: now, ...(resetsAt !== undefined ? { resetsAt } : {}) });
  }

  recordSuccess(account: string): void {
    // A success after a credential failure is news for the other replicas too.
    const failed = this.local.view(account, this.options.clock()).credentialFailedUntil > 0;
    this.local.recordSuccess(account);
    if (failed) this.publish({ kind: 'credential_ok', account, at: this.options.clock() });
  }

  reset(account: string): void {
    this.local.reset(account);
    const at = this.options.clock();
    this.publish({ kind: 'reset', account, at });
    // Overwrites the kept credential failure, which a refresh would apply again.
    this.publish({ kind: 'credential_ok', account, at });
  }

  async close(): Promise<void> {
    await this.connection.close();
  }
}

