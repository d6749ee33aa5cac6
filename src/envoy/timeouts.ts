import type { Config } from '../config/schema.js';
import { MINIMUM_MESSAGE_TIMEOUT_MILLISECONDS, PROCESSING_BUDGET_MILLISECONDS, STORE_CALLS_PER_MESSAGE, messageTimeoutFloor } from '../config/message-timeout.js';

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
