import type { BalanceOverride, BalanceSettings } from '../config/balance-schema.js';
import type { Config } from '../config/schema.js';
import { DEFAULT_POOL } from '../accounts/account.js';

/** One pool's balance settings, top-level values with the pool's own overrides merged in. */
export type BalancePolicy = Readonly<BalanceSettings>;

function merge(base: BalanceSettings, override: BalanceOverride | undefined): BalancePolicy {
  if (!override) return base;
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) if (value !== undefined) merged[key] = value;
  return merged as BalancePolicy;
}

/** Each configured pool's policy; the implicit default pool takes the top-level settings. */
export function balancePolicies(config: Pick<Config, 'balance' | 'pools'>): ReadonlyMap<string, BalancePolicy> {
  const policies = new Map<string, BalancePolicy>();
  for (const pool of config.pools ?? []) policies.set(pool.name, merge(config.balance, pool.balance));
  if (!policies.has(DEFAULT_POOL)) policies.set(DEFAULT_POOL, config.balance);
  return policies;
}

/** How long a session's prompt cache lives after its last turn, as this request asks. */
export function cacheLifetime(policy: BalancePolicy, extendedRetention: boolean): number {
  return extendedRetention ? Math.max(policy.extendedCacheLifetime, policy.cacheLifetime) : policy.cacheLifetime;
}

/**
 * How stale a session's last-seen time may be: it is refreshed at most this
 * often (one write per interval per live session, not one per turn).
 */
export function touchInterval(lifetime: number): number {
  return Math.min(60_000, Math.max(1000, Math.floor(lifetime / 10)));
}

/**
 * Idle past this, the cache is certainly gone: the recorded last-seen time can
 * lag the real last turn by up to one touch interval, so that is added.
 */
export function idleThreshold(lifetime: number): number {
  return lifetime + touchInterval(lifetime);
}
