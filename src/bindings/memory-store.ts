import type { Binding, BindingKey, Exclusion, ExclusionKey, StoredBinding, Strength } from './binding.js';
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

const KINDS = ['session', 'response', 'stored_item', 'encrypted_item', 'conversation', 'turn_state', 'exclusion'] as const;
type EntryKind = (typeof KINDS)[number];
const KIND_INDEX = new Map<string, number>(KINDS.map((kind, index) => [kind, index]));
/**
 * An entry's key is its id alone (the digests are distinct per kind already); the slot
 * says its kind. Only when the id is taken by an entry of another kind, or itself
 * begins with NUL, is the key NUL + a character for the kind + the id: each kind keeps
 * its own key space, and no key string is built per lookup while no such entry exists.
 */
const PREFIX = '\u0000';
const KIND_PREFIX = KINDS.map((_, index) => PREFIX + String.fromCharCode(97 + index));
const isPrefixed = (key: string) => key.charCodeAt(0) === 0;
const EXCLUSION = KIND_INDEX.get('exclusion')!;
const STRENGTHS: readonly Strength[] = ['soft', 'hard', 'none'];

/** Slots whose columns are reserved up front; a larger bound grows them by doubling. */
const RESERVED_SLOTS = 1 << 24;

/**
 * The entries' fields, one column per field and one slot per entry: no object, string
 * or boxed number per binding beyond its key. Account and domain are indexes into the
 * store's table of names. An exclusion's lists are kept beside its slot.
 */
class Slots {
  private capacity: number;
  private used = 0;
  private readonly free: number[] = [];
  expiresAt: Float64Array;
  createdAt: Float64Array;
  lastSeenAt: Float64Array;
  version: Float64Array;
  account: Int32Array;
  domain: Int32Array;
  /** kind index | strength index << 3 */
  meta: Uint8Array;
  readonly exclusions = new Map<number, Exclusion>();
  private readonly names: string[] = [];
  private readonly nameIndex = new Map<string, number>();

  /**
   * The columns are sized for the store's bound at once (up to RESERVED_SLOTS): the
   * pages of a large typed array are only resident once written, so a store holds
   * the memory of the slots it has used, and never copies its columns as it fills.
   */
  constructor(maxEntries: number) {
    this.capacity = Math.min(maxEntries, RESERVED_SLOTS);
    this.expiresAt = new Float64Array(this.capacity);
    this.createdAt = new Float64Array(this.capacity);
    this.lastSeenAt = new Float64Array(this.capacity);
    this.version = new Float64Array(this.capacity);
    this.account = new Int32Array(this.capacity);
    this.domain = new Int32Array(this.capacity);
    this.meta = new Uint8Array(this.capacity);
  }

  allocate(): number {
    const reused = this.free.pop();
    if (reused !== undefined) return reused;
    if (this.used === this.capacity) this.grow();
    return this.used++;
  }

  release(slot: number): void {
    this.exclusions.delete(slot);
    this.free.push(slot);
  }

  private grow(): void {
    const capacity = Math.max(1024, this.capacity * 2);
    const widen = <T extends Float64Array | Int32Array | Uint8Array>(column: T, make: (length: number) => T): T => {
      const wider = make(capacity);
      wider.set(column);
      return wider;
    };
    this.expiresAt = widen(this.expiresAt, (length) => new Float64Array(length));
    this.createdAt = widen(this.createdAt, (length) => new Float64Array(length));
    this.lastSeenAt = widen(this.lastSeenAt, (length) => new Float64Array(length));
    this.version = widen(this.version, (length) => new Float64Array(length));
    this.account = widen(this.account, (length) => new Int32Array(length));
    this.domain = widen(this.domain, (length) => new Int32Array(length));
    this.meta = widen(this.meta, (length) => new Uint8Array(length));
    this.capacity = capacity;
  }

  /** The index of a name (account, domain) in the store's table; configured names are few. */
  private nameOf(name: string): number {
    let index = this.nameIndex.get(name);
    if (index === undefined) {
      index = this.names.length;
      this.names.push(name);
      this.nameIndex.set(name, index);
    }
    return index;
  }

