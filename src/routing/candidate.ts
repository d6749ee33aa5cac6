import type { Account } from '../accounts/account.js';
import type { AccountHealthView } from '../accounts/health.js';

/** An account of the pool as a decision sees it: its health, and whether an operator drained it. */
export interface Candidate {
  readonly account: Account;
  readonly health: AccountHealthView;
  /** An operator drained it (accounts/operator-state.ts): no new sessions, soft ones move away. */
  readonly drained?: boolean;
}
