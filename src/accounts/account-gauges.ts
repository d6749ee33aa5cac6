import { Gauge } from 'prom-client';
import type { AccountStatus } from './account-status.js';
import type { Metrics } from '../metrics/metrics.js';

type AccountGauge = Gauge<'account'>;

/**
 * Account and pool state, read when Prometheus scrapes (no timer keeps them
 * fresh). `statuses` reads the configuration in force, so a reload's accounts
 * appear and removed ones disappear at the next scrape.
 */
export function registerAccountGauges(metrics: Metrics, statuses: () => readonly AccountStatus[]): void {
  const registers = [metrics.registry];
  const prefix = 'codex_affinity_';
  const perAccount = (name: string, help: string, value: (status: AccountStatus) => number): AccountGauge => {
    const gauge: AccountGauge = new Gauge({
      name: `${prefix}${name}`,
      help,
      labelNames: ['account'],
      registers,
      collect() {
        gauge.reset();
        for (const status of statuses()) gauge.set({ account: status.account }, value(status));
      },
    });
    return gauge;
  };
  perAccount('account_cooldown_seconds', 'Seconds left of the account\'s cooldown (429, usage limit, operator), 0 when none.', (status) => status.cooldownSecondsLeft);
  perAccount('account_usage_percent', 'Latest usage-window percent the upstream reported for the account (0 when unknown or stale).', (status) => status.usedPercent);
  perAccount('account_credential_failed', '1 while the account\'s credential is failing (401/403), 0 otherwise.', (status) => (status.credentialFailed ? 1 : 0));
  perAccount('account_recent_failures', '5xx and resets in the health window.', (status) => status.recentFailures);
  perAccount('account_usable', '1 when the account takes new sessions (not cooling, failing or drained).', (status) => (status.usable ? 1 : 0));
  perAccount('account_drained', '1 while an operator has drained the account.', (status) => (status.drained ? 1 : 0));
  // This replica's count, the one placement reads: requests routed to the account and not finished.
  perAccount('in_flight_requests', 'Routed requests not finished, by account.', (status) => status.inFlight);
  const info: Gauge<'account' | 'domain' | 'profile' | 'state'> = new Gauge({
    name: `${prefix}account_info`,
    help: 'Always 1: the account\'s domain, profile and state as labels.',
    labelNames: ['account', 'domain', 'profile', 'state'],
    registers,
    collect() {
      info.reset();
      for (const status of statuses()) info.set({ account: status.account, domain: status.domain, profile: status.profile, state: status.state }, 1);
    },
  });
  const poolGauge = (name: string, help: string, count: (members: readonly AccountStatus[]) => number): void => {
    const gauge: Gauge<'pool'> = new Gauge({
      name: `${prefix}${name}`,
      help,
      labelNames: ['pool'],
      registers,
      collect() {
        gauge.reset();
        const byPool = new Map<string, AccountStatus[]>();
        for (const status of statuses()) for (const pool of status.pools) byPool.set(pool, [...(byPool.get(pool) ?? []), status]);
        for (const [pool, members] of byPool) gauge.set({ pool }, count(members));
      },
    });
  };
  poolGauge('pool_accounts', 'Accounts configured in the pool.', (members) => members.length);
  poolGauge('pool_usable_accounts', 'Accounts of the pool that take new sessions now.', (members) => members.filter((status) => status.usable).length);
  poolGauge('pool_cooling_accounts', 'Accounts of the pool cooling down now.', (members) => members.filter((status) => status.cooldownSecondsLeft > 0).length);
}
