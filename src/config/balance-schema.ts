import { z } from 'zod';
import { duration } from './duration.js';

const stickiness = z.enum(['on', 'soft-off']);

/**
 * How a pool balances soft affinity. Defaults follow what OpenAI documents of
 * its prompt cache: cleared after 5-10 minutes idle, always within an hour;
 * kept up to 24 hours when a request asks for `prompt_cache_retention: "24h"`.
 */
export const balanceSchema = z.strictObject({
  /** `on`: soft sessions stay while nothing says move. `soft-off`: soft requests are spread freely; hard ones stay pinned. */
  stickiness: stickiness.default('on'),
  /** A session idle longer than this has lost its prompt cache: its next turn is re-chosen. */
  cacheLifetime: duration.prefault('10m'),
  /** The same for requests that ask for `prompt_cache_retention: "24h"`. */
  extendedCacheLifetime: duration.prefault('24h'),
  /** An account this many usage-window points above the pool's mean is far above it: its warm soft sessions may move. */
  usageGapPercent: z.number().gt(0).max(100).default(20),
  /** Usage moves allowed off one account per minute (per replica); 0 turns usage moves off. */
  movesPerMinute: z.number().min(0).max(10_000).default(6),
  /** A session moved (or placed) less than this ago is not moved again for usage: no thrashing. */
  minimumDwell: duration.prefault('5m'),
  /** An account whose time to first event (or to headers) is this much above the pool's fastest is slow: its soft sessions leave. */
  slowerBy: duration.prefault('1s'),
  /** An account whose decaying server-error rate is at or above this has its soft sessions leave. */
  errorRate: z.number().gt(0).max(1).default(0.5),
  /** Half-life of the decaying latency and error averages (top level only: an account's measurements serve every pool it is in). */
  performanceHalfLife: duration.prefault('2m'),
  /** Samples (decayed; at most 5 are remembered) an account needs before it can be judged slow or failing. */
  minimumSamples: z.number().min(1).max(5).default(2),
  /**
   * Opt-in: an idle Codex session (encrypted content only) whose whole domain is far
   * above the pool is healed onto another domain: its unreadable reasoning dropped,
   * the client told in `x-codex-affinity-healed`. Off: encrypted content never leaves its domain.
   */
  crossDomainHealing: z.boolean().default(false),
});

/** A pool's own balance settings: any of the keys above but performanceHalfLife, merged over the top-level ones. */
export const balanceOverrideSchema = z.strictObject({
  stickiness: stickiness.optional(),
  cacheLifetime: duration.optional(),
  extendedCacheLifetime: duration.optional(),
  usageGapPercent: z.number().gt(0).max(100).optional(),
  movesPerMinute: z.number().min(0).max(10_000).optional(),
  minimumDwell: duration.optional(),
  slowerBy: duration.optional(),
  errorRate: z.number().gt(0).max(1).optional(),
  minimumSamples: z.number().min(1).max(5).optional(),
  crossDomainHealing: z.boolean().optional(),
});

export type BalanceSettings = z.output<typeof balanceSchema>;
export type BalanceOverride = z.output<typeof balanceOverrideSchema>;
