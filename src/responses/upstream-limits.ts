/**
 * When an account may be used again after a 429, from the response headers:
 * retry-after (seconds or HTTP date), x-codex-*-reset-at (epoch seconds) or
 * x-codex-*-reset-after-seconds. Undefined when the upstream named no reset.
 */
export function cooldownUntil(headers: ReadonlyMap<string, string>, now: number): number | undefined {
  const candidates: number[] = [];
  const retryAfter = headers.get('retry-after')?.trim();
  if (retryAfter) {
    if (/^\d+(\.\d+)?$/.test(retryAfter)) candidates.push(now + Number(retryAfter) * 1000);
    else {
      const date = Date.parse(retryAfter);
      if (!Number.isNaN(date)) candidates.push(date);
    }
  }
  const retryAfterMs = headers.get('retry-after-ms')?.trim();
  if (retryAfterMs && /^\d+$/.test(retryAfterMs)) candidates.push(now + Number(retryAfterMs));
  for (const window of ['primary', 'secondary']) {
    const usedPercent = Number(headers.get(`x-codex-${window}-used-percent`));
    if (!(usedPercent >= 100)) continue;
    const resetAt = Number(headers.get(`x-codex-${window}-reset-at`));
    if (Number.isFinite(resetAt) && resetAt > 0) candidates.push(resetAt * 1000);
    const resetAfter = Number(headers.get(`x-codex-${window}-reset-after-seconds`));
    if (Number.isFinite(resetAfter) && resetAfter > 0) candidates.push(now + resetAfter * 1000);
  }
  const valid = candidates.filter((value) => Number.isFinite(value) && value > now);
  return valid.length === 0 ? undefined : Math.max(...valid);
}

/** The highest usage-window percent reported (x-codex-primary/secondary-used-percent), if any. */
export function usedPercent(headers: ReadonlyMap<string, string>): number | undefined {
  let highest: number | undefined;
  for (const window of ['primary', 'secondary']) {
    const value = Number(headers.get(`x-codex-${window}-used-percent`));
    if (headers.has(`x-codex-${window}-used-percent`) && Number.isFinite(value)) highest = Math.max(highest ?? 0, value);
  }
  return highest;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** OpenAI's reset durations: "6m0s", "1.5s", "120ms", "1h2m". */
export function parseResetDuration(text: string | undefined): number | undefined {
  if (!text || !/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(text.trim())) return undefined;
  let total = 0;
  for (const part of text.trim().matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) total += Number(part[1]) * UNITS[part[2]!]!;
  return total;
}

/**
 * An exhausted public-API budget (x-ratelimit-remaining-requests or -tokens at 0):
 * the account is unusable until its reset.
 */
export function exhaustedUntil(headers: ReadonlyMap<string, string>, now: number): number | undefined {
  let until: number | undefined;
  for (const budget of ['requests', 'tokens']) {
    if (headers.get(`x-ratelimit-remaining-${budget}`)?.trim() !== '0') continue;
    const reset = parseResetDuration(headers.get(`x-ratelimit-reset-${budget}`));
    if (reset !== undefined && reset > 0) until = Math.max(until ?? 0, now + reset);
  }
  return until;
}

/** How full an account is, and until when that reading holds (undefined: no reset named). */
export interface UsageReading {
  readonly percent: number;
  readonly resetsAt: number | undefined;
}

/** Keeps the fuller reading; between equally full ones, the later reset. */
function fuller(best: UsageReading | undefined, percent: number, reset: number | undefined, now: number): UsageReading {
  const resetsAt = reset !== undefined && Number.isFinite(reset) && reset > now ? reset : undefined;
  return !best || percent > best.percent || (percent === best.percent && (resetsAt ?? 0) > (best.resetsAt ?? 0)) ? { percent, resetsAt } : best;
}

/**
 * The fullest usage window (x-codex-primary/secondary-used-percent), held until
 * its reset (x-codex-*-reset-at in epoch seconds, or -reset-after-seconds).
 * Undefined when the response reports none.
 */
export function usageReading(headers: ReadonlyMap<string, string>, now: number): UsageReading | undefined {
  let best: UsageReading | undefined;
  for (const window of ['primary', 'secondary']) {
    const percent = Number(headers.get(`x-codex-${window}-used-percent`));
    if (!headers.has(`x-codex-${window}-used-percent`) || !Number.isFinite(percent)) continue;
    const resetAt = Number(headers.get(`x-codex-${window}-reset-at`));
    const resetAfter = Number(headers.get(`x-codex-${window}-reset-after-seconds`));
    best = fuller(best, percent, Number.isFinite(resetAt) && resetAt > 0 ? resetAt * 1000 : Number.isFinite(resetAfter) && resetAfter > 0 ? now + resetAfter * 1000 : undefined, now);
  }
  return best;
}

/**
 * The fuller of the public API's per-minute budgets:
 * 100 × (1 − x-ratelimit-remaining-* / x-ratelimit-limit-*), held until
 * x-ratelimit-reset-*. Undefined when the response reports none.
 */
export function budgetReading(headers: ReadonlyMap<string, string>, now: number): UsageReading | undefined {
  let best: UsageReading | undefined;
  for (const budget of ['requests', 'tokens']) {
    const limit = Number(headers.get(`x-ratelimit-limit-${budget}`));
    const remaining = Number(headers.get(`x-ratelimit-remaining-${budget}`));
    if (!headers.has(`x-ratelimit-limit-${budget}`) || !headers.has(`x-ratelimit-remaining-${budget}`) || !(limit > 0) || !Number.isFinite(remaining)) continue;
    const reset = parseResetDuration(headers.get(`x-ratelimit-reset-${budget}`));
    best = fuller(best, Math.min(100, Math.max(0, 100 * (1 - remaining / limit))), reset !== undefined ? now + reset : undefined, now);
  }
  return best;
}
