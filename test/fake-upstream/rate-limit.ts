// Per-account usage counter, rate-limit headers and configurable 429s.
// Header names: x-codex-{primary,secondary}-{used-percent,window-minutes,reset-at} are what codex-rs
// parses (openai/codex codex-rs/codex-api/src/rate_limits.rs; reset-at is epoch seconds). The
// *-reset-after-seconds variant mirrors the reset_after_seconds field the ChatGPT usage API/websocket
// events carry (Soju06/codex-lb app/modules/usage). x-ratelimit-{limit,remaining,reset}-{requests,tokens}
// are the public OpenAI API headers (reset as a duration such as "6m0s" or "120ms").
import * as errors from './errors.js';
import type { Profile } from './types.js';

export interface UsageWindow {
  usedPercent: number;
  windowMinutes: number;
  resetAfterSeconds: number;
}

export type RejectKind = 'rate_limit_exceeded' | 'usage_limit_reached' | 'insufficient_quota';

export interface RejectSetting {
  kind: RejectKind;
  /** How many of the next requests get the 429 (default: all until cleared). */
  count?: number;
  /** "Please try again in Xs" / retry-after / resets_in_seconds. Default 20. */
  retryAfterSeconds?: number;
  /** usage_limit_reached plan_type. Default 'plus'. */
  planType?: string;
}

export interface RateLimitSettings {
  primary: UsageWindow;
  secondary: UsageWindow;
  /** Added to both windows' used percent for every served request. */
  percentPerRequest: number;
  requestsLimit: number;
  tokensLimit: number;
  requestsUsed: number;
  tokensUsed: number;
  /** Seconds until the per-minute request/token budgets reset. */
  resetRequestsSeconds: number;
  resetTokensSeconds: number;
  /** When true, exhausting requestsLimit or reaching 100% primary usage answers 429 by itself. */
  rejectWhenExhausted: boolean;
  reject: (RejectSetting & { remaining: number }) | null;
}

export type RateLimitUpdate = Partial<Omit<RateLimitSettings, 'primary' | 'secondary' | 'reject'>> & {
  primary?: Partial<UsageWindow>;
  secondary?: Partial<UsageWindow>;
  reject?: RejectSetting | null;
};

export interface Rejection {
  status: 429;
  body: unknown;
  headers: Record<string, string>;
}

export function formatResetDuration(seconds: number): string {
  if (seconds < 1) return `${Math.round(seconds * 1000)}ms`;
  const s = Math.floor(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  if (h > 0) return `${h}h${m}m${rest}s`;
  if (m > 0) return `${m}m${rest}s`;
  return `${rest}s`;
}

export class RateLimiter {
  readonly settings: RateLimitSettings = {
    primary: { usedPercent: 0, windowMinutes: 300, resetAfterSeconds: 3600 },
    secondary: { usedPercent: 0, windowMinutes: 10080, resetAfterSeconds: 86400 },
    percentPerRequest: 0,
    requestsLimit: 10000,
    tokensLimit: 30_000_000,
    requestsUsed: 0,
    tokensUsed: 0,
    resetRequestsSeconds: 6,
    resetTokensSeconds: 0.12,
    rejectWhenExhausted: false,
    reject: null,
  };

  constructor(private readonly now: () => number = Date.now) {}

  update(u: RateLimitUpdate): void {
    const { primary, secondary, reject, ...rest } = u;
    Object.assign(this.settings, rest);
    if (primary) Object.assign(this.settings.primary, primary);
    if (secondary) Object.assign(this.settings.secondary, secondary);
    if (reject !== undefined) {
      this.settings.reject = reject ? { ...reject, remaining: reject.count ?? Number.POSITIVE_INFINITY } : null;
    }
  }

  /** Decides whether this request gets a 429; consumes one configured rejection if so. */
  check(profile: Profile, model: string, org: string): Rejection | null {
    const s = this.settings;
    let setting: RejectSetting | null = null;
    if (s.reject && s.reject.remaining > 0) {
      s.reject.remaining -= 1;
      setting = s.reject;
    } else if (s.rejectWhenExhausted && (s.requestsUsed >= s.requestsLimit || s.primary.usedPercent >= 100)) {
      setting = { kind: profile === 'chatgpt-codex' ? 'usage_limit_reached' : 'rate_limit_exceeded' };
    }
    if (!setting) return null;
    const retry = setting.retryAfterSeconds ?? 20;
    const headers: Record<string, string> = { ...this.headers() };
    let body: unknown;
    switch (setting.kind) {
      case 'rate_limit_exceeded':
        body = errors.rateLimitExceeded(model, org, retry);
        headers['retry-after'] = String(retry);
        headers['x-ratelimit-remaining-tokens'] = '0';
        headers['x-ratelimit-reset-tokens'] = formatResetDuration(retry);
        break;
      case 'usage_limit_reached':
        body = errors.usageLimitReached(setting.planType ?? 'plus', retry, this.now());
        headers['x-codex-primary-used-percent'] = '100';
        headers['x-codex-primary-reset-after-seconds'] = String(retry);
        headers['x-codex-primary-reset-at'] = String(Math.floor(this.now() / 1000) + retry);
        break;
      case 'insufficient_quota':
        body = errors.insufficientQuota();
        break;
    }
    return { status: 429, body, headers };
  }

  /** Counts one served request and its tokens. */
  record(tokens: number): void {
    const s = this.settings;
    s.requestsUsed += 1;
    s.tokensUsed += tokens;
    s.primary.usedPercent = Math.min(100, s.primary.usedPercent + s.percentPerRequest);
    s.secondary.usedPercent = Math.min(100, s.secondary.usedPercent + s.percentPerRequest);
  }

  headers(): Record<string, string> {
    const s = this.settings;
    const nowSec = Math.floor(this.now() / 1000);
    const out: Record<string, string> = {};
    for (const [name, w] of [['primary', s.primary], ['secondary', s.secondary]] as const) {
      out[`x-codex-${name}-used-percent`] = String(round2(w.usedPercent));
      out[`x-codex-${name}-window-minutes`] = String(w.windowMinutes);
      out[`x-codex-${name}-reset-after-seconds`] = String(w.resetAfterSeconds);
      out[`x-codex-${name}-reset-at`] = String(nowSec + w.resetAfterSeconds);
    }
    out['x-ratelimit-limit-requests'] = String(s.requestsLimit);
    out['x-ratelimit-remaining-requests'] = String(Math.max(0, s.requestsLimit - s.requestsUsed));
    out['x-ratelimit-reset-requests'] = formatResetDuration(s.resetRequestsSeconds);
    out['x-ratelimit-limit-tokens'] = String(s.tokensLimit);
    out['x-ratelimit-remaining-tokens'] = String(Math.max(0, s.tokensLimit - s.tokensUsed));
    out['x-ratelimit-reset-tokens'] = formatResetDuration(s.resetTokensSeconds);
    return out;
  }
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}
