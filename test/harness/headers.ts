// An ordered, lower-cased header list, like Envoy's HeaderMapImpl, with pseudo-headers
// (:method :path :scheme :authority on requests, :status on responses) kept in front.
// Values are kept as latin1 strings, i.e. one char per byte, so raw bytes round-trip.
import type { HeaderMap } from './proto.js';

export class Headers {
  entries: Array<[string, string]> = [];

  constructor(entries?: Iterable<[string, string]>) {
    if (entries) for (const [k, v] of entries) this.add(k, v);
  }
  clone(): Headers {
    const h = new Headers();
    h.entries = this.entries.map(([k, v]) => [k, v]);
    return h;
  }
  get(name: string): string | undefined {
    const n = name.toLowerCase();
    return this.entries.find(([k]) => k === n)?.[1];
  }
  getAll(name: string): string[] {
    const n = name.toLowerCase();
    return this.entries.filter(([k]) => k === n).map(([, v]) => v);
  }
  has(name: string): boolean {
    return this.get(name) !== undefined;
  }
  add(name: string, value: string): void {
    const n = name.toLowerCase();
    if (n.startsWith(':')) {
      // pseudo-headers stay ahead of regular headers (Envoy's header map keeps them first)
      const firstRegular = this.entries.findIndex(([k]) => !k.startsWith(':'));
      if (firstRegular >= 0) {
        this.entries.splice(firstRegular, 0, [n, value]);
        return;
      }
    }
    this.entries.push([n, value]);
  }
  /** Overwrite (Envoy setCopy): replaces the first entry in place, drops the others. */
  set(name: string, value: string): void {
    const n = name.toLowerCase();
    const i = this.entries.findIndex(([k]) => k === n);
    if (i < 0) return this.add(n, value);
    this.entries[i] = [n, value];
    this.entries = this.entries.filter(([k], j) => k !== n || j === i);
  }
  remove(name: string): void {
    const n = name.toLowerCase();
    this.entries = this.entries.filter(([k]) => k !== n);
  }
  removePrefix(prefix: string): void {
    this.entries = this.entries.filter(([k]) => !k.startsWith(prefix));
  }
  /** Envoy (HeaderMap -> proto, mutation_utils.cc headersToProto): raw_value only. */
  toProto(): HeaderMap {
    return { headers: this.entries.map(([key, v]) => ({ key, raw_value: Buffer.from(v, 'latin1') })) };
  }
  /** Regular (non-pseudo) headers as a flat [k, v, k, v] list for node:http. */
  toFlat(): string[] {
    const out: string[] = [];
    for (const [k, v] of this.entries) if (!k.startsWith(':')) out.push(k, v);
    return out;
  }
  toObject(): Record<string, string | string[]> {
    const o: Record<string, string | string[]> = {};
    for (const [k, v] of this.entries) {
      const prev = o[k];
      o[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
    }
    return o;
  }
}

/** Builds a header list from node's rawHeaders ([k, v, k, v]). */
export function fromRaw(raw: string[]): Headers {
  const h = new Headers();
  for (let i = 0; i + 1 < raw.length; i += 2) h.add(raw[i]!, raw[i + 1]!);
  return h;
}

/** Hop-by-hop / connection-level headers the HCM removes before filters and the codec drops. */
export const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te'];
