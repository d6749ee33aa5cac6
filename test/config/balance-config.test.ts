import { describe, expect, it } from 'vitest';
import { balancePolicies } from '../../src/balance/policy.js';
import { ConfigError, parseConfig, parseConfigText } from '../../src/config/load.js';

const accounts = [
  { name: 'a', cluster: 'ca' },
  { name: 'b', cluster: 'cb' },
];

function problems(input: unknown): string[] {
  try {
    parseConfig(input);
    return [];
  } catch (error) {
    return (error as ConfigError).problems;
  }
}

describe('balance configuration', () => {
  it('defaults: stickiness on, 10 min cache, 24 h extended, no cross-domain healing', () => {
    const config = parseConfig({ accounts });
    expect(config.balance).toMatchObject({ stickiness: 'on', cacheLifetime: 600_000, extendedCacheLifetime: 86_400_000, crossDomainHealing: false, movesPerMinute: 6 });
  });

  it('YAML: `stickiness: on` and `soft-off` read as the words, durations as durations', () => {
    const config = parseConfigText('accounts: [{ name: a, cluster: ca }]\nbalance: { stickiness: on, cacheLifetime: 5m }\nrouting: { poolHeader: x-pool }\npools: [{ name: p, accounts: [a], balance: { stickiness: soft-off } }]\n');
    expect([config.balance.stickiness, config.balance.cacheLifetime, config.pools![0]!.balance!.stickiness]).toEqual(['on', 300_000, 'soft-off']);
  });

  it("a pool's own keys override the top-level ones; the rest are inherited; the implicit default pool takes the top level", () => {
    const config = parseConfig({
      accounts,
      balance: { cacheLifetime: '20m', movesPerMinute: 2 },
      routing: { poolHeader: 'x-pool' },
      pools: [
        { name: 'free', accounts: ['a', 'b'], balance: { stickiness: 'soft-off', movesPerMinute: 9 } },
        { name: 'plain', accounts: ['a'] },
      ],
    });
    const policies = balancePolicies(config);
    expect(policies.get('free')).toMatchObject({ stickiness: 'soft-off', movesPerMinute: 9, cacheLifetime: 1_200_000 });
    expect(policies.get('plain')).toMatchObject({ stickiness: 'on', movesPerMinute: 2 });
    expect(balancePolicies(parseConfig({ accounts, balance: { stickiness: 'soft-off' } })).get('default')!.stickiness).toBe('soft-off');
  });

  it('bad keys and values are named', () => {
    expect(problems({ accounts, balance: { stickyness: 'on' } }).join('\n')).toMatch(/balance\.stickyness: unknown key|balance: .*stickyness/);
    expect(problems({ accounts, balance: { stickiness: 'off' } }).join('\n')).toMatch(/balance\.stickiness/);
    expect(problems({ accounts, balance: { cacheLifetime: 'ten minutes' } }).join('\n')).toMatch(/balance\.cacheLifetime: not a duration/);
    expect(problems({ accounts, pools: [{ name: 'p', accounts: ['a'], balance: { errorRate: 2 } }] }).join('\n')).toMatch(/pools\[0\]\.balance\.errorRate/);
  });
});
