import type { Binding, BindingKey, Exclusion, ExclusionKey, StoredBinding } from './binding.js';
import { PartitionSizes } from './partition-sizes.js';
import type { BindingStore, BindingTtls, CompareAndSetResult, CreateResult, LearnedBinding } from './store.js';

export interface MemoryStoreOptions {
  /** Bound on all entries (bindings and exclusions) of all partitions together. */
  readonly maxEntries: number;
  /** Bound on one partition (pool + principal): past it, the partition evicts its own entries. */
  readonly maxEntriesPerPrincipal: number;
  readonly ttls: BindingTtls;
  /** A read slides the TTL when less than this fraction of it remains. */
  readonly slideFraction: number;
  readonly now: () => number;
  /** Told when an entry goes to make room, or a soft entry is not stored (for metrics). */
  readonly onEvict?: (evicted: { kind: string; hard: boolean; ownPartition: boolean }) => void;
  readonly onRefuse?: (refused: { kind: string }) => void;
  /** Told when an entry is removed at the end of its TTL. */
  readonly onExpire?: (expired: { kind: string }) => void;
}

interface Entry {
  value: StoredBinding | Exclusion;
  expiresAt: number;
  readonly ttl: number;
  readonly kind: string;
}

/**
 * One partition. Two recency lists: soft entries (soft session bindings,
 * exclusions) go before hard ones (hard session bindings, learned anchors).
 * Map order is recency order: a touch re-inserts.
 */
class Partition {
  readonly soft = new Map<string, Entry>();
  readonly hard = new Map<string, Entry>();
  constructor(readonly name: string) {}
  get size(): number {
    return this.soft.size + this.hard.size;
  }
}

function isHard(kind: string, value: StoredBinding | Exclusion): boolean {
  if (kind === 'exclusion') return false;
  return kind !== 'session' || (value as StoredBinding).strength === 'hard';
}

/** How many of a list's oldest entries eviction looks through for an expired one. */
const EXPIRED_SCAN = 16;

/**
 * Bounded in-memory store. Single-threaded Node makes every operation atomic
 * within one replica. Room is made in this order:
 * 1. a partition at its own bound evicts its own entries (a flood evicts the flooder's);
 * 2. a full store takes from the largest partition, expired entries first, then soft
 *    ones, then hard ones, but a soft entry never displaces another partition's hard
 *    entry: it is not stored (placement is deterministic, so a soft session loses nothing).
 */
export class MemoryBindingStore implements BindingStore {
  private readonly partitions = new Map<string, Partition>();
  private readonly sizes = new PartitionSizes<Partition>();
  private count = 0;
  private sweepCursor: Iterator<Partition> | undefined;
  private nextVersion = 1;

  constructor(private readonly options: MemoryStoreOptions) {}

  get size(): number {
    return this.count;
  }

  private entryId(kind: string, id: string): string {
    return `${kind}:${id}`;
  }

  private find(partitionName: string, entryId: string): { partition: Partition; entry: Entry; list: Map<string, Entry> } | undefined {
    const partition = this.partitions.get(partitionName);
    if (!partition) return undefined;
    const list = partition.soft.has(entryId) ? partition.soft : partition.hard.has(entryId) ? partition.hard : undefined;
    if (!list) return undefined;
    const entry = list.get(entryId)!;
    if (entry.expiresAt <= this.options.now()) {
      this.expire(partition, list, entryId, entry);
      return undefined;
    }
    return { partition, entry, list };
  }

  /** A live entry, moved to the recent end, its TTL slid when little of it is left. */
  private touch(partitionName: string, entryId: string): Entry | undefined {
    const found = this.find(partitionName, entryId);
    if (!found) return undefined;
    const { entry, list } = found;
    list.delete(entryId);
    list.set(entryId, entry);
    const now = this.options.now();
    if (entry.expiresAt - now < entry.ttl * this.options.slideFraction) entry.expiresAt = now + entry.ttl;
    return entry;
  }

  private expire(partition: Partition, list: Map<string, Entry>, entryId: string, entry: Entry): void {
    this.remove(partition, list, entryId);
    this.options.onExpire?.({ kind: entry.kind });
  }

