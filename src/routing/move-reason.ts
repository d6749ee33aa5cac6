import { hasCapabilities, type CapabilityNeeds } from '../accounts/capabilities.js';
import { isCoolingDown, isUnhealthy } from '../accounts/health.js';
import type { MOVE_REASONS } from '../metrics/metrics.js';
import type { Candidate, SelectionContext } from './select.js';

export type MoveReason = (typeof MOVE_REASONS)[number];

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
