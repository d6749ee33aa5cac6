import type { Pool } from '../accounts/account.js';
import { bindingKey, type BindingKey, type BindingKind, type BindingScope } from '../bindings/binding.js';
import type { BindingStore } from '../bindings/store.js';

/** Kinds whose value names an object stored on one account: readable by whoever holds its credential. */
const STORED_REFERENCE_KINDS: ReadonlySet<BindingKind> = new Set<BindingKind>(['response', 'stored_item', 'conversation']);

export function isStoredReferenceKind(kind: BindingKind): boolean {
  return STORED_REFERENCE_KINDS.has(kind);
}

/**
 * Claims record, per pool, that some principal stored an object, without
 * saying who: a principal-less partition no client value can address
 * (principals are `header:…`, `credential:…` or `anonymous`).
 */
const CLAIMS_PRINCIPAL = '\u0000claims';
const claimScopes = new Map<string, BindingScope>();

function claimScope(pool: string): BindingScope {
  let scope = claimScopes.get(pool);
  if (scope === undefined) {
    scope = { pool, principal: CLAIMS_PRINCIPAL };
    claimScopes.set(pool, scope);
  }
  return scope;
}

/** Only a pool that injects credentials yet places unknown references needs to tell foreign from unknown. */
export function keepsClaims(pool: Pool): boolean {
  return pool.tenancy.injectsCredentials && pool.tenancy.unknownStoredReferences === 'place';
}

/** Where the claim on a stored object lives: the same for every principal of the pool. */
export function claimKey(pool: string, kind: BindingKind, rawValue: string): BindingKey {
  return bindingKey(claimScope(pool), kind, rawValue);
}

export interface UnknownReference {
  readonly kind: BindingKind;
  readonly values: readonly string[];
}

export type ReferenceVerdict =
  | { readonly kind: 'accept' }
  /** `foreign`: another principal of the pool stored it; `unknown`: never learned here (or forgotten). */
  | { readonly kind: 'refuse'; readonly reference: BindingKind; readonly reason: 'foreign' | 'unknown' };

/**
 * What a request gets for stored references this principal's bindings do not
 * know: accepted (placed as an orphan) only where the pool allows it, and never
 * when another principal of a credential-injecting pool stored them.
 */
export async function judgeUnknownReferences(store: BindingStore, pool: Pool, unknown: readonly UnknownReference[]): Promise<ReferenceVerdict> {
  const stored = unknown.filter((state) => isStoredReferenceKind(state.kind));
  const first = stored[0];
  if (first === undefined) return { kind: 'accept' };
  if (pool.tenancy.unknownStoredReferences === 'refuse') return { kind: 'refuse', reference: first.kind, reason: 'unknown' };
  if (!keepsClaims(pool)) return { kind: 'accept' };
  // While the store is away a missing claim proves nothing: never let a foreign reference through then.
  const degraded = (): boolean => store.isDegraded === true;
  if (degraded()) return { kind: 'refuse', reference: first.kind, reason: 'unknown' };
  const keys: BindingKey[] = [];
  const kinds: BindingKind[] = [];
  for (const state of stored) {
    for (const value of state.values) {
      keys.push(claimKey(pool.name, state.kind, value));
      kinds.push(state.kind);
    }
  }
  const claims = await store.read(keys);
  if (degraded()) return { kind: 'refuse', reference: first.kind, reason: 'unknown' };
  const foreign = claims.findIndex((claim) => claim !== undefined);
  return foreign === -1 ? { kind: 'accept' } : { kind: 'refuse', reference: kinds[foreign]!, reason: 'foreign' };
}