  /** Live session bindings per account and strength (for the admin API; walks every entry). */
  sessionBindingsByAccount(): Map<string, { soft: number; hard: number }> {
    const now = this.options.now();
    const counts = new Map<string, { soft: number; hard: number }>();
    for (const partition of this.partitions.values()) {
      for (const list of [partition.soft, partition.hard]) {
        for (const entry of list.values()) {
          if (entry.kind !== 'session' || entry.expiresAt <= now) continue;
          const binding = entry.value as StoredBinding;
          const count = counts.get(binding.account) ?? { soft: 0, hard: 0 };
          if (binding.strength === 'hard') count.hard++;
          else count.soft++;
          counts.set(binding.account, count);
        }
      }
    }
    return counts;
  }

  private remove(partition: Partition, list: Map<string, Entry>, entryId: string): void {
    if (!list.delete(entryId)) return;
    this.count--;
    this.sizes.moved(partition, partition.size + 1, partition.size);
    if (partition.size === 0) this.partitions.delete(partition.name);
  }

  /**
   * Stores an entry; false when a soft entry found no room it may take.
   * `mustKeep` entries (exclusions) may take room as hard entries do.
   */
  private write(partitionName: string, kind: string, id: string, value: StoredBinding | Exclusion, ttl: number, mustKeep = false): boolean {
    const entryId = this.entryId(kind, id);
    const hard = isHard(kind, value);
    let partition = this.partitions.get(partitionName);
    const replacing = partition !== undefined && (partition.soft.has(entryId) || partition.hard.has(entryId));
    if (partition && replacing) {
      partition.soft.delete(entryId);
      partition.hard.delete(entryId);
    } else {
      this.sweep();
      if (!this.makeRoom(partitionName, hard || mustKeep)) {
        this.options.onRefuse?.({ kind });
        return false;
      }
      partition = this.partitions.get(partitionName);
      if (!partition) {
        partition = new Partition(partitionName);
        this.partitions.set(partitionName, partition);
      }
      this.count++;
      this.sizes.moved(partition, partition.size, partition.size + 1);
    }
    (hard ? partition.hard : partition.soft).set(entryId, { value, kind, ttl, expiresAt: this.options.now() + ttl });
    return true;
  }

  /** Frees one slot for a new entry of `partitionName`, when one is needed; false when it may not be stored. */
  private makeRoom(partitionName: string, incomingHard: boolean): boolean {
    const own = this.partitions.get(partitionName);
    if (own && own.size >= this.options.maxEntriesPerPrincipal) return this.evictFrom(own, true, true);
    if (this.count < this.options.maxEntries) return true;
    const victim = this.sizes.largest(own);
    if (!victim) return true;
    if (this.evictExpired(victim)) return true;
    if (victim.soft.size > 0) return this.evictOldest(victim, victim.soft, victim === own);
    if (incomingHard || victim === own) return this.evictOldest(victim, victim.hard, victim === own);
    if (own && own.soft.size > 0) return this.evictOldest(own, own.soft, true);
    return false;
  }

  private evictFrom(partition: Partition, ownPartition: boolean, allowHard: boolean): boolean {
    if (this.evictExpired(partition)) return true;
    if (partition.soft.size > 0) return this.evictOldest(partition, partition.soft, ownPartition);
    return allowHard && this.evictOldest(partition, partition.hard, ownPartition);
  }

  /** An expired entry among the oldest few of the partition's lists: the first to go. */
  private evictExpired(partition: Partition): boolean {
    const now = this.options.now();
    for (const list of [partition.soft, partition.hard]) {
      let scanned = 0;
      for (const [entryId, entry] of list) {
        if (scanned++ >= EXPIRED_SCAN) break;
        if (entry.expiresAt <= now) {
          this.expire(partition, list, entryId, entry);
          return true;
        }
      }
    }
    return false;
  }

  private evictOldest(partition: Partition, list: Map<string, Entry>, ownPartition: boolean): boolean {
    const oldest = list.keys().next();
    if (oldest.done) return false;
    const entry = list.get(oldest.value)!;
    this.remove(partition, list, oldest.value);
    this.options.onEvict?.({ kind: entry.kind, hard: list === partition.hard, ownPartition });
    return true;
  }