  kindIndex(slot: number): number {
    return this.meta[slot]! & 7;
  }

  kind(slot: number): EntryKind {
    return KINDS[this.meta[slot]! & 7]!;
  }

  isSession(slot: number): boolean {
    return (this.meta[slot]! & 7) === 0;
  }

  strength(slot: number): Strength {
    return STRENGTHS[this.meta[slot]! >> 3]!;
  }

  accountName(slot: number): string {
    return this.names[this.account[slot]!]!;
  }

  writeBinding(slot: number, kind: number, binding: StoredBinding, expiresAt: number): void {
    this.meta[slot] = kind | (STRENGTHS.indexOf(binding.strength) << 3);
    this.account[slot] = this.nameOf(binding.account);
    this.domain[slot] = this.nameOf(binding.domain);
    this.createdAt[slot] = binding.createdAt;
    this.lastSeenAt[slot] = binding.lastSeenAt;
    this.version[slot] = binding.version;
    this.expiresAt[slot] = expiresAt;
  }

  writeExclusion(slot: number, exclusion: Exclusion, expiresAt: number): void {
    this.meta[slot] = EXCLUSION;
    this.exclusions.set(slot, exclusion);
    this.expiresAt[slot] = expiresAt;
  }

  binding(slot: number): StoredBinding {
    return {
      account: this.names[this.account[slot]!]!,
      domain: this.names[this.domain[slot]!]!,
      strength: STRENGTHS[this.meta[slot]! >> 3]!,
      createdAt: this.createdAt[slot]!,
      lastSeenAt: this.lastSeenAt[slot]!,
      version: this.version[slot]!,
    };
  }

  clear(): void {
    this.free.length = 0;
    this.used = 0;
    this.exclusions.clear();
  }
}

/** A list of a partition: entry key → slot, in recency order (a touch re-inserts). */
type List = Map<string, number>;

/**
 * One partition. Two recency lists: soft entries (soft session bindings,
 * exclusions) go before hard ones (hard session bindings, learned anchors).
 */
class Partition {
  readonly soft: List = new Map();
  readonly hard: List = new Map();
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
 * A key held for the entry's life, as a string of its own: ids arrive as slices of a
 * longer digest encoding (bindings/binding.ts), which a slice would keep alive.
 */
function ownCopy(id: string): string {
  return Buffer.from(id, 'utf8').toString('utf8');
}

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
  private readonly slots: Slots;
  private count = 0;
  /** Entries under a prefixed key (see KIND_PREFIX); usually none. */
  private prefixed = 0;
  private sweepCursor: Iterator<Partition> | undefined;
  private nextVersion = 1;

  constructor(private readonly options: MemoryStoreOptions) {
    this.slots = new Slots(options.maxEntries);
  }

  get size(): number {
    return this.count;
  }

  /** Where the entry of this kind and id is, live or not. */
  private locate(partition: Partition, kind: number, id: string): { slot: number; list: List; entryId: string } | undefined {
    if (!isPrefixed(id)) {
      let list = partition.soft;
      let slot = list.get(id);
      if (slot === undefined) {
        list = partition.hard;
        slot = list.get(id);
      }
      if (slot !== undefined && this.slots.kindIndex(slot) === kind) return { slot, list, entryId: id };
      if (this.prefixed === 0) return undefined;
    }
    const entryId = KIND_PREFIX[kind] + id;
    const soft = partition.soft.get(entryId);
    if (soft !== undefined) return { slot: soft, list: partition.soft, entryId };
    const hard = partition.hard.get(entryId);
    return hard === undefined ? undefined : { slot: hard, list: partition.hard, entryId };
  }

