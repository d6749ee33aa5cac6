import { AccountStateTable } from '../accounts/health.js';
import { OperatorState } from '../accounts/operator-state.js';
import { BalanceState } from '../balance/balancer.js';
import { createMemoryStore } from '../bindings/create-store.js';
import type { Config } from '../config/schema.js';
import { CredentialStore } from '../credentials/credentials.js';
import { explainRequest, type ExplainRequest, type Explanation } from '../explain/explain.js';
import { createLogger } from '../logging/logger.js';
import { Metrics } from '../metrics/metrics.js';
import { createProcessorContext } from '../processor/create-context.js';
import { createWeightedRoundRobin } from '../routing/select.js';

/**
 * `codex-affinity explain --config FILE < request.json`: what a fresh processor with this
 * config would do with the request. No bindings exist (a running processor's are used by
 * POST /admin/explain), every account is healthy, and credentials are not read.
 */
export async function explainOffline(config: Config, request: ExplainRequest): Promise<Explanation> {
  const withoutCredentials: Config = { ...config, accounts: config.accounts.map(({ credential: _credential, ...account }) => account) };
  const logger = createLogger('silent');
  const metrics = new Metrics();
  const clock = Date.now;
  const store = createMemoryStore(withoutCredentials, clock);
  const operatorState = new OperatorState();
  const context = createProcessorContext(withoutCredentials, {
    accountState: new AccountStateTable({
      failureWindowMilliseconds: config.health.failureWindow,
      failureThreshold: config.health.failureThreshold,
      nearLimitPercent: config.health.nearLimitPercent,
    }),
    operatorState,
    store,
    metrics,
    logger,
    tieBreaker: createWeightedRoundRobin(),
    clock,
    credentials: new CredentialStore(withoutCredentials, logger),
    balanceState: new BalanceState(withoutCredentials, operatorState),
    elapsed: () => performance.now(),
  });
  try {
    return await explainRequest(context, request);
  } finally {
    await store.close();
  }
}

/** The request on standard input: `{ "headers": {...}, "body": {...} }`. */
export function parseExplainInput(text: string): ExplainRequest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error('standard input is not JSON: expected { "headers": { ":path": ..., "session-id": ... }, "body": { ... } }');
  }
  const headers = (parsed as { headers?: unknown } | null)?.headers;
  if (headers === null || typeof headers !== 'object' || Array.isArray(headers)) throw new Error('"headers": an object of request headers is required');
  for (const [name, value] of Object.entries(headers)) if (typeof value !== 'string') throw new Error(`"headers"."${name}": a string`);
  return parsed as ExplainRequest;
}
