import type { Pool } from '../accounts/account.js';
import type { BindingScope } from '../bindings/binding.js';
import type { RequestProcessor } from '../extproc/stream.js';
import { CONTINUE, type PhaseAnswer } from '../extproc/phase-answer.js';
import { pruneUnreadable, type PrunedRequest } from '../healing/prune-unreadable.js';
import { readRequestBody, type PreparedBody, type ReadableBody } from '../request/read-body.js';
import { isWebSocketUpgrade, splitPath, storesByDefault, type RequestView } from '../request/request-view.js';
import { referencedItemIds, storedObjectCall, type StoredObjectCall } from '../request/stored-object-call.js';
import { CLIENT_CREDENTIAL_HEADERS } from '../credentials/client-credentials.js';
import { extractSignals, type Signals } from '../signals/signals.js';
import type { ProcessorContext } from './context.js';
import { openAiError, processorUnavailable } from './errors.js';
import { ResponseHandler } from './response-handler.js';
import { routeRequest, type RoutedRequest } from './route-request.js';
import { ANONYMOUS_PRINCIPAL, requestScope } from './scope.js';
import { judgeUnknownReferences, type ReferenceVerdict } from '../tenancy/stored-references.js';
import { healAcrossDomains } from './heal-across-domains.js';
import { upstreamChanges } from './upstream-changes.js';

/** Shaped like the upstream's own answers for an object that does not exist, without echoing its id. */
const REFERENCE_REFUSALS: Partial<Record<string, { code: string; message: string; param: string }>> = {
  response: { code: 'previous_response_not_found', message: 'The previous response this request refers to was not found.', param: 'previous_response_id' },
  stored_item: { code: 'item_not_found', message: 'An item this request refers to was not found.', param: 'input' },
  conversation: { code: 'conversation_not_found', message: 'The conversation this request refers to was not found.', param: 'conversation' },
};

interface Healing {
  readonly droppedItems: number;
  readonly droppedPreviousResponse: boolean;
  readonly bodyChanged: boolean;
}

/** A call on a stored object carries that object as its state: the conversation, or the response by id. */
function objectCallSignals(headers: ReadonlyMap<string, string>, call: StoredObjectCall, itemIds: readonly string[]): Signals {
  const headerSignals = extractSignals(headers);
  const signals = itemIds.length > 0 ? { ...headerSignals, hasStoredReference: true, storedItemIds: itemIds } : headerSignals;
  if (call.kind === 'conversation') return { ...signals, conversation: call.id };
  if (call.kind === 'response') return { ...signals, previousResponseId: call.id };
  return signals;
}

/**
 * The phases of one HTTP request, in named steps: read (view, body, signals),
 * route (bindings → decision, routing/), rewrite (changes for the account,
 * upstream-changes.ts) and answer (one header mutation, at most one body).
 * Holds the request's own state between phases.
 */
export class AffinityRequestProcessor implements RequestProcessor {
  private view: RequestView | undefined;
  private scope: BindingScope | undefined;
  private pool: Pool | undefined;
  private response: ResponseHandler | undefined;
  private decided = false;
  private upgrade = false;
  private finished = false;
  private accountCounted: string | undefined;
  private objectCall: StoredObjectCall | undefined;
  /** Items a call on a stored object refers to by id (POST .../items, POST /v1/conversations). */
  private objectItemIds: readonly string[] = [];

  constructor(private readonly context: ProcessorContext) {}

