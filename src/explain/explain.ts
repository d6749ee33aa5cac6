import { createHash } from 'node:crypto';
import { accountStatuses, type AccountStatus } from '../accounts/account-status.js';
import { Metrics } from '../metrics/metrics.js';
import type { ProcessorContext } from '../processor/context.js';
import { routeRequest } from '../processor/route-request.js';
import { requestScope } from '../processor/scope.js';
import { upstreamChanges } from '../processor/upstream-changes.js';
import { readRequestBody } from '../request/read-body.js';
import { isWebSocketUpgrade, splitPath, storesByDefault, type RequestView } from '../request/request-view.js';
import { storedObjectCall } from '../request/stored-object-call.js';
import type { Outcome } from '../routing/decide.js';
import { extractSignals, type Signals } from '../signals/signals.js';
import { ReadOnlyStore } from './read-only-store.js';

/** A request to explain, as `codex-affinity explain` and POST /admin/explain take it. */
export interface ExplainRequest {
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: unknown;
}

/**
 * A client value shown to an operator: a short digest, never the value (an explanation
 * may be pasted into a ticket). The same value always shows the same digest.
 */
export function fingerprint(value: string): string {
  return `sha256:${createHash('sha256').update(value).digest('hex').slice(0, 12)}`;
}

const WHY: Readonly<Record<Outcome, string>> = {
  bound: 'followed the account its binding or anchor names',
  domain_failover: 'its own account cannot take it now; another account of the same domain can read its encrypted content',
  moved: 'its soft binding pointed at an account that cannot take it now (see the candidates); moved by placement',
  new: 'a new session: weighted rendezvous placement of its sticky key over the accounts that take new sessions',
  parent: 'a sub-agent thread, placed beside its parent thread',
  unbound: 'no sticky key: the least loaded account',
  orphan: 'it carries state the store does not know: placed, and proved (or excluded) by the answer',
};

/** Header values shown as they are; every other value (credentials among them) is hidden. */
const SHOWN_HEADERS = new Set(['content-length', 'x-envoy-max-retries', 'openai-beta', 'x-codex-affinity-healed']);

function signalsFound(signals: Signals): Record<string, string | number | boolean> {
  const found: Record<string, string | number | boolean> = {};
  const strings: Array<[string, string | undefined]> = [
    ['turn_state', signals.turnState],
    ['session_header', signals.sessionHeader],
    ['thread_header', signals.threadHeader],
    ['window_id', signals.windowThread],
    ['turn_metadata', signals.turnMetadataSession],
    ['prompt_cache_key', signals.promptCacheKey],
    ['client_metadata', signals.clientMetadataSession],
    ['conversation', signals.conversation],
    ['previous_response', signals.previousResponseId],
    ['parent_thread', signals.parentThread],
  ];
  for (const [name, value] of strings) if (value !== undefined) found[name] = fingerprint(value);
  if (signals.hasEncryptedContent) found.encrypted_items = signals.encryptedItemIds.length;
  if (signals.hasStoredReference) found.stored_items = signals.storedItemIds.length;
  if (signals.store !== undefined) found.store = signals.store;
  if (signals.background) found.background = true;
  return found;
}

export interface Explanation {
  readonly request: { readonly path: string; readonly pool: string; readonly inference: boolean };
  readonly signals: Record<string, string | number | boolean>;
  readonly stickyKey: { readonly source: string; readonly value: string } | null;
  readonly strength: string;
  readonly anchorsLookedUp: ReadonlyArray<{ kind: string; values: number; found: { account: string; domain: string; strength: string; ageSeconds: number } | null }>;
  readonly sessionBinding: { account: string; strength: string; ageSeconds: number } | null;
  readonly candidates: readonly AccountStatus[];
  readonly decision:
    | { kind: 'route'; account: string; cluster: string; domain: string; outcome: Outcome; source: string; why: string; sessionWrite: string; hardenOnSuccess: boolean }
    | { kind: 'reject'; status: number; code: string; message: string }
    | { kind: 'pass_through'; why: string };
  readonly rewrites: {
    readonly setHeaders: ReadonlyArray<{ name: string; value: string }>;
    readonly removeHeaders: readonly string[];
    readonly bodyChanged: boolean;
    readonly bodyBytes: { before: number; after: number } | null;
  } | null;
}

/**
 * What the processor would do with a request, and why, without sending anything
 * upstream or changing any binding: signals, sticky key, strength, anchors looked up,
 * the account chosen, and the rewrites. Uses the live bindings when given the live
 * context (admin API), none when given a fresh one (CLI).
 */
