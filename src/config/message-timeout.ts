import type { Config } from './schema.js';

/** What one ext_proc message needs besides the store: Envoy serialising a body of 1 MB and more, parsing, rewriting. */
export const PROCESSING_BUDGET_MILLISECONDS = 300;
/** Store calls a request_body message may make one after another (look up, create, compare-and-set, exclusion). */
export const STORE_CALLS_PER_MESSAGE = 4;
/** Never below this: Envoy's 200 ms default turns a slow large turn into a 504. */
export const MINIMUM_MESSAGE_TIMEOUT_MILLISECONDS = 500;

/** The shortest ext_proc message_timeout the processor's store deadline allows. */
export function messageTimeoutFloor(config: Config): number {
  const storeTime = config.store.kind === 'redis' ? STORE_CALLS_PER_MESSAGE * config.store.deadline : 0;
  return storeTime + PROCESSING_BUDGET_MILLISECONDS;
}