  async requestHeaders(headers: Map<string, string>, endOfStream: boolean): Promise<PhaseAnswer> {
    const { config, metrics } = this.context;
    const clusterHeader = config.routing.clusterHeader;
    const { path, query } = splitPath(headers.get(':path') ?? '');
    const view: RequestView = { method: (headers.get(':method') ?? '').toUpperCase(), path, query, headers, endOfStream };
    // Only a GET opens a WebSocket; a POST that says "upgrade" is read like any POST.
    const upgrade = view.method === 'GET' && isWebSocketUpgrade(view);
    this.upgrade = upgrade;
    const inference = this.context.inferencePaths.has(view.path) && (view.method === 'POST' || (upgrade && view.method === 'GET'));
    this.objectCall = !inference && !upgrade && config.routing.storedObjectCalls ? storedObjectCall(view) : undefined;
    if (!inference && !this.objectCall) {
      metrics.passThrough.inc({ reason: 'not_inference' });
      this.decided = true;
      // Not ours: no body buffering, no response processing. A client-sent
      // cluster header must not steer Envoy to an account either.
      const passThrough: PhaseAnswer = { modeOverride: { requestBody: 'NONE', responseBody: 'NONE', responseHeaders: 'SKIP' } };
      // Where the pool lends its credentials, the client's credential is the gateway's key: never the upstream's business.
      const lending = this.context.directory.pools.get(requestScope(headers, config.routing).pool)?.tenancy.injectsCredentials === true;
      const remove = [...(headers.has(clusterHeader) ? [clusterHeader] : []), ...(lending ? CLIENT_CREDENTIAL_HEADERS.filter((name) => headers.has(name)) : [])];
      if (remove.length === 0) return passThrough;
      return { ...passThrough, headers: { set: [], remove }, clearRouteCache: true };
    }
    this.view = view;
    this.scope = requestScope(headers, config.routing);
    const pool = this.context.directory.pools.get(this.scope.pool);
    if (!pool) {
      this.decided = true;
      metrics.rejections.inc({ code: 'pool_not_found' });
      return { immediate: openAiError(403, 'pool_not_found', 'The pool named by this request is not configured.') };
    }
    this.pool = pool;
    if (this.scope.principal === ANONYMOUS_PRINCIPAL && pool.tenancy.anonymous === 'refuse') {
      // The pool lends its credentials: whoever uses them must be someone.
      this.decided = true;
      metrics.rejections.inc({ code: 'principal_required' });
      return {
        immediate: openAiError(401, 'principal_required', 'This gateway needs to know who is calling: send your gateway credential in the Authorization header.'),
      };
    }
    if (upgrade && pool.tenancy.websockets === 'refuse') {
      // A WebSocket's frames (previous_response_id, prompt_cache_key) pass out of the processor's sight.
      this.decided = true;
      metrics.rejections.inc({ code: 'websocket_not_allowed' });
      return {
        immediate: openAiError(403, 'websocket_not_allowed', 'This gateway does not open WebSocket sessions with shared credentials. Use HTTP (server-sent events) instead.'),
      };
    }
    if (endOfStream || upgrade) {
      // No body will come (or, for an upgrade, the request stream never ends):
      // decide on headers now, and for an upgrade turn the request body off so
      // Envoy does not wait for a body that never ends.
      const answer = await this.decide(undefined);
      return upgrade && !answer.immediate ? { ...answer, modeOverride: { requestBody: 'NONE', responseBody: 'NONE' } } : answer;
    }
    // A client-sent cluster header must not route this request even if a later
    // phase fails and answers "continue": drop it now, set ours with the body.
    if (headers.has(clusterHeader)) return { headers: { set: [], remove: [clusterHeader] }, clearRouteCache: true };
    return CONTINUE;
  }

  async requestBody(body: Buffer, endOfStream: boolean): Promise<PhaseAnswer> {
    if (this.decided || !this.view) return CONTINUE;
    // In BUFFERED mode this is the whole body; in a partial mode only the first
    // answer can still change headers, so the decision is taken here either way.
    // A call on a stored object is routed by its path: only POST /v1/conversations and
    // .../items have a body worth reading, for the items it refers to.
    if (this.objectCall && (this.objectCall.kind === 'response' || body.length === 0)) return this.decide(undefined);
    let prepared: PreparedBody;
    try {
      prepared = await readRequestBody(body, endOfStream, this.view.headers, this.context.config.limits.maxBodyBytes, this.context.metrics, this.context.bodyWorkers);
    } catch (error) {
      return this.failClosed(error);
    }
    if (prepared.kind === 'too_large') {
      this.decided = true;
      const limit = this.context.config.limits.maxBodyBytes;
      return { immediate: openAiError(413, 'request_too_large', `The request body is larger than this gateway accepts (${limit} bytes).`) };
    }
    const lends = this.pool!.tenancy.injectsCredentials;
    if (this.objectCall) {
      // Their items are item references like those of `input`: stored references like any other.
      const items = prepared.kind === 'json' ? referencedItemIds(prepared.body.buffer) : undefined;
      if (items === undefined && lends) return this.refuseUnreadable();
      this.objectItemIds = items ?? [];
      return this.decide(undefined);
    }
    if (prepared.kind === 'headers_only' && prepared.unreadable !== undefined && lends) return this.refuseUnreadable();
    return this.decide(prepared.kind === 'json' ? prepared.body : undefined);
  }

  /** A body the processor cannot read may hide references: where credentials are lent, it does not go upstream. */
  private refuseUnreadable(): PhaseAnswer {
    this.decided = true;
    this.context.metrics.rejections.inc({ code: 'unreadable_body' });
    return {
      immediate: openAiError(400, 'unreadable_body', 'The request body could not be read as JSON (check Content-Type and Content-Encoding).'),
    };
  }

