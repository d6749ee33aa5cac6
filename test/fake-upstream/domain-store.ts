// Stored objects of the fake upstream: responses stored with store:true (for previous_response_id),
// the items they carried (for item_reference and items sent back by id only) and conversations
// (the Conversations API). Like on the real upstream, every object belongs to the ONE account
// (OpenAI project) that stored it: another account, even of the same domain, cannot see it. Only
// sealed encrypted_content is readable across a domain, and that does not go through this store.
// The class keeps its historical name (DomainStore); it is keyed by account name. A module-level
// store is the default; tests can inject their own.

export interface StoredResponse {
  id: string;
  /** The account that stored it; the only one that can resolve it. */
  account: string;
  /** Informational: the account's domain. Not used for lookups. */
  domain: string;
  /** Full context the response saw (earlier chain + its own input). */
  context: unknown[];
  output: unknown[];
  createdAt: number;
}

export interface StoredConversation {
  id: string;
  account: string;
  domain: string;
  /** Seconds since the epoch, as in the API object. */
  createdAt: number;
  metadata: Record<string, unknown>;
  /** The conversation's items, oldest first, in the form they were sent or produced (references expanded). */
  items: unknown[];
}

export class DomainStore {
  private readonly responses = new Map<string, Map<string, StoredResponse>>();
  private readonly items = new Map<string, Map<string, unknown>>();
  private readonly conversations = new Map<string, Map<string, StoredConversation>>();

  /** Stores the response and its output items (plus any id-carrying items given) for r.account. */
  putResponse(r: StoredResponse, inputItems: unknown[] = []): void {
    mapFor(this.responses, r.account).set(r.id, r);
    this.putItems(r.account, [...inputItems, ...r.output]);
  }

  getResponse(account: string, id: string): StoredResponse | undefined {
    return this.responses.get(account)?.get(id);
  }

  /** Remembers every item that carries a string id, for item_reference / items sent by id. */
  putItems(account: string, items: unknown[]): void {
    const m = mapFor(this.items, account);
    for (const item of items) {
      const id = (item as { id?: unknown } | null)?.id;
      if (typeof id === 'string') m.set(id, item);
    }
  }

  getItem(account: string, id: string): unknown {
    return this.items.get(account)?.get(id);
  }

  putConversation(c: StoredConversation): void {
    mapFor(this.conversations, c.account).set(c.id, c);
    this.putItems(c.account, c.items);
  }

  getConversation(account: string, id: string): StoredConversation | undefined {
    return this.conversations.get(account)?.get(id);
  }

  deleteConversation(account: string, id: string): boolean {
    return this.conversations.get(account)?.delete(id) ?? false;
  }

  /** Appends items to a conversation of this account (they become referenceable items too). */
  appendConversationItems(account: string, id: string, items: unknown[]): void {
    const c = this.getConversation(account, id);
    if (!c) return;
    c.items.push(...items);
    this.putItems(account, items);
  }

  /** Number of stored responses of an account (diagnostics for tests). */
  responseCount(account: string): number {
    return this.responses.get(account)?.size ?? 0;
  }

  clear(): void {
    this.responses.clear();
    this.items.clear();
    this.conversations.clear();
  }
}

function mapFor<V>(outer: Map<string, Map<string, V>>, key: string): Map<string, V> {
  let m = outer.get(key);
  if (!m) {
    m = new Map();
    outer.set(key, m);
  }
  return m;
}

/** The store used when an account is started without one. */
export const sharedDomainStore = new DomainStore();
