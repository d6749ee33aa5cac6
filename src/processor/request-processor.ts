import type { Pool } from '../accounts/account.js';
import type { BindingScope } from '../bindings/binding.js';
import type { RequestProcessor } from '../extproc/stream.js';
import { CONTINUE, type PhaseAnswer } from '../extproc/phase-answer.js';
import { pruneUnreadable, type PrunedRequest } from '../healing/prune-unreadable.js';
import { readRequestBody, type ReadableBody } from '../request/read-body.js';
import { isWebSocketUpgrade, splitPath, storesByDefault, type RequestView } from '../request/request-view.js';
import { storedObjectCall, type StoredObjectCall } from '../request/stored-object-call.js';
import { extractSignals, type Signals } from '../signals/signals.js';
import type { ProcessorContext } from './context.js';
import { openAiError } from './errors.js';
import { ResponseHandler } from './response-handler.js';
import { routeRequest, type RoutedRequest } from './route-request.js';
import { requestScope } from './scope.js';
import { upstreamChanges } from './upstream-changes.js';

interface Healing {
  readonly droppedItems: number;
  readonly droppedPreviousResponse: boolean;
  readonly bodyChanged: boolean;
}

/** A call on a stored object carries that object as its state: the conversation, or the response by id. */
function objectCallSignals(headers: ReadonlyMap<string, string>, call: StoredObjectCall): Signals {
  const signals = extractSignals(headers);
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

  constructor(private readonly context: ProcessorContext) {}

  async requestHeaders(headers: Map<string, string>, endOfStream: boolean): Promise<PhaseAnswer> {
    const { config, metrics } = this.context;
    const clusterHeader = config.routing.clusterHeader;
    const { path, query } = splitPath(headers.get(':path') ?? '');
    const view: RequestView = { method: (headers.get(':method') ?? '').toUpperCase(), path, query, headers, endOfStream };
    const upgrade = isWebSocketUpgrade(view);
    this.upgrade = upgrade;
    const inference = this.context.inferencePaths.has(view.path) && (view.method === 'POST' || (upgrade && view.method === 'GET'));
    this.objectCall = !inference && !upgrade && config.routing.storedObjectCalls ? storedObjectCall(view) : undefined;
    if (!inference && !this.objectCall) {
      metrics.passThrough.inc({ reason: 'not_inference' });
      this.decided = true;
      // Not ours: no body buffering, no response processing. A client-sent
      // cluster header must not steer Envoy to an account either.
      const passThrough: PhaseAnswer = { modeOverride: { requestBody: 'NONE', responseBody: 'NONE', responseHeaders: 'SKIP' } };
      if (!headers.has(clusterHeader)) return passThrough;
      return { ...passThrough, headers: { set: [], remove: [clusterHeader] }, clearRouteCache: true };
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
    // A call on a stored object is routed by its path: its body is not read.
    if (this.objectCall) return this.decide(undefined);
    const prepared = await readRequestBody(body, endOfStream, this.view.headers, this.context.config.limits.maxBodyBytes, this.context.metrics, this.context.bodyWorkers);
    if (prepared.kind === 'too_large') {
      this.decided = true;
      const limit = this.context.config.limits.maxBodyBytes;
      return { immediate: openAiError(413, 'request_too_large', `The request body is larger than this gateway accepts (${limit} bytes).`) };
    }
    return this.decide(prepared.kind === 'json' ? prepared.body : undefined);
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
      const { metrics, logger } = this.context;
      metrics.rejections.inc({ code: 'processor_unavailable' });
      metrics.phaseErrors.inc({ phase: 'decide' });
      logger.error({ err: error instanceof Error ? { name: error.name, message: error.message } : String(error) }, 'could not decide a request; answered 503');
      this.releaseInFlight();
      return {
        immediate: openAiError(503, 'processor_unavailable', 'The gateway could not route this request to an upstream account. Retry shortly.', 'server_error'),
      };
    }
  }

  private async decideOrThrow(requestBody: ReadableBody | undefined): Promise<PhaseAnswer> {
    const { config, metrics, logger } = this.context;
    const view = this.view!;
    const pool = this.pool!;
    const scope = this.scope!;
    let body = requestBody;
    let signals = this.objectCall ? objectCallSignals(view.headers, this.objectCall) : extractSignals(view.headers, body);
    let healing: Healing | undefined;
    if (config.healing.enabled && body && (signals.hasEncryptedContent || signals.hasStoredReference || signals.previousResponseId !== undefined)) {
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
    if (routed.decision.kind === 'reject' && routed.decision.code === 'account_domain_unavailable' && config.healing.enabled && !this.objectCall) {
      ({ routed, signals } = await this.rebindGoneSession(routed, signals, body));
      healing = { droppedItems: healing?.droppedItems ?? 0, droppedPreviousResponse: healing?.droppedPreviousResponse ?? false, bodyChanged: healing?.bodyChanged ?? false };
      metrics.heals.inc({ outcome: routed.decision.kind === 'route' ? 'rebound' : 'failed' });
      if (routed.decision.kind === 'route') {
        logger.warn({ pool: pool.name, account: routed.decision.account.name, droppedItems: healing.droppedItems, droppedPreviousResponse: healing.droppedPreviousResponse }, 'healed a session whose domain is gone');
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
      metrics.inFlight.inc({ account: account.name });
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
        },
      },
    };
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
    this.context.metrics.inFlight.dec({ account: this.accountCounted });
    this.accountCounted = undefined;
  }
}