  /**
   * Read, route, rewrite, answer; and fail closed: a request this processor could not
   * decide gets a 503 of its own, never Envoy's default route or the client's choice.
   */
  private async decide(requestBody: ReadableBody | undefined): Promise<PhaseAnswer> {
    this.decided = true;
    try {
      return await this.decideOrThrow(requestBody);
    } catch (error) {
      return this.failClosed(error);
    }
  }

  private failClosed(error: unknown): PhaseAnswer {
    const { metrics, logger } = this.context;
    this.decided = true;
    metrics.rejections.inc({ code: 'processor_unavailable' });
    metrics.phaseErrors.inc({ phase: 'decide' });
    // The error's name and message only: a stack or a cause could quote request values.
    logger.error({ err: error instanceof Error ? { name: error.name, message: error.message } : String(error) }, 'could not decide a request; answered 503');
    this.releaseInFlight();
    return { immediate: processorUnavailable() };
  }

  private async decideOrThrow(requestBody: ReadableBody | undefined): Promise<PhaseAnswer> {
    const { config, metrics, logger } = this.context;
    const view = this.view!;
    const pool = this.pool!;
    const scope = this.scope!;
    let body = requestBody;
    let signals = this.objectCall ? objectCallSignals(view.headers, this.objectCall, this.objectItemIds) : extractSignals(view.headers, body);
    let healing: Healing | undefined;
    const pruning = config.healing.enabled || this.context.balance.policy(pool.name).crossDomainHealing;
    if (pruning && body && (signals.hasEncryptedContent || signals.hasStoredReference || signals.previousResponseId !== undefined)) {
      // A healed session's client keeps resending its old reasoning: drop it on every turn.
      const pruned: PrunedRequest | undefined = await pruneUnreadable(this.context.store, scope, pool, view.headers, body, signals, this.context.clock());
      if (pruned) {
        ({ body, signals } = pruned);
        healing = { droppedItems: pruned.droppedItems, droppedPreviousResponse: pruned.droppedPreviousResponse, bodyChanged: true };
      }
    }
    let routed = await routeRequest(this.context, pool, scope, signals, body, {
      accountBoundTransport: this.upgrade,
      storesByDefault: storesByDefault(view.path),
      ...(this.objectCall ? { requires: this.objectCall.requires } : {}),
    });
    const references = await judgeUnknownReferences(this.context.store, pool, routed.unknownState);
    if (references.kind === 'refuse') return this.refuseReference(references);
    if (routed.decision.kind === 'reject' && routed.decision.code === 'account_domain_unavailable' && config.healing.enabled && !this.objectCall) {
      ({ routed, signals } = await this.rebindGoneSession(routed, signals, body));
      healing = { droppedItems: healing?.droppedItems ?? 0, droppedPreviousResponse: healing?.droppedPreviousResponse ?? false, bodyChanged: healing?.bodyChanged ?? false };
      metrics.heals.inc({ outcome: routed.decision.kind === 'route' ? 'rebound' : 'failed' });
      if (routed.decision.kind === 'route') {
        logger.warn({ pool: pool.name, account: routed.decision.account.name, droppedItems: healing.droppedItems, droppedPreviousResponse: healing.droppedPreviousResponse }, 'healed a session whose domain is gone');
      }
    } else if (routed.healAcrossDomains && body && routed.sessionKey && routed.decision.kind === 'route') {
      const healed = await healAcrossDomains(this.context, pool, scope, view.headers, body, { key: routed.sessionKey, account: routed.decision.account });
      if (healed) {
        ({ body, signals } = healed);
        routed = await routeRequest(this.context, pool, scope, signals, body, { accountBoundTransport: this.upgrade, storesByDefault: storesByDefault(view.path) });
        healing = { droppedItems: (healing?.droppedItems ?? 0) + healed.droppedItems, droppedPreviousResponse: healing?.droppedPreviousResponse ?? false, bodyChanged: true };
        metrics.heals.inc({ outcome: 'rebalanced' });
        this.context.balance.moved(pool.name, 'usage', healed.from.name, healed.to.name);
      }
    } else if (healing) {
      metrics.heals.inc({ outcome: 'pruned' });
    }
    const decision = routed.decision;
    if (decision.kind === 'reject') {
      metrics.rejections.inc({ code: decision.code });
      logger.warn({ pool: pool.name, code: decision.code, source: decision.source }, 'request rejected');
      return { immediate: openAiError(decision.status, decision.code, decision.message) };
    }
    const account = decision.account;
    // A repeated request_headers on one stream decides again: the earlier count ends first.
    this.releaseInFlight();
    if (!this.finished) {
      // The stream may have ended (cancelled) while the store answered.
      this.context.accountState.requestStarted(account.name);
      this.accountCounted = account.name;
    }
    metrics.requests.inc({ pool: pool.name, strength: decision.strength, source: decision.source, outcome: decision.outcome, account: account.name });
    if (decision.orphan) metrics.orphans.inc({ outcome: 'placed' });
    if (decision.anchorConflict) {
      metrics.anchorConflicts.inc({ source: decision.source });
      logger.info({ account: account.name, source: decision.source }, 'anchor overrides session binding');
    }

    const changes = upstreamChanges(this.context, {
      view,
      scope,
      decision,
      signals,
      stickyKey: routed.stickyKey,
      body,
      upgrade: this.upgrade,
      healed: healing !== undefined,
      healedBody: healing?.bodyChanged ?? false,
      rewrite: this.objectCall === undefined,
    });
    this.response = new ResponseHandler(this.context, {
      scope,
      decision,
      streamForced: changes.streamForced,
      requestBodyMode: this.upgrade ? 'NONE' : 'BUFFERED',
      healedHeader: healing ? `dropped-reasoning-items=${healing.droppedItems}${healing.droppedPreviousResponse ? '; dropped-previous-response' : ''}` : undefined,
      proof: { sessionKey: routed.sessionKey, hardenSession: decision.hardenOnSuccess, unknownState: routed.unknownState, orphan: decision.orphan, followsAnchor: decision.followsAnchor },
      placementKey: routed.placementKey,
      requestStored: body !== undefined && (signals.store ?? storesByDefault(view.path)) && !changes.storeForcedOff,
      routedAt: this.context.elapsed(),
    });
    return {
      headers: changes.headers,
      ...(changes.body !== undefined ? { body: changes.body } : {}),
      clearRouteCache: true,
      dynamicMetadata: {
        [config.routing.metadataNamespace]: {
          account: account.name,
          domain: account.domain,
          strength: decision.strength,
          source: decision.source,
          outcome: decision.outcome,
          ...(decision.moveReason ? { move_reason: decision.moveReason } : {}),
        },
      },
    };
  }

