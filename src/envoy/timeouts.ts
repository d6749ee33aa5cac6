import type { Config } from '../config/schema.js';

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

export class EnvoyConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EnvoyConfigError';
  }
}

/**
 * ext_proc message_timeout: envoy.messageTimeout, else sized from the store's deadline. The
 * processor never extends a message (no override_message_timeout), so no max_message_timeout.
 */
export function messageTimeoutMilliseconds(config: Config): number {
  const floor = messageTimeoutFloor(config);
  const given = config.envoy.messageTimeout;
  if (given !== undefined) {
    if (given < floor) {
      throw new EnvoyConfigError(
        `envoy.messageTimeout: ${given}ms is shorter than ${floor}ms (${STORE_CALLS_PER_MESSAGE} store calls of store.deadline plus ${PROCESSING_BUDGET_MILLISECONDS}ms of processing): Envoy would answer 504 before the processor's own deadline`,
      );
    }
    return given;
  }
  return Math.max(MINIMUM_MESSAGE_TIMEOUT_MILLISECONDS, floor);
}

/** A protobuf Duration in its JSON form ("0.5s"). */
export function protoDuration(milliseconds: number): string {
  return `${milliseconds / 1000}s`;
}
