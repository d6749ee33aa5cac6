import { LRUCache } from 'lru-cache';
import { joinParts, sha256Base64url } from '../hashing/sha256.js';

export type Strength = 'hard' | 'soft' | 'none';

/**
 * What a stored key points at. Each kind has its own key space and TTL, and an
 * owner scope (see ownership/owner-scope.ts).
 */
export type BindingKind =
  /** sticky key (session, thread, prompt cache key, content seed, ...) → account: a preference */
  | 'session'
  /** stored response id → the exact account that stored it */
  | 'response'
  /** id of an item of a stored response (sent back by id or as item_reference) → the exact account */
  | 'stored_item'
  /** id of an item carrying encrypted_content → the account (and so the domain) that produced it */
  | 'encrypted_item'
  /** conversation id → the exact account that holds the conversation */
  | 'conversation'
  /** x-codex-turn-state token → the exact account that issued it */
  | 'turn_state';

export interface Binding {
  readonly account: string;
  readonly domain: string;
  readonly strength: Strength;
  readonly createdAt: number;
  readonly lastSeenAt: number;
}

/** A binding as the store holds it: every write bumps the version, so writers can compare and set. */
export interface StoredBinding extends Binding {
  readonly version: number;
}

/**
 * Domains and accounts a session's orphaned hard request was refused by
 * (unreadable encrypted content, unknown stored object): the next placement
 * skips them. Short-lived.
 */
export interface Exclusion {
  readonly domains: readonly string[];
  readonly accounts: readonly string[];
}

export interface BindingScope {
  readonly pool: string;
  readonly principal: string;
}

/**
 * A store address: the partition (one per pool and principal: quotas and
 * eviction are per partition) and a digest of the raw client value. Neither
 * holds a raw value: session ids and tokens never reach the store.
 */
export interface BindingKey {
  readonly kind: BindingKind;
  readonly partition: string;
  readonly id: string;
}

export interface ExclusionKey {
  readonly partition: string;
  readonly id: string;
}

/**
 * The first `length` characters (a multiple of 4) of the base64url SHA-256 of the parts,
 * each followed by a NUL. The prefix of the encoding is the encoding of the first bytes;
 * stores that keep an id copy it into a string of its own (memory-store.ts).
 */
function digest(parts: readonly string[], length: number): string {
  return sha256Base64url(joinParts(parts)).slice(0, length);
}

/** Partitions of the principals seen lately (pool and principal → digest): every request needs its own. */
const partitions = new LRUCache<string, string>({ max: 4096 });

export function partitionOf(scope: BindingScope): string {
  const name = `${scope.pool}\u0000${scope.principal}`;
  let partition = partitions.get(name);
  if (partition === undefined) {
    partition = digest(['partition', scope.pool, scope.principal], 16);
    partitions.set(name, partition);
  }
  return partition;
}

/**
 * The store key for a raw client value. Pool, principal and kind are hashed in
 * with the value, so a tenant can never address another tenant's binding and a
 * client value can never collide with an internal key of another kind.
 */
export function bindingKey(scope: BindingScope, kind: BindingKind, rawValue: string): BindingKey {
  return { kind, partition: partitionOf(scope), id: digest([scope.pool, scope.principal, kind, rawValue], 32) };
}

/** Where a session's exclusions live: the placement key's own digest. */
export function exclusionKey(placementKey: BindingKey): ExclusionKey {
  return { partition: placementKey.partition, id: `${placementKey.kind}:${placementKey.id}` };
}