  /** The live entry of this kind and id and where it is; an expired one is removed on the way. */
  private find(partitionName: string, kind: EntryKind, id: string): { partition: Partition; slot: number; list: List; entryId: string } | undefined {
    const partition = this.partitions.get(partitionName);
    if (!partition) return undefined;
    const found = this.locate(partition, KIND_INDEX.get(kind)!, id);
    if (!found) return undefined;
    if (this.slots.expiresAt[found.slot]! <= this.options.now()) {
      this.expire(partition, found.list, found.entryId, found.slot);
      return undefined;
    }
    return { partition, ...found };
  }

  /** A live slot, moved to the recent end, its TTL slid when little of it is left. */
  private touch(partitionName: string, kind: EntryKind, id: string): number | undefined {
    const found = this.find(partitionName, kind, id);
    if (!found) return undefined;
    const { slot, list, entryId } = found;
    list.delete(entryId);
    list.set(entryId, slot);
    const now = this.options.now();
    const ttl = this.options.ttls[this.slots.kind(slot)];
    if (this.slots.expiresAt[slot]! - now < ttl * this.options.slideFraction) this.slots.expiresAt[slot] = now + ttl;
    return slot;
  }

  private expire(partition: Partition, list: List, entryId: string, slot: number): void {
    const kind = this.slots.kind(slot);
    this.remove(partition, list, entryId);
    this.options.onExpire?.({ kind });
  }

  /** Live session bindings per account and strength (for the admin API; walks every entry). */
  sessionBindingsByAccount(): Map<string, { soft: number; hard: number }> {
    const now = this.options.now();
    const counts = new Map<string, { soft: number; hard: number }>();
    for (const partition of this.partitions.values()) {
      for (const list of [partition.soft, partition.hard]) {
        for (const slot of list.values()) {
          if (!this.slots.isSession(slot) || this.slots.expiresAt[slot]! <= now) continue;
          const account = this.slots.accountName(slot);
          const count = counts.get(account) ?? { soft: 0, hard: 0 };
          if (this.slots.strength(slot) === 'hard') count.hard++;
          else count.soft++;
          counts.set(account, count);
        }
      }
    }
    return counts;
  }

  private remove(partition: Partition, list: List, entryId: string): void {
    const slot = list.get(entryId);
    if (slot === undefined) return;
    list.delete(entryId);
    this.slots.release(slot);
    if (isPrefixed(entryId)) this.prefixed--;
    this.count--;
    this.sizes.moved(partition, partition.size + 1, partition.size);
    if (partition.size === 0) this.partitions.delete(partition.name);
  }

