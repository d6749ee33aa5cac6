import type { Account } from '../accounts/account.js';
import type { BindingScope } from '../bindings/binding.js';
import type { HeaderChanges } from '../extproc/phase-answer.js';
import type { ReadableBody } from '../request/read-body.js';
import type { RequestView } from '../request/request-view.js';
import { continuityKey } from '../rewrite/continuity.js';
import { rewriteRequest } from '../rewrite/request-rewrite.js';
import { NO_PROFILE_RULES } from '../rewrite/profiles.js';
import { websocketHandshakeChanges } from '../rewrite/websocket-handshake.js';
import type { RouteDecision } from '../routing/decide.js';
import { TURN_STATE_HEADER, type Signals } from '../signals/signals.js';
import type { StickyKey } from '../signals/sticky-key.js';
import type { ProcessorContext } from './context.js';

export interface UpstreamChanges {
  readonly headers: HeaderChanges;
  /** The new body, only when it changed. */
  readonly body: Buffer | undefined;
  /** The profile forced a stream the client did not ask for. */
  readonly streamForced: boolean;
  /** The profile turned storage off (store: false). */
  readonly storeForcedOff: boolean;
}

export interface UpstreamRequest {
  readonly view: RequestView;
  readonly scope: BindingScope;
  readonly decision: RouteDecision;
  readonly signals: Signals;
  readonly stickyKey: StickyKey | undefined;
  readonly body: ReadableBody | undefined;
  readonly upgrade: boolean;
  /** Healing changed the body: it goes upstream even when the profile changes nothing more. */
  readonly healedBody: boolean;
  readonly healed: boolean;
  /** Profile rewrites apply to inference calls only (not to calls on stored objects). */
  readonly rewrite: boolean;
}

/**
 * Everything the request needs on its way to the chosen account, as one
 * header mutation and at most one body: the cluster header, the retry guard,
 * the profile's rewrites, the WebSocket handshake, credentials, and a
 * content-length that matches the body Envoy will send.
 */
export function upstreamChanges(context: ProcessorContext, request: UpstreamRequest): UpstreamChanges {
  const { config, metrics } = context;
  const { view, decision, body } = request;
  const account: Account = decision.account;
  const set: Array<readonly [string, string]> = [[config.routing.clusterHeader, account.cluster]];
  const remove: string[] = [];
  if (config.routing.retryGuard && decision.strength === 'hard') set.push(['x-envoy-max-retries', '0']);
  let newBody: Buffer | undefined;
  let streamForced = false;
  let storeForcedOff = false;
  // Tenants who borrow the account's credential must not share its cache keys, whether or not profiles rewrite.
  const isolate = context.credentials.has(account.name);
  if ((config.rewrite.enabled || isolate) && request.rewrite) {
    const rewrite = rewriteRequest({
      path: view.path,
      query: view.query,
      headers: view.headers,
      body,
      rules: config.rewrite.enabled ? context.rewriteRules.get(account.name)! : NO_PROFILE_RULES,
      continuity: config.rewrite.continuity || isolate ? continuityKey(request.scope, request.stickyKey, request.signals.promptCacheKey, isolate) : undefined,
      sessionHeaders: config.rewrite.sessionHeaders,
      isolate,
    });
    set.push(...rewrite.setHeaders);
    remove.push(...rewrite.removeHeaders);
    for (const rule of rewrite.applied) metrics.rewrites.inc({ account: account.name, rule });
    newBody = rewrite.body;
    streamForced = rewrite.applied.includes('force:stream');
    storeForcedOff = rewrite.applied.includes('force:store');
  }
  if (request.healed) {
    newBody ??= request.healedBody ? body?.buffer : undefined;
    if (view.headers.has(TURN_STATE_HEADER)) remove.push(TURN_STATE_HEADER);
  }
  if (request.upgrade) {
    const handshake = websocketHandshakeChanges(view.headers, config.rewrite.websocketBeta);
    set.push(...handshake.set);
    remove.push(...handshake.remove);
  }
  // The processor reads response bodies (ids, usage, errors): ask the upstream for
  // identity encoding. Envoy's compressor filter can still compress for the client.
  if (view.headers.has('accept-encoding')) remove.push('accept-encoding');
  const credentials = context.credentials.headersFor(account.name, view.headers);
  set.push(...credentials.set);
  remove.push(...credentials.remove);
  if (newBody !== undefined) {
    // Envoy checks the new length against content-length in this same answer.
    if (view.headers.has('content-length') || body?.decodedFrom !== undefined) set.push(['content-length', String(newBody.length)]);
    if (body?.decodedFrom !== undefined) remove.push('content-encoding');
  } else if (body?.decodedFrom === undefined && remove.includes('content-length')) {
    // Never drop content-length of a body that stays.
    remove.splice(remove.indexOf('content-length'), 1);
  }
  return { headers: { set, remove: [...new Set(remove)] }, body: newBody, streamForced, storeForcedOff };
}
