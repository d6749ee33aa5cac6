import { buildAccountDirectory } from '../accounts/account.js';
import { Balancer, type BalanceState } from '../balance/balancer.js';
import type { Config } from '../config/schema.js';
import { mergeRules, PROFILE_RULES, type ProfileRules } from '../rewrite/profiles.js';
import type { ProcessorContext } from './context.js';

/**
 * The edges a context is built around: the same across config generations. Balancing's
 * state (performance averages, move budgets, the operator's flush marks) is one of them;
 * its policies follow from each configuration.
 */
export type ContextEdges = Omit<ProcessorContext, 'config' | 'directory' | 'inferencePaths' | 'rewriteRules' | 'balance'> & {
  readonly balanceState: BalanceState;
};

/** One configuration's context: what follows from the config (accounts, pools, paths, rewrite rules, balance policies) around the given edges. */
export function createProcessorContext(config: Config, edges: ContextEdges): ProcessorContext {
  const { balanceState, ...shared } = edges;
  return {
    ...shared,
    config,
    directory: buildAccountDirectory(config),
    inferencePaths: new Set(config.routing.inferencePaths),
    rewriteRules: new Map<string, ProfileRules>(config.accounts.map((account) => [account.name, mergeRules(PROFILE_RULES[account.profile], account.rewrite)])),
    balance: new Balancer(config, edges.metrics, edges.logger, balanceState),
  };
}
