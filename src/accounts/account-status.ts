import type { AccountDirectory } from './account.js';
import { isCoolingDown, isUnhealthy, isUsable, type AccountHealthView, type HealthPolicy } from './health.js';

/** One account as operators see it (metrics, admin API): names and numbers, never a client value. */
export interface AccountStatus {
  readonly account: string;
  readonly cluster: string;
  readonly domain: string;
  readonly profile: string;
  readonly weight: number;
  readonly pools: readonly string[];
  readonly state: 'usable' | 'drained' | 'cooling_down' | 'credential_failed' | 'unhealthy';
  readonly usable: boolean;
  readonly drained: boolean;
  readonly cooldownSecondsLeft: number;
  readonly usedPercent: number;
  readonly credentialFailed: boolean;
  readonly recentFailures: number;
  readonly inFlight: number;
}

/** Pure: an account's status from its configuration, health view and operator state at `now`. */
export function accountStatuses(
  directory: AccountDirectory,
  view: (account: string) => AccountHealthView,
  drained: (account: string) => boolean,
  policy: HealthPolicy,
  now: number,
): AccountStatus[] {
  const poolsOf = new Map<string, string[]>();
  for (const pool of directory.pools.values()) {
    for (const account of pool.accounts) poolsOf.set(account.name, [...(poolsOf.get(account.name) ?? []), pool.name]);
  }
  return [...directory.accounts.values()].map((account) => {
    const health = view(account.name);
    const isDrained = drained(account.name);
    const credentialFailed = health.credentialFailedUntil > now;
    const state: AccountStatus['state'] = isCoolingDown(health, now)
      ? 'cooling_down'
      : credentialFailed
        ? 'credential_failed'
        : isUnhealthy(health, policy, now)
          ? 'unhealthy'
          : isDrained
            ? 'drained'
            : 'usable';
    return {
      account: account.name,
      cluster: account.cluster,
      domain: account.domain,
      profile: account.profile,
      weight: account.weight,
      pools: poolsOf.get(account.name) ?? [],
      state,
      usable: isUsable(health, policy, now) && !isDrained,
      drained: isDrained,
      cooldownSecondsLeft: Math.max(0, (health.coolingDownUntil - now) / 1000),
      usedPercent: health.usedPercent,
      credentialFailed,
      recentFailures: health.recentFailures,
      inFlight: health.inFlight,
    };
  });
}
