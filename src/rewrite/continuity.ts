import { createHash } from 'node:crypto';
import type { BindingScope } from '../bindings/binding.js';
import { isValidHeaderValue } from '../extproc/headers.js';
import type { StickyKey } from '../signals/sticky-key.js';

const MAX_CONTINUITY_LENGTH = 256;
const SAFE = /^[\x21-\x7e]+$/;

/**
 * The identity the upstream sees for a session's cache and session state:
 * the caller's prompt_cache_key when it sent one; else the session id it sent
 * (stable across turns, as Codex itself does); else, for content-seeded or
 * unusable ids, a stable hash namespaced by pool and principal. Never random.
 */
export function continuityKey(scope: BindingScope, stickyKey: StickyKey | undefined, callerPromptCacheKey: string | undefined): string | undefined {
  if (callerPromptCacheKey !== undefined) return callerPromptCacheKey;
  if (stickyKey === undefined) return undefined;
  const value = stickyKey.value;
  if (stickyKey.source !== 'content_seed' && value.length <= MAX_CONTINUITY_LENGTH && SAFE.test(value)) return value;
  const digest = createHash('sha256').update(scope.pool).update('\u0000').update(scope.principal).update('\u0000').update(value).digest('base64url');
  return `ca_${digest.slice(0, 32)}`;
}

/** A value copied from a body into a header: no CR, LF, NUL, bounded, else not set. */
export function headerSafe(value: string | undefined): string | undefined {
  return value !== undefined && value.length <= MAX_CONTINUITY_LENGTH && isValidHeaderValue(value) ? value : undefined;
}
