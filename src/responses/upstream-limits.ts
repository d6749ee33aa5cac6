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

/**
 * When the usage reading stops being true: the reset of the window that reported
 * the highest percent (x-codex-*-reset-at in epoch seconds, or
 * x-codex-*-reset-after-seconds). Undefined when the upstream named none.
 */
export function usageResetsAt(headers: ReadonlyMap<string, string>, now: number): number | undefined {
  let best: { value: number; reset: number | undefined } | undefined;
  for (const window of ['primary', 'secondary']) {
    const value = Number(headers.get(`x-codex-${window}-used-percent`));
    if (!headers.has(`x-codex-${window}-used-percent`) || !Number.isFinite(value)) continue;
    const resetAt = Number(headers.get(`x-codex-${window}-reset-at`));
    const resetAfter = Number(headers.get(`x-codex-${window}-reset-after-seconds`));
    const named = Number.isFinite(resetAt) && resetAt > 0 ? resetAt * 1000 : Number.isFinite(resetAfter) && resetAfter > 0 ? now + resetAfter * 1000 : undefined;
    const reset = named !== undefined && named > now ? named : undefined;
    // The fullest window decides; between equally full ones, the later reset.
    if (!best || value > best.value || (value === best.value && (reset ?? 0) > (best.reset ?? 0))) best = { value, reset };
  }
  return best?.reset;
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
