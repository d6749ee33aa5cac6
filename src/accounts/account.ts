import type { Config, Profile } from '../config/schema.js';

/** One upstream credential; maps to exactly one Envoy cluster. */
export interface Account {
  readonly name: string;
  readonly cluster: string;
  readonly profile: Profile;
  readonly weight: number;
  /** Accounts that can read each other's state (one organisation / workspace). */
  readonly domain: string;
}

/**
 * Who may use a pool, resolved from the pool's settings, the top-level defaults
 * and whether the pool injects credentials (then a client borrows ours, so a
 * principal must be known and stored references are honoured for their owner only).
 */
export interface PoolTenancy {
  readonly injectsCredentials: boolean;
  readonly anonymous: 'refuse' | 'allow';
  readonly unknownStoredReferences: 'refuse' | 'place';
  readonly websockets: 'refuse' | 'allow';
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

type TenancySettings = Partial<Omit<PoolTenancy, 'injectsCredentials'>>;

export function resolveTenancy(injectsCredentials: boolean, settings: TenancySettings, defaults: TenancySettings): PoolTenancy {
  return {
    injectsCredentials,
    anonymous: settings.anonymous ?? defaults.anonymous ?? (injectsCredentials ? 'refuse' : 'allow'),
    unknownStoredReferences: settings.unknownStoredReferences ?? defaults.unknownStoredReferences ?? (injectsCredentials ? 'refuse' : 'place'),
    websockets: settings.websockets ?? defaults.websockets ?? (injectsCredentials ? 'refuse' : 'allow'),
  };
}

export function buildAccountDirectory(config: Pick<Config, 'accounts' | 'pools'> & { tenancy?: TenancySettings | undefined }): AccountDirectory {
  const injecting = new Set(config.accounts.filter((entry) => entry.credential !== undefined).map((entry) => entry.name));
  const tenancyOf = (names: readonly string[], settings: TenancySettings = {}): PoolTenancy =>
    resolveTenancy(names.some((name) => injecting.has(name)), settings, config.tenancy ?? {});
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
      pools.set(pool.name, { name: pool.name, accounts: pool.accounts.map((name) => accounts.get(name)!), tenancy: tenancyOf(pool.accounts, pool.tenancy) });
    }
  }
  if (!pools.has(DEFAULT_POOL) && !(config.pools && config.pools.length > 0)) {
    pools.set(DEFAULT_POOL, { name: DEFAULT_POOL, accounts: [...accounts.values()], tenancy: tenancyOf([...accounts.keys()]) });
  }
  return { accounts, pools };
}