export async function explainRequest(live: ProcessorContext, request: ExplainRequest): Promise<Explanation> {
  const metrics = new Metrics();
  // Explaining changes nothing: no binding written, no move counted, no usage-move budget spent.
  const context: ProcessorContext = { ...live, store: new ReadOnlyStore(live.store), metrics, balance: live.balance.dryRun(metrics) };
  const now = context.clock();
  const headers = new Map(Object.entries(request.headers).map(([name, value]) => [name.toLowerCase(), String(value)]));
  if (!headers.has(':method')) headers.set(':method', 'POST');
  const bodyBuffer = request.body === undefined ? Buffer.alloc(0) : Buffer.from(typeof request.body === 'string' ? request.body : JSON.stringify(request.body));
  if (bodyBuffer.length > 0 && !headers.has('content-type')) headers.set('content-type', 'application/json');
  const { path, query } = splitPath(headers.get(':path') ?? '');
  const view: RequestView = { method: headers.get(':method')!.toUpperCase(), path, query, headers, endOfStream: bodyBuffer.length === 0 };
  const upgrade = isWebSocketUpgrade(view);
  const scope = requestScope(headers, context.config.routing);
  const statuses = accountStatuses(context.directory, (account) => context.accountState.view(account, now), (account) => context.operatorState.isDrained(account), context.accountState.healthPolicy, now);
  const pool = context.directory.pools.get(scope.pool);
  const inference = context.inferencePaths.has(path) && (view.method === 'POST' || (upgrade && view.method === 'GET'));
  const objectCall = !inference && !upgrade && context.config.routing.storedObjectCalls ? storedObjectCall(view) : undefined;
  const base = { request: { path, pool: scope.pool, inference }, candidates: pool ? statuses.filter((status) => status.pools.includes(pool.name)) : [] };
  const nothing = { signals: {}, stickyKey: null, strength: 'none', anchorsLookedUp: [], sessionBinding: null, rewrites: null };
  if (!inference && !objectCall) {
    return { ...base, ...nothing, decision: { kind: 'pass_through', why: 'not an inference call nor a call on a stored object: passed through untouched (a client-sent cluster header is removed)' } };
  }
  if (!pool) return { ...base, ...nothing, decision: { kind: 'reject', status: 403, code: 'pool_not_found', message: 'The pool named by this request is not configured.' } };
  const prepared = objectCall || upgrade ? undefined : await readRequestBody(bodyBuffer, true, headers, context.config.limits.maxBodyBytes, context.metrics);
  if (prepared?.kind === 'too_large') return { ...base, ...nothing, decision: { kind: 'reject', status: 413, code: 'request_too_large', message: 'The request body is too large.' } };
  const body = prepared?.kind === 'json' ? prepared.body : undefined;
  let signals = extractSignals(headers, body);
  if (objectCall?.kind === 'conversation') signals = { ...signals, conversation: objectCall.id };
  if (objectCall?.kind === 'response') signals = { ...signals, previousResponseId: objectCall.id };
  const routed = await routeRequest(context, pool, scope, signals, body, {
    accountBoundTransport: upgrade,
    storesByDefault: storesByDefault(path),
    ...(objectCall ? { requires: objectCall.requires } : {}),
  });
  const age = (createdAt: number) => Math.max(0, Math.round((now - createdAt) / 1000));
  const anchorsLookedUp = routed.carried.map((state) => {
    const anchor = routed.anchors.find((entry) => entry.kind === state.kind);
    return {
      kind: state.kind,
      values: state.values.length,
      found: anchor ? { account: anchor.binding.account, domain: anchor.binding.domain, strength: anchor.binding.strength, ageSeconds: age(anchor.binding.createdAt) } : null,
    };
  });
  const session = routed.sessionBinding;
  const common = {
    ...base,
    signals: signalsFound(signals),
    stickyKey: routed.stickyKey ? { source: routed.stickyKey.source, value: fingerprint(routed.stickyKey.value) } : null,
    strength: routed.decision.strength,
    anchorsLookedUp,
    sessionBinding: session ? { account: session.account, strength: session.strength, ageSeconds: age(session.createdAt) } : null,
  };
  const decision = routed.decision;
  if (decision.kind === 'reject') return { ...common, decision: { kind: 'reject', status: decision.status, code: decision.code, message: decision.message }, rewrites: null };
  const changes = upstreamChanges(context, {
    view,
    scope,
    decision,
    signals,
    stickyKey: routed.stickyKey,
    body,
    upgrade,
    healed: false,
    healedBody: false,
    rewrite: objectCall === undefined,
  });
  const clusterHeader = context.config.routing.clusterHeader;
  return {
    ...common,
    decision: {
      kind: 'route',
      account: decision.account.name,
      cluster: decision.account.cluster,
      domain: decision.account.domain,
      outcome: decision.outcome,
      source: decision.source,
      why: WHY[decision.outcome],
      sessionWrite: decision.sessionWrite,
      hardenOnSuccess: decision.hardenOnSuccess,
    },
    rewrites: {
      setHeaders: changes.headers.set.map(([name, value]) => ({ name, value: name === clusterHeader || SHOWN_HEADERS.has(name) ? value : '(hidden)' })),
      removeHeaders: changes.headers.remove,
      bodyChanged: changes.body !== undefined,
      bodyBytes: changes.body !== undefined && body ? { before: body.buffer.length, after: changes.body.length } : null,
    },
  };
}
