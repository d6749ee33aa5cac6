import { isDeepStrictEqual } from 'node:util';
import type { Config } from './schema.js';

/**
 * Sections a running processor cannot change: listeners, the binding store and its
 * TTLs, account health policy, the admin token's file and reload itself. Everything
 * else (accounts, pools, routing, rewrites, healing, limits, responses, logging,
 * shutdown) applies to new streams at once.
 */
export const RESTART_SECTIONS = ['grpc', 'http', 'store', 'bindings', 'health', 'admin', 'reload'] as const satisfies ReadonlyArray<keyof Config>;

/** Pure: why `next` cannot replace `current` without a restart (empty: it can). */
export function reloadProblems(current: Config, next: Config): string[] {
  return RESTART_SECTIONS.filter((section) => !isDeepStrictEqual(current[section], next[section])).map((section) => `${section}: changed, needs a restart`);
}
