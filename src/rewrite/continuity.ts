import { sha256Base64url } from '../hashing/sha256.js';
import type { BindingScope } from '../bindings/binding.js';
import { isValidHeaderValue } from '../extproc/headers.js';
import type { StickyKey } from '../signals/sticky-key.js';

const MAX_CONTINUITY_LENGTH = 256;
const SAFE = /^[\x21-\x7e]+$/;

function namespaced(scope: BindingScope, value: string): string {
  const digest = sha256Base64url(`${scope.pool}\u0000${scope.principal}\u0000${value}`);
  return `ca_${digest.slice(0, 32)}`;
}

/**
 * The identity the upstream sees for a session's cache and session state:
 * the caller's prompt_cache_key when it sent one; else the session id it sent
 * (stable across turns, as Codex itself does); else, for content-seeded or
 * unusable ids, a stable hash namespaced by pool and principal. Never random.
 * When `isolate` (tenants share the account's credential), always the hash:
 * two tenants who pick the same id must not share a cache key.
 */
export function continuityKey(scope: BindingScope, stickyKey: StickyKey | undefined, callerPromptCacheKey: string | undefined, isolate = false): string | undefined {
  const value = callerPromptCacheKey ?? stickyKey?.value;
  if (value === undefined) return undefined;
  if (isolate) return namespaced(scope, value);
  if (callerPromptCacheKey !== undefined) return callerPromptCacheKey;
  if (stickyKey!.source !== 'content_seed' && value.length <= MAX_CONTINUITY_LENGTH && SAFE.test(value)) return value;
  return namespaced(scope, value);
}

/** A value copied from a body into a header: no CR, LF, NUL, bounded, else not set. */
export function headerSafe(value: string | undefined): string | undefined {
  return value !== undefined && value.length <= MAX_CONTINUITY_LENGTH && isValidHeaderValue(value) ? value : undefined;
}
