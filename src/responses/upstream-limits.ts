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
