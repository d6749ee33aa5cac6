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

export type TenancySettings = Partial<Omit<PoolTenancy, 'injectsCredentials'>>;

export function resolveTenancy(injectsCredentials: boolean, settings: TenancySettings, defaults: TenancySettings): PoolTenancy {
  return {
    injectsCredentials,
    anonymous: settings.anonymous ?? defaults.anonymous ?? (injectsCredentials ? 'refuse' : 'allow'),
    unknownStoredReferences: settings.unknownStoredReferences ?? defaults.unknownStoredReferences ?? (injectsCredentials ? 'refuse' : 'place'),
    websockets: settings.websockets ?? defaults.websockets ?? (injectsCredentials ? 'refuse' : 'allow'),
  };
}

interface TenancyConfig {
  readonly accounts: ReadonlyArray<{ readonly name: string; readonly credential?: unknown }>;
  readonly pools?: ReadonlyArray<{ readonly name: string; readonly accounts: readonly string[]; readonly tenancy?: TenancySettings | undefined }> | undefined;
  readonly tenancy?: TenancySettings | undefined;
}

/** Each pool's tenancy by name; without configured pools, the one default pool of every account. */
export function poolTenancies(config: TenancyConfig, defaultPool: string): Map<string, PoolTenancy> {
  const injecting = new Set(config.accounts.filter((entry) => entry.credential !== undefined).map((entry) => entry.name));
  const tenancyOf = (names: readonly string[], settings: TenancySettings = {}): PoolTenancy => resolveTenancy(names.some((name) => injecting.has(name)), settings, config.tenancy ?? {});
  const pools = config.pools && config.pools.length > 0 ? config.pools : [{ name: defaultPool, accounts: config.accounts.map((entry) => entry.name) }];
  return new Map(pools.map((pool) => [pool.name, tenancyOf(pool.accounts, 'tenancy' in pool ? pool.tenancy : undefined)]));
}
