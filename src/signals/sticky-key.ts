import type { Strength } from '../bindings/binding.js';
import type { SignalSource, Signals } from './signals.js';

/** The strongest session signal of a request. `value` is raw: hash it before storing. */
export interface StickyKey {
  readonly source: SignalSource;
  readonly value: string;
}

/**
 * Session keys in precedence order, strongest first. Turn-state tokens and
 * previous_response_id are not session keys: they name the account that holds
 * the state directly and are looked up before any of these (see decide.ts).
 */
export const STICKY_KEY_PRECEDENCE: ReadonlyArray<{ source: SignalSource; read: (signals: Signals) => string | undefined }> = [
  { source: 'session_header', read: (signals) => signals.sessionHeader },
  { source: 'thread_header', read: (signals) => signals.threadHeader },
  { source: 'window_id', read: (signals) => signals.windowThread },
  { source: 'turn_metadata', read: (signals) => signals.turnMetadataSession },
  { source: 'prompt_cache_key', read: (signals) => signals.promptCacheKey },
  { source: 'client_metadata', read: (signals) => signals.clientMetadataSession },
  { source: 'conversation', read: (signals) => signals.conversation },
];

export function chooseStickyKey(signals: Signals, contentSeed?: () => string | undefined): StickyKey | undefined {
  for (const { source, read } of STICKY_KEY_PRECEDENCE) {
    const value = read(signals);
    if (value !== undefined) return { source, value };
  }
  const seed = contentSeed?.();
  return seed === undefined ? undefined : { source: 'content_seed', value: seed };
}

/**
 * `hard` when the request carries state only its account's domain can read:
 * encrypted content in the input, a reference to a stored item,
 * previous_response_id, a server-side conversation, or a turn-state token this
 * processor knows. The `include`
 * parameter alone asks for encrypted content; it carries none, so it is not hard.
 */
export function requestStrength(signals: Signals, knownTurnState: boolean, hasStickyKey: boolean): Strength {
  if (signals.hasEncryptedContent || signals.hasStoredReference || signals.previousResponseId !== undefined || signals.conversation !== undefined || knownTurnState) {
    return 'hard';
  }
  return hasStickyKey || signals.turnState !== undefined || signals.parentThread !== undefined ? 'soft' : 'none';
}
