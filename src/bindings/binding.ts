import { createHash } from 'node:crypto';

export type Strength = 'hard' | 'soft' | 'none';

/** What a stored key points at. */
export type BindingKind =
  /** sticky key (session, thread, prompt cache key, content seed, ...) → account */
  | 'session'
  /** response id → account that produced it */
  | 'response'
  /** x-codex-turn-state token → account that issued it */
  | 'turn_state'
  /** reasoning item id → account that produced it */
  | 'item';

export interface Binding {
  readonly account: string;
  readonly domain: string;
  readonly strength: Strength;
  readonly createdAt: number;
  readonly lastSeenAt: number;
}

export interface BindingScope {
  readonly pool: string;
  readonly principal: string;
}

/**
 * The store key for a raw client value. Pool, principal and kind are hashed in
 * with the value, so a tenant can never address another tenant's binding and a
 * client value can never collide with an internal key of another kind; the raw
 * value (a session id, a token) never reaches the store.
 */
export function bindingKey(scope: BindingScope, kind: BindingKind, rawValue: string): string {
  const digest = createHash('sha256')
    .update(scope.pool)
    .update('\u0000')
    .update(scope.principal)
    .update('\u0000')
    .update(kind)
    .update('\u0000')
    .update(rawValue)
    .digest('base64url')
    .slice(0, 32);
  return `${kind}:${digest}`;
}
