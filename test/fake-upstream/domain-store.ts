// State shared by all accounts of one domain: responses stored with store:true (for
// previous_response_id) and their output items (for items sent back by id only).
// A module-level registry is the default; tests can inject their own DomainStore.

export interface StoredResponse {
  id: string;
  account: string;
  domain: string;
  /** Full context the response saw (earlier chain + its own input). */
  context: unknown[];
  output: unknown[];
  createdAt: number;
}

export class DomainStore {
  private readonly responses = new Map<string, Map<string, StoredResponse>>();
  private readonly items = new Map<string, Map<string, unknown>>();

  putResponse(r: StoredResponse): void {
    mapFor(this.responses, r.domain).set(r.id, r);
    const items = mapFor(this.items, r.domain);
    for (const item of r.output) {
      const id = (item as { id?: unknown }).id;
      if (typeof id === 'string') items.set(id, item);
    }
  }

  getResponse(domain: string, id: string): StoredResponse | undefined {
    return this.responses.get(domain)?.get(id);
  }

  getItem(domain: string, id: string): unknown {
    return this.items.get(domain)?.get(id);
  }

  clear(): void {
    this.responses.clear();
    this.items.clear();
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
