import { buildAccountDirectory } from '../accounts/account.js';
import type { Config } from '../config/schema.js';
import { mergeRules, PROFILE_RULES, type ProfileRules } from '../rewrite/profiles.js';
import type { ProcessorContext } from './context.js';

/** The edges a context is built around: the same across config generations. */
export type ContextEdges = Omit<ProcessorContext, 'config' | 'directory' | 'inferencePaths' | 'rewriteRules'>;

/** One configuration's context: what follows from the config (accounts, pools, paths, rewrite rules) around the given edges. */
export function createProcessorContext(config: Config, edges: ContextEdges): ProcessorContext {
  return {
    ...edges,
    config,
    directory: buildAccountDirectory(config),
    inferencePaths: new Set(config.routing.inferencePaths),
    rewriteRules: new Map<string, ProfileRules>(config.accounts.map((account) => [account.name, mergeRules(PROFILE_RULES[account.profile], account.rewrite)])),
  };
}
