import type { Config } from '../config/schema.js';
import type { Metrics } from '../metrics/metrics.js';
import { MemoryBindingStore } from './memory-store.js';
import type { BindingTtls } from './store.js';

/** Whole milliseconds, at least one: Redis takes nothing else (PX, PEXPIRE). */
const wholeMilliseconds = (duration: number) => Math.max(1, Math.round(duration));

export function bindingTtls(bindings: Config['bindings']): BindingTtls {
  return {
    session: wholeMilliseconds(bindings.sessionTtl),
    response: wholeMilliseconds(bindings.responseTtl),
    stored_item: wholeMilliseconds(bindings.responseTtl),
    encrypted_item: wholeMilliseconds(bindings.responseTtl),
    conversation: wholeMilliseconds(bindings.conversationTtl),
    turn_state: wholeMilliseconds(bindings.turnStateTtl),
    exclusion: wholeMilliseconds(bindings.exclusionTtl),
  };
}

/** The in-memory store sized and timed by the config; `maxEntries` overrides the config's bound (tests). */
export function createMemoryStore(config: Config, clock: () => number, metrics?: Metrics, bound?: { maxEntries: number; maxEntriesPerPrincipal?: number }): MemoryBindingStore {
  const memory = config.store.kind === 'memory' ? config.store : undefined;
  const maxEntries = bound?.maxEntries ?? memory?.maxEntries ?? 200_000;
  return new MemoryBindingStore({
    maxEntries,
    maxEntriesPerPrincipal: bound?.maxEntriesPerPrincipal ?? memory?.maxEntriesPerPrincipal ?? Math.max(1, Math.floor(maxEntries / 2)),
    ttls: bindingTtls(config.bindings),
    slideFraction: config.bindings.slideFraction,
    now: clock,
    ...(metrics
      ? {
          onEvict: (evicted) => metrics.evictions.inc({ kind: evicted.kind, strength: evicted.hard ? 'hard' : 'soft', partition: evicted.ownPartition ? 'own' : 'other' }),
          onRefuse: (refused) => metrics.evictions.inc({ kind: refused.kind, strength: 'soft', partition: 'refused' }),
          onExpire: (expired) => metrics.bindingsExpired.inc({ kind: expired.kind }),
        }
      : {}),
  });
}
