// Scenarios of the state-ownership acceptance tests (ownership.test.ts). Each one drives a
// stack (fake accounts, Envoy stand-in, processor) or the processor's ext_proc stream
// directly, and returns the figures the test asserts on and logs. Loopback only.
//
// Written against the processor's target behaviour (ownership scopes, deterministic
// placement, orphan exclusions, per-principal eviction, profile capabilities, soft content
// seeds), not against one version of its internals: the store is only ever touched
// through a Proxy that forwards whatever functions it has (see delayedStore in stores.ts),
// and built by test/support/stores.ts.
//
// Small tools shared by the scenarios: outcomes, counting, rate limits, sleep, shuffled.
import type { FakeAccount, FakeAccountOptions } from '../../fake-upstream/index.js';
import type { ResponsesResult, Rng } from '../../workload/index.js';
import { classify, errorCodeOf, type FailureClass } from '../../workload/stats.js';

export const sleep = (milliseconds: number) => new Promise<void>((resolve) => setTimeout(resolve, milliseconds));

/** Three openai accounts, one per domain. */
export const THREE_DOMAINS: FakeAccountOptions[] = [
  { name: 'acct-a', domain: 'org-a' },
  { name: 'acct-b', domain: 'org-b' },
  { name: 'acct-c', domain: 'org-c' },
];

// ---------------------------------------------------------------------------------------------
// Small tools

/** What one request came to, from the client's side. */
export interface Outcome {
  ok: boolean;
  status: number;
  failure: FailureClass | null;
  /** error.code (or type / detail) of a failed answer. */
  code: string | null;
  /** x-fake-account of the answer (the fake names itself on errors too). */
  account: string | null;
  responseId: string | null;
}

export function outcomeOf(result: ResponsesResult): Outcome {
  const failure = classify(result);
  return {
    ok: failure === null,
    status: result.status,
    failure,
    code: failure === null ? null : errorCodeOf(result),
    account: result.headers['x-fake-account'] ?? null,
    responseId: typeof result.response?.id === 'string' ? result.response.id : null,
  };
}

export function shuffled<T>(items: readonly T[], rng: Rng): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

export function countBy<T>(items: readonly T[], key: (item: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of items) out[key(item)] = (out[key(item)] ?? 0) + 1;
  return out;
}

/** A 429 that lasts until lifted, naming a short retry-after (seconds). */
export function rateLimit(account: FakeAccount, retryAfterSeconds: number): void {
  account.setRateLimit({ reject: { kind: 'rate_limit_exceeded', retryAfterSeconds } });
}

export function liftRateLimit(account: FakeAccount): void {
  account.setRateLimit({ reject: null });
}
