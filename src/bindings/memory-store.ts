import type { Binding, BindingKey, Exclusion, ExclusionKey, StoredBinding } from './binding.js';
import type { BindingStore, BindingTtls, CompareAndSetResult, CreateResult, LearnedBinding } from './store.js';

export interface MemoryStoreOptions {
  /** Bound on all entries (bindings and exclusions) of all partitions together. */
  readonly maxEntries: number;
  readonly ttls: BindingTtls;
  /** A read slides the TTL when less than this fraction of it remains. */
  readonly slideFraction: number;
  readonly now: () => number;
  /** Told when an entry goes to make room (for metrics). */
  readonly onEvict?: (evicted: { kind: string; hard: boolean; ownPartition: boolean }) => void;
}

interface Entry {
  value: StoredBinding | Exclusion;
  expiresAt: number;
  ttl: number;
  readonly kind: string;
}

/**
 * One partition (pool + principal). Two recency lists: soft entries (soft
 * session bindings, exclusions) go before hard ones (hard session bindings,
 * learned anchors). Map order is recency order: a touch re-inserts.
 */
class Partition {
  constructor(readonly name: string) {}
  readonly soft = new Map<string, Entry>();
  readonly hard = new Map<string, Entry>();
  get size(): number {
    return this.soft.size + this.hard.size;
  }
}

function isHard(kind: string, value: StoredBinding | Exclusion): boolean {
  if (kind === 'exclusion') return false;
  return kind !== 'session' || (value as StoredBinding).strength === 'hard';
}

/**
 * Bounded in-memory store. Single-threaded Node makes every operation atomic
 * within one replica. When full, the largest partition gives up an entry, its
 * soft ones first; a partition whose entries are all hard gives up nothing to
 * a soft entry of another partition (that entry is not stored: placement is
 * deterministic, so a soft session loses nothing).
 */
export class MemoryBindingStore implements BindingStore {
  private readonly partitions = new Map<string, Partition>();
  private count = 0;
  private largest: Partition | undefined;
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
      this.remove(partitionName, partition, list, entryId);
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

  private remove(partitionName: string, partition: Partition, list: Map<string, Entry>, entryId: string): void {
    if (list.delete(entryId)) this.count--;
    if (partition.size === 0) {
      this.partitions.delete(partitionName);
      if (this.largest === partition) this.largest = undefined;
    }
  }

  private write(partitionName: string, kind: string, id: string, value: StoredBinding | Exclusion, ttl: number): boolean {
    const entryId = this.entryId(kind, id);
    const hard = isHard(kind, value);
    let partition = this.partitions.get(partitionName);
    const existing = partition && (partition.soft.get(entryId) ?? partition.hard.get(entryId));
    if (partition && existing) {
      partition.soft.delete(entryId);
      partition.hard.delete(entryId);
      this.count--;
    } else {
      this.sweep();
      if (this.count >= this.options.maxEntries && !this.makeRoom(partitionName, hard)) return false;
      partition = this.partitions.get(partitionName);
    }
    if (!partition) {
      partition = new Partition(partitionName);
      this.partitions.set(partitionName, partition);
    }
    (hard ? partition.hard : partition.soft).set(entryId, { value, kind, ttl, expiresAt: this.options.now() + ttl });
    this.count++;
    if (!this.largest || partition.size > this.largest.size) this.largest = partition;
    return true;
  }

  /** Frees one slot for `partitionName`; false when the entry should not be stored. */
  private makeRoom(partitionName: string, incomingHard: boolean): boolean {
    const own = this.partitions.get(partitionName);
    const victim = this.largestPartition(own);
    if (victim && victim.soft.size > 0) return this.evictOldest(victim, victim.soft, victim !== own);
    if (victim && victim.hard.size > 0 && (incomingHard || victim === own)) return this.evictOldest(victim, victim.hard, victim !== own);
    // The largest partition holds only hard entries and this one is soft: drop the
    // caller's own soft entry if it has one, else do not store.
    if (own && own.soft.size > 0) return this.evictOldest(own, own.soft, false);
    return false;
  }

  private largestPartition(preferred: Partition | undefined): Partition | undefined {
    if (!this.largest || !this.isLive(this.largest)) {
      this.largest = undefined;
      for (const partition of this.partitions.values()) if (!this.largest || partition.size > this.largest.size) this.largest = partition;
    }
    // Ties go to the partition asking for room: a flood evicts its own entries first.
    if (preferred && this.largest && preferred.size >= this.largest.size) return preferred;
    return this.largest;
  }

  private isLive(partition: Partition): boolean {
    return partition.size > 0;
  }

  private evictOldest(partition: Partition, list: Map<string, Entry>, otherPartition: boolean): boolean {
    const oldest = list.keys().next();
    if (oldest.done) return false;
    const entry = list.get(oldest.value)!;
    this.remove(partition.name, partition, list, oldest.value);
    this.options.onEvict?.({ kind: entry.kind, hard: list === partition.hard, ownPartition: !otherPartition });
    // The largest partition shrank: a rescan finds the next largest when needed.
    if (this.largest === partition) this.largest = undefined;
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
          this.remove(partition.name, partition, list, entryId);
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
    this.write(key.partition, key.kind, key.id, stored, this.options.ttls[key.kind]);
    return { created: true, binding: stored };
  }

  async compareAndSet(key: BindingKey, expectedVersion: number | undefined, binding: Binding): Promise<CompareAndSetResult> {
    const existing = this.find(key.partition, this.entryId(key.kind, key.id))?.entry.value as StoredBinding | undefined;
    if (existing?.version !== expectedVersion) return { written: false, binding: existing };
    const stored = this.stored(binding);
    this.write(key.partition, key.kind, key.id, stored, this.options.ttls[key.kind]);
    return { written: true, binding: stored };
  }

  async learn(bindings: readonly LearnedBinding[]): Promise<void> {
    for (const { key, binding } of bindings) this.write(key.partition, key.kind, key.id, this.stored(binding), this.options.ttls[key.kind]);
  }

  async deleteIf(key: BindingKey, expectedVersion: number): Promise<boolean> {
    const entryId = this.entryId(key.kind, key.id);
    const found = this.find(key.partition, entryId);
    if (!found || (found.entry.value as StoredBinding).version !== expectedVersion) return false;
    this.remove(key.partition, found.partition, found.list, entryId);
    return true;
  }

  async readExclusion(key: ExclusionKey): Promise<Exclusion | undefined> {
    return this.find(key.partition, this.entryId('exclusion', key.id))?.entry.value as Exclusion | undefined;
  }

  async exclude(key: ExclusionKey, entry: { readonly domain?: string; readonly account?: string }): Promise<Exclusion> {
    const current = ((await this.readExclusion(key)) ?? { domains: [], accounts: [] }) as Exclusion;
    const next: Exclusion = {
      domains: entry.domain !== undefined && !current.domains.includes(entry.domain) ? [...current.domains, entry.domain] : current.domains,
      accounts: entry.account !== undefined && !current.accounts.includes(entry.account) ? [...current.accounts, entry.account] : current.accounts,
    };
    this.write(key.partition, 'exclusion', key.id, next, this.options.ttls.exclusion);
    return next;
  }

  /** Drops an entry as an eviction would (operators' flush, tests). */
  forget(key: BindingKey): boolean {
    const entryId = this.entryId(key.kind, key.id);
    const found = this.find(key.partition, entryId);
    if (!found) return false;
    this.remove(key.partition, found.partition, found.list, entryId);
    return true;
  }

  async close(): Promise<void> {
    this.partitions.clear();
    this.count = 0;
    this.largest = undefined;
  }
}
