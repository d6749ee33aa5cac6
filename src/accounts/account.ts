import type { Config, Profile } from '../config/schema.js';
import { poolTenancies, type PoolTenancy, type TenancySettings } from '../config/tenancy.js';

/** One upstream credential; maps to exactly one Envoy cluster. */
export interface Account {
  readonly name: string;
  readonly cluster: string;
  readonly profile: Profile;
  readonly weight: number;
  /** Accounts that can read each other's state (one organisation / workspace). */
  readonly domain: string;
}

/** The accounts that serve one group of clients. */
export interface Pool {
  readonly name: string;
  readonly accounts: readonly Account[];
  readonly tenancy: PoolTenancy;
}

export const DEFAULT_POOL = 'default';

export interface AccountDirectory {
  readonly accounts: ReadonlyMap<string, Account>;
  readonly pools: ReadonlyMap<string, Pool>;
}

export function buildAccountDirectory(config: Pick<Config, 'accounts' | 'pools'> & { tenancy?: TenancySettings | undefined }): AccountDirectory {
  const tenancies = poolTenancies(config, DEFAULT_POOL);
  const tenancyOf = (name: string): PoolTenancy => tenancies.get(name)!;
  const accounts = new Map<string, Account>();
  for (const entry of config.accounts) {
    accounts.set(entry.name, {
      name: entry.name,
      cluster: entry.cluster,
      profile: entry.profile,
      weight: entry.weight,
      domain: entry.domain ?? `account:${entry.name}`,
    });
  }
  const pools = new Map<string, Pool>();
  if (config.pools && config.pools.length > 0) {
    for (const pool of config.pools) {
      pools.set(pool.name, { name: pool.name, accounts: pool.accounts.map((name) => accounts.get(name)!), tenancy: tenancyOf(pool.name) });
    }
  }
  if (!pools.has(DEFAULT_POOL) && !(config.pools && config.pools.length > 0)) {
    pools.set(DEFAULT_POOL, { name: DEFAULT_POOL, accounts: [...accounts.values()], tenancy: tenancyOf(DEFAULT_POOL) });
  }
  return { accounts, pools };
}
