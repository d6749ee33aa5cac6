import type { AccountDirectory } from '../accounts/account.js';
import type { AccountState } from '../accounts/health.js';
import type { OperatorView } from '../accounts/operator-state.js';
import type { Balancer } from '../balance/balancer.js';
import type { BindingStore } from '../bindings/store.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../logging/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { TieBreaker } from '../routing/select.js';
import type { CredentialStore } from '../credentials/credentials.js';
import type { ProfileRules } from '../rewrite/profiles.js';
import type { BodyWorkerPool } from '../body/body-worker-pool.js';

/** What every request's processor shares: configuration, state and the edges. */
export interface ProcessorContext {
  readonly config: Config;
  readonly directory: AccountDirectory;
  readonly accountState: AccountState;
  /** Drains and flushes an operator asked for (admin API). */
  readonly operatorState: OperatorView;
  readonly store: BindingStore;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly tieBreaker: TieBreaker;
  readonly clock: () => number;
  readonly inferencePaths: ReadonlySet<string>;
  readonly credentials: CredentialStore;
  /** Each account's rewrite rules: its profile's, merged with its overrides. */
  readonly rewriteRules: ReadonlyMap<string, ProfileRules>;
  /** Balancing: policies per pool, performance averages, move budgets, operator flushes. */
  readonly balance: Balancer;
  /** Monotonic milliseconds for latency measurement (not the wall clock decisions read). */
  readonly elapsed: () => number;
  /** Where large request bodies are decoded and scanned, off the event loop (absent: always here). */
  readonly bodyWorkers?: BodyWorkerPool;
}