  /**
   * Stores an entry; false when a soft entry found no room it may take.
   * `mustKeep` entries (exclusions) may take room as hard entries do.
   */
  private write(partitionName: string, kind: EntryKind, id: string, value: StoredBinding | Exclusion, mustKeep = false): boolean {
    const kindIndex = KIND_INDEX.get(kind)!;
    const hard = isHard(kind, value);
    let partition = this.partitions.get(partitionName);
    const existing = partition && this.locate(partition, kindIndex, id);
    let slot: number;
    let entryId: string;
    if (partition && existing) {
      ({ slot, entryId } = existing);
      existing.list.delete(entryId);
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
      slot = this.slots.allocate();
      entryId = ownCopy(isPrefixed(id) || partition.soft.has(id) || partition.hard.has(id) ? KIND_PREFIX[kindIndex] + id : id);
      if (isPrefixed(entryId)) this.prefixed++;
      this.count++;
      this.sizes.moved(partition, partition.size, partition.size + 1);
    }
    const expiresAt = this.options.now() + this.options.ttls[kind];
    if (kind === 'exclusion') this.slots.writeExclusion(slot, value as Exclusion, expiresAt);
    else this.slots.writeBinding(slot, kindIndex, value as StoredBinding, expiresAt);
    (hard ? partition.hard : partition.soft).set(entryId, slot);
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
      for (const [entryId, slot] of list) {
        if (scanned++ >= EXPIRED_SCAN) break;
        if (this.slots.expiresAt[slot]! <= now) {
          this.expire(partition, list, entryId, slot);
          return true;
        }
      }
    }
    return false;
  }

  private evictOldest(partition: Partition, list: List, ownPartition: boolean): boolean {
    const oldest = list.entries().next();
    if (oldest.done) return false;
    const [entryId, slot] = oldest.value;
    const kind = this.slots.kind(slot);
    this.remove(partition, list, entryId);
    this.options.onEvict?.({ kind, hard: list === partition.hard, ownPartition });
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
        for (const [entryId, slot] of list) {
          if (this.slots.expiresAt[slot]! > now) break;
          this.expire(partition, list, entryId, slot);
        }
      }
    }
  }

  async read(keys: readonly BindingKey[]): Promise<(StoredBinding | undefined)[]> {
    return keys.map((key) => {
      const slot = this.touch(key.partition, key.kind, key.id);
      return slot === undefined ? undefined : this.slots.binding(slot);
    });
  }

  private stored(binding: Binding): StoredBinding {
    return { ...binding, version: this.nextVersion++ };
  }

  /** The live binding at `key`, as stored (no TTL slide, no recency change). */
  private current(key: BindingKey): StoredBinding | undefined {
    const found = this.find(key.partition, key.kind, key.id);
    return found && this.slots.binding(found.slot);
  }

  private currentExclusion(key: ExclusionKey): Exclusion | undefined {
    const found = this.find(key.partition, 'exclusion', key.id);
    return found && this.slots.exclusions.get(found.slot);
  }

  async create(key: BindingKey, binding: Binding): Promise<CreateResult> {
    const existing = this.touch(key.partition, key.kind, key.id);
    if (existing !== undefined) return { created: false, binding: this.slots.binding(existing) };
    const stored = this.stored(binding);
    // A soft binding with no room is not kept; the caller's decision stands (placement
    // is deterministic), so the result is the same as a stored one.
    this.write(key.partition, key.kind, key.id, stored);
    return { created: true, binding: stored };
  }

  async compareAndSet(key: BindingKey, expectedVersion: number | undefined, binding: Binding): Promise<CompareAndSetResult> {
    const existing = this.current(key);
    if (existing?.version !== expectedVersion) return { written: false, binding: existing };
    const stored = this.stored(binding);
    if (!this.write(key.partition, key.kind, key.id, stored)) return { written: false, binding: existing };
    return { written: true, binding: stored };
  }

  async learn(bindings: readonly LearnedBinding[]): Promise<void> {
    for (const { key, binding } of bindings) this.write(key.partition, key.kind, key.id, this.stored(binding));
  }

  async deleteIf(key: BindingKey, expectedVersion: number): Promise<boolean> {
    const found = this.find(key.partition, key.kind, key.id);
    if (!found || this.slots.version[found.slot] !== expectedVersion) return false;
    this.remove(found.partition, found.list, found.entryId);
    return true;
  }

  async readExclusion(key: ExclusionKey): Promise<Exclusion | undefined> {
    return this.currentExclusion(key);
  }

  /** Read and write with no await between them: the merge is atomic. */
  async exclude(key: ExclusionKey, entry: { readonly domain?: string; readonly account?: string }): Promise<Exclusion> {
    const current = this.currentExclusion(key) ?? { domains: [], accounts: [] };
    const next: Exclusion = {
      domains: entry.domain !== undefined && !current.domains.includes(entry.domain) ? [...current.domains, entry.domain] : current.domains,
      accounts: entry.account !== undefined && !current.accounts.includes(entry.account) ? [...current.accounts, entry.account] : current.accounts,
    };
    this.write(key.partition, 'exclusion', key.id, next, true);
    return next;
  }

  /** Drops an entry as an eviction would (operators' flush, tests). */
  forget(key: BindingKey): boolean {
    const found = this.find(key.partition, key.kind, key.id);
    if (!found) return false;
    this.remove(found.partition, found.list, found.entryId);
    return true;
  }

  async close(): Promise<void> {
    this.partitions.clear();
    this.sizes.clear();
    this.slots.clear();
    this.count = 0;
  }
}