  /** Drops expired entries at the head of a few partitions per write: memory follows the TTLs. */
  private sweep(): void {
    const now = this.options.now();
    for (let visited = 0; visited < 2 && this.partitions.size > 0; visited++) {
      let next = this.sweepCursor?.next();
      if (!next || next.done) {
        this.sweepCursor = this.partitions.values();
        next = this.sweepCursor.next();
        if (next.done) return;
      }
      const partition = next.value;
      for (const list of [partition.soft, partition.hard]) {
        for (const [entryId, entry] of list) {
          if (entry.expiresAt > now) break;
          this.expire(partition, list, entryId, entry);
        }
      }
    }
  }

  async read(keys: readonly BindingKey[]): Promise<(StoredBinding | undefined)[]> {
    return keys.map((key) => this.touch(key.partition, this.entryId(key.kind, key.id))?.value as StoredBinding | undefined);
  }

  private stored(binding: Binding): StoredBinding {
    return { ...binding, version: this.nextVersion++ };
  }

  async create(key: BindingKey, binding: Binding): Promise<CreateResult> {
    const existing = this.touch(key.partition, this.entryId(key.kind, key.id));
    if (existing) return { created: false, binding: existing.value as StoredBinding };
    const stored = this.stored(binding);
    // A soft binding with no room is not kept; the caller's decision stands (placement
    // is deterministic), so the result is the same as a stored one.
    this.write(key.partition, key.kind, key.id, stored, this.options.ttls[key.kind]);
    return { created: true, binding: stored };
  }

  async compareAndSet(key: BindingKey, expectedVersion: number | undefined, binding: Binding): Promise<CompareAndSetResult> {
    const existing = this.find(key.partition, this.entryId(key.kind, key.id))?.entry.value as StoredBinding | undefined;
    if (existing?.version !== expectedVersion) return { written: false, binding: existing };
    const stored = this.stored(binding);
    if (!this.write(key.partition, key.kind, key.id, stored, this.options.ttls[key.kind])) return { written: false, binding: existing };
    return { written: true, binding: stored };
  }

  async learn(bindings: readonly LearnedBinding[]): Promise<void> {
    for (const { key, binding } of bindings) this.write(key.partition, key.kind, key.id, this.stored(binding), this.options.ttls[key.kind]);
  }

  async deleteIf(key: BindingKey, expectedVersion: number): Promise<boolean> {
    const entryId = this.entryId(key.kind, key.id);
    const found = this.find(key.partition, entryId);
    if (!found || (found.entry.value as StoredBinding).version !== expectedVersion) return false;
    this.remove(found.partition, found.list, entryId);
    return true;
  }

  async readExclusion(key: ExclusionKey): Promise<Exclusion | undefined> {
    return this.find(key.partition, this.entryId('exclusion', key.id))?.entry.value as Exclusion | undefined;
  }

  /** Read and write with no await between them: the merge is atomic. */
  async exclude(key: ExclusionKey, entry: { readonly domain?: string; readonly account?: string }): Promise<Exclusion> {
    const current = (this.find(key.partition, this.entryId('exclusion', key.id))?.entry.value as Exclusion | undefined) ?? { domains: [], accounts: [] };
    const next: Exclusion = {
      domains: entry.domain !== undefined && !current.domains.includes(entry.domain) ? [...current.domains, entry.domain] : current.domains,
      accounts: entry.account !== undefined && !current.accounts.includes(entry.account) ? [...current.accounts, entry.account] : current.accounts,
    };
    this.write(key.partition, 'exclusion', key.id, next, this.options.ttls.exclusion, true);
    return next;
  }

  /** Drops an entry as an eviction would (operators' flush, tests). */
  forget(key: BindingKey): boolean {
    const entryId = this.entryId(key.kind, key.id);
    const found = this.find(key.partition, entryId);
    if (!found) return false;
    this.remove(found.partition, found.list, entryId);
    return true;
  }

  async close(): Promise<void> {
    this.partitions.clear();
    this.sizes.clear();
    this.count = 0;
  }
}
