import { hasCapabilities, type CapabilityNeeds } from '../accounts/capabilities.js';
import { isCoolingDown, isUnhealthy } from '../accounts/health.js';
import type { MOVE_REASONS } from '../metrics/metrics.js';
import type { Candidate } from './candidate.js';
import type { SelectionContext } from './select.js';

/** Why a session left its account: one type for routing's and balancing's reasons (the decision, the debug log and `codex_affinity_binding_moves_total{reason}`). */
export type MoveReason = (typeof MOVE_REASONS)[number];

/**
 * How far balancing may move a session, from the strictest state its request carries:
 * - `pool`: soft (a session key only): any account of the pool;
 * - `domain`: encrypted content and nothing stricter: any account of its domain;
 * - `pinned`: stored objects, a turn-state token, an account-bound transport: nowhere.
 */
export type Mobility = 'pool' | 'domain' | 'pinned';

/**
 * Why a soft session left its account, strongest reason first: the account is
 * gone, an operator drained it, it cools down, its credential failed, it fails,
 * it cannot do what the request needs; otherwise placement preferred another
 * (an account with a capability the request would like). Pure.
 */
export function moveReason(previous: Candidate | undefined, context: SelectionContext, needs: CapabilityNeeds): MoveReason {
  if (!previous) return 'not_configured';
  if (previous.drained) return 'drained';
  if (isCoolingDown(previous.health, context.now)) return 'cooling_down';
  if (previous.health.credentialFailedUntil > context.now) return 'credential_failed';
  if (isUnhealthy(previous.health, context.policy, context.now)) return 'unhealthy';
  if (!hasCapabilities(previous.account.profile, needs.required)) return 'capability';
  return 'preference';
}