  /**
   * A stored reference this principal's bindings do not know. While the store is
   * degraded a miss proves nothing: the client gets a 503 to retry, not a 404.
   */
  private refuseReference(verdict: Extract<ReferenceVerdict, { kind: 'refuse' }>): PhaseAnswer {
    const { metrics, logger, store } = this.context;
    if (store.isDegraded === true && verdict.reason === 'unknown') {
      metrics.rejections.inc({ code: 'store_unavailable' });
      return { immediate: openAiError(503, 'store_unavailable', 'The gateway cannot look up the stored state this request refers to right now. Retry shortly.', 'server_error') };
    }
    const answer = REFERENCE_REFUSALS[verdict.reference] ?? REFERENCE_REFUSALS.response!;
    metrics.rejections.inc({ code: answer.code });
    metrics.storedReferenceRefusals.inc({ reason: verdict.reason });
    logger.info({ pool: this.pool!.name, reference: verdict.reference, reason: verdict.reason }, 'stored reference refused');
    return { immediate: openAiError(404, answer.code, answer.message, 'invalid_request_error', answer.param) };
  }

  /** Still bound to the gone domain (session binding or turn token): forget those and route again. */
  private async rebindGoneSession(routed: RoutedRequest, signals: Signals, body: ReadableBody | undefined): Promise<{ routed: RoutedRequest; signals: Signals }> {
    if (routed.sessionKey) {
      const [binding] = await this.context.store.read([routed.sessionKey]);
      if (binding) await this.context.store.deleteIf(routed.sessionKey, binding.version);
    }
    // The same signals without the turn-state token: the body is not read again.
    const { turnState: _forgotten, ...rebound } = signals;
    const options = { accountBoundTransport: this.upgrade, storesByDefault: storesByDefault(this.view!.path) };
    return { routed: await routeRequest(this.context, this.pool!, this.scope!, rebound, body, options), signals: rebound };
  }

  async responseHeaders(headers: Map<string, string>, endOfStream: boolean): Promise<PhaseAnswer> {
    return this.response ? this.response.headers(headers, endOfStream) : CONTINUE;
  }

  async responseBody(body: Buffer, endOfStream: boolean): Promise<PhaseAnswer> {
    return this.response ? this.response.body(body, endOfStream) : CONTINUE;
  }

  finish(): void {
    this.finished = true;
    // An error whose body never came is judged by its status.
    this.response?.settle();
    this.releaseInFlight();
  }

  private releaseInFlight(): void {
    if (this.accountCounted === undefined) return;
    this.context.accountState.requestFinished(this.accountCounted);
    this.accountCounted = undefined;
  }
}
