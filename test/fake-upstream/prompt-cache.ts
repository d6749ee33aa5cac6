// Per-account prompt cache. Key: prompt_cache_key (or none). A request's prompt is a list of
// segments (a head with instructions/tools, then one per input item); the cache remembers the hash
// of every prefix. The cached token count of a request is the size of the longest remembered prefix.
import { canonicalJson, estimateTokens, sha256Hex } from './util.js';

export interface CacheResult {
  inputTokens: number;
  cachedTokens: number;
}

/** How the cache forgets: like OpenAI's, a cache key idle longer than `lifetimeMs` (on `clock`) is cleared. */
export interface CacheExpiry {
  readonly clock: () => number;
  readonly lifetimeMs: number;
}

export class PromptCache {
  private readonly entries = new Map<string, Set<string>>();
  private readonly lastUsed = new Map<string, number>();

  constructor(
    private readonly minCachedTokens = 0,
    private readonly expiry?: CacheExpiry,
  ) {}

  /** Looks up the longest cached prefix, then remembers all prefixes of this prompt. */
  lookupAndStore(cacheKey: string | null, segments: unknown[]): CacheResult {
    const key = cacheKey ?? '';
    if (this.expiry) {
      const now = this.expiry.clock();
      const last = this.lastUsed.get(key);
      if (last !== undefined && now - last > this.expiry.lifetimeMs) this.entries.delete(key);
      this.lastUsed.set(key, now);
    }
    let known = this.entries.get(key);
    if (!known) {
      known = new Set();
      this.entries.set(key, known);
    }
    let hash = '';
    let tokens = 0;
    let cached = 0;
    const hashes: string[] = [];
    for (const seg of segments) {
      const text = canonicalJson(seg);
      hash = sha256Hex(hash + text);
      tokens += estimateTokens(text);
      hashes.push(hash);
      if (known.has(hash)) cached = tokens;
    }
    for (const h of hashes) known.add(h);
    if (cached < this.minCachedTokens) cached = 0;
    return { inputTokens: tokens, cachedTokens: cached };
  }
}
