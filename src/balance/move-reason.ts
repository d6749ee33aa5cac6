/** Why a session left its account; in the decision, the debug log and `codex_affinity_moves_total{reason}`. */
export type MoveReason =
  /** idle past its prompt cache's lifetime: moving costs nothing */
  | 'idle'
  /** its account is far above the pool's usage */
  | 'usage'
  /** its account answers much slower than the pool's fastest */
  | 'latency'
  /** its account fails too often (5xx, stream errors, failure window) */
  | 'errors'
  /** the operator flushed the pool's or the account's soft bindings, or turned stickiness off */
  | 'operator'
  /** its account is cooling down (429, usage limit) or its credential failed */
  | 'cooldown';

export const MOVE_REASONS: readonly MoveReason[] = ['idle', 'usage', 'latency', 'errors', 'operator', 'cooldown'];

/**
 * How far a session may move, from the strictest state its request carries:
 * - `pool`: soft (a session key only): any account of the pool;
 * - `domain`: encrypted content and nothing stricter: any account of its domain;
 * - `pinned`: stored objects, a turn-state token, an account-bound transport: nowhere.
 */
export type Mobility = 'pool' | 'domain' | 'pinned';
