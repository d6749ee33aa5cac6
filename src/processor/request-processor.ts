import type { Pool } from '../accounts/account.js';
import type { BindingScope } from '../bindings/binding.js';
import { JsonScanError, scanJsonBody, type BodyScan } from '../body/json-scan.js';
import type { RequestProcessor } from '../extproc/stream.js';
import { CONTINUE, type HeaderChanges, type ImmediateAnswer, type PhaseAnswer } from '../extproc/phase-answer.js';
import { decodeBody } from '../body/decode.js';
import { continuityKey } from '../rewrite/continuity.js';
import { rewriteRequest } from '../rewrite/request-rewrite.js';
import { websocketHandshakeChanges } from '../rewrite/websocket-handshake.js';
import { isWebSocketUpgrade, JSON_CONTENT_TYPE, splitPath, type RequestView } from '../request/request-view.js';
import { extractSignals, TURN_STATE_HEADER, type Signals } from '../signals/signals.js';
import { chooseStickyKey } from '../signals/sticky-key.js';
import { healRequest } from '../healing/heal-request.js';
import type { ProcessorContext } from './context.js';
import { openAiError } from './errors.js';
import { ResponseHandler } from './response-handler.js';
import { bindingKey, type Binding } from '../bindings/binding.js';
import { routeRequest } from './route-request.js';
import { requestScope } from './scope.js';

type RequestBody = { buffer: Buffer; scan: BodyScan; decodedFrom: string | undefined };
type HealedRequest = { body: RequestBody | undefined; signals: Signals; droppedItems: number; droppedPreviousResponse: boolean; bodyChanged: boolean };
type PreparedBody = { kind: 'json'; body: RequestBody } | { kind: 'headers_only' } | { kind: 'reject'; answer: ImmediateAnswer };




/**
 * The phases of one HTTP request. Holds the request's own state between
 * phases; decisions come from routing/decide.ts, I/O from the context.
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

  constructor(private readonly context: ProcessorContext) {}

  async requestHeaders(headers: Map<string, string>, endOfStream: boolean): Promise<PhaseAnswer> {
    const { config, metrics } = this.context;
    const clusterHeader = config.routing.clusterHeader;
    const { path, query } = splitPath(headers.get(':path') ?? '');
    const view: RequestView = { method: (headers.get(':method') ?? '').toUpperCase(), path, query, headers, endOfStream };
    const upgrade = isWebSocketUpgrade(view);
    this.upgrade = upgrade;
    const inference = this.context.inferencePaths.has(view.path) && (view.method === 'POST' || (upgrade && view.method === 'GET'));
    if (!inference) {
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
    const prepared = this.prepareBody(body, endOfStream);
    if (prepared.kind === 'reject') {
      this.decided = true;
      return { immediate: prepared.answer };
    }
    return this.decide(prepared.kind === 'json' ? prepared.body : undefined);
  }

  /** The body as JSON to read and edit: decoded, size-checked, scanned; or why not. */
  private prepareBody(body: Buffer, endOfStream: boolean): PreparedBody {
    const { metrics, config } = this.context;
    const headers = this.view!.headers;
    const tooLarge = (): PreparedBody => {
      metrics.bodyRejections.inc({ code: 'request_too_large' });
      return {
        kind: 'reject',
        answer: openAiError(413, 'request_too_large', `The request body is larger than this gateway accepts (${config.limits.maxBodyBytes} bytes).`),
      };
    };
    if (body.length > config.limits.maxBodyBytes) return tooLarge();
    const headersOnly = (reason: string): PreparedBody => {
      metrics.bodyScanFailures.inc({ reason });
      return { kind: 'headers_only' };
    };
    if (!endOfStream) return headersOnly('partial_body');
    if (body.length === 0) return { kind: 'headers_only' };
    const contentType = headers.get('content-type');
    if (contentType !== undefined && !JSON_CONTENT_TYPE.test(contentType.trim())) return headersOnly('content_type');
    const decoded = decodeBody(body, headers.get('content-encoding'), config.limits.maxBodyBytes);
    if (decoded.kind === 'too_large') return tooLarge();
    if (decoded.kind === 'unknown_encoding') return headersOnly('content_encoding');
    if (decoded.kind === 'corrupt') return headersOnly('corrupt_encoding');
    const buffer = decoded.kind === 'decoded' ? decoded.body : body;
    try {
      return { kind: 'json', body: { buffer, scan: scanJsonBody(buffer), decodedFrom: decoded.kind === 'decoded' ? decoded.encoding : undefined } };
    } catch (error) {
      if (!(error instanceof JsonScanError)) throw error;
      return headersOnly('malformed_json');
    }
  }

  private async decide(requestBody: RequestBody | undefined): Promise<PhaseAnswer> {
    let body = requestBody;
    this.decided = true;
    const { config, metrics, logger } = this.context;
    const view = this.view!;
    const pool = this.pool!;
    let signals = extractSignals(view.headers, body);
    let healed: HealedRequest | undefined;
    if (config.healing.enabled && body && (signals.hasEncryptedContent || signals.previousResponseId !== undefined)) {
      // A healed session's client keeps resending its old reasoning: drop it on every turn.
      healed = await this.pruneUnreadable(body, signals);
      if (healed) ({ body, signals } = healed);
    }
    let { decision, stickyKey, sessionKey } = await routeRequest(this.context, pool, this.scope!, signals, body, { accountBoundTransport: this.upgrade });
    if (decision.kind === 'reject' && decision.code === 'account_domain_unavailable' && config.healing.enabled) {
      // Still bound to the gone domain (session binding or turn token): forget those and rebind.
      if (sessionKey) await this.context.store.delete(sessionKey);
      const headers = new Map(view.headers);
      headers.delete(TURN_STATE_HEADER);
      signals = extractSignals(headers, body);
      healed = { body, signals, droppedItems: healed?.droppedItems ?? 0, droppedPreviousResponse: healed?.droppedPreviousResponse ?? false, bodyChanged: healed?.bodyChanged ?? false };
      ({ decision, stickyKey, sessionKey } = await routeRequest(this.context, pool, this.scope!, signals, body, { accountBoundTransport: this.upgrade }));
      metrics.heals.inc({ outcome: decision.kind === 'route' ? 'rebound' : 'failed' });
      if (decision.kind === 'route') {
        logger.warn({ pool: pool.name, account: decision.account.name, droppedItems: healed.droppedItems, droppedPreviousResponse: healed.droppedPreviousResponse }, 'healed a session whose domain is gone');
      }
    } else if (healed) {
      metrics.heals.inc({ outcome: 'pruned' });
    }
    if (decision.kind === 'reject') {
      metrics.rejections.inc({ code: decision.code });
      logger.warn({ pool: pool.name, code: decision.code, source: decision.source }, 'request rejected');
      return { immediate: openAiError(decision.status, decision.code, decision.message) };
    }
    const account = decision.account;
    if (!this.finished) {
      // The stream may have ended (cancelled) while the store answered.
      this.context.accountState.requestStarted(account.name);
      this.accountCounted = account.name;
      metrics.inFlight.inc({ account: account.name });
    }
    metrics.requests.inc({ pool: pool.name, strength: decision.strength, source: decision.source, outcome: decision.outcome, account: account.name });
    if (decision.anchorConflict) {
      metrics.anchorConflicts.inc({ source: decision.source });
      logger.info({ account: account.name, source: decision.source }, 'anchor overrides session binding');
    }

    const set: Array<readonly [string, string]> = [[config.routing.clusterHeader, account.cluster]];
    const remove: string[] = [];
    if (config.routing.retryGuard && decision.strength === 'hard') set.push(['x-envoy-max-retries', '0']);
    let newBody: Buffer | undefined;
    let streamForced = false;
    if (config.rewrite.enabled) {
      const rewrite = rewriteRequest({
        path: view.path,
        query: view.query,
        headers: view.headers,
        body,
        rules: this.context.rewriteRules.get(account.name)!,
        continuity: config.rewrite.continuity ? continuityKey(this.scope!, stickyKey, signals.promptCacheKey) : undefined,
        sessionHeaders: config.rewrite.sessionHeaders,
      });
      set.push(...rewrite.setHeaders);
      remove.push(...rewrite.removeHeaders);
      for (const rule of rewrite.applied) metrics.rewrites.inc({ account: account.name, rule });
      newBody = rewrite.body;
      streamForced = rewrite.applied.includes('force:stream');
    }
    if (healed) {
      // The healed body goes upstream even when the profile changes nothing more.
      newBody ??= healed.bodyChanged ? body?.buffer : undefined;
      if (view.headers.has(TURN_STATE_HEADER)) remove.push(TURN_STATE_HEADER);
    }
    this.response = new ResponseHandler(this.context, {
      scope: this.scope!,
      decision,
      streamForced,
      requestBodyMode: this.upgrade ? 'NONE' : 'BUFFERED',
      healedHeader: healed ? `dropped-reasoning-items=${healed.droppedItems}${healed.droppedPreviousResponse ? '; dropped-previous-response' : ''}` : undefined,
      hardenSession: sessionKey
        ? async () => {
            const now = this.context.clock();
            await this.context.store.put(sessionKey, { account: account.name, domain: account.domain, strength: 'hard', createdAt: now, lastSeenAt: now }, config.bindings.sessionTtl);
            metrics.bindingsWritten.inc({ kind: 'session', mode: 'harden' });
          }
        : undefined,
    });
    if (this.upgrade) {
      const handshake = websocketHandshakeChanges(view.headers, config.rewrite.websocketBeta);
      set.push(...handshake.set);
      remove.push(...handshake.remove);
    }
    // The processor reads response bodies (ids, usage, errors): ask the upstream for
    // identity encoding. Envoy's compressor filter can still compress for the client.
    if (view.headers.has('accept-encoding')) remove.push('accept-encoding');
    const credentials = this.context.credentials.headersFor(account.name, view.headers);
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
    const headers: HeaderChanges = { set, remove: [...new Set(remove)] };
    return {
      headers,
      ...(newBody !== undefined ? { body: newBody } : {}),
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

  /**
   * Drops from the body what no live domain can read: encrypted items whose
   * learned domain is gone (or unknown) and a previous_response_id no live
   * domain holds. Undefined when nothing had to go.
   */
  private async pruneUnreadable(body: RequestBody, signals: Signals): Promise<HealedRequest | undefined> {
    const { store, config } = this.context;
    const scope = this.scope!;
    const liveDomains = new Set(this.pool!.accounts.map((account) => account.domain));
    const poolAccounts = new Set(this.pool!.accounts.map((account) => account.name));
    const isLive = (binding: Binding): boolean => poolAccounts.has(binding.account) || liveDomains.has(binding.domain);
    const itemIds = [...signals.encryptedItemIds];
    const itemBindings = new Map<string, Binding>();
    const found = await store.getMany(itemIds.map((id) => bindingKey(scope, 'item', id)), config.bindings.responseTtl);
    itemIds.forEach((id, index) => {
      const binding = found[index];
      if (binding) itemBindings.set(id, binding);
    });
    const previousResponseBinding =
      signals.previousResponseId !== undefined ? await store.get(bindingKey(scope, 'response', signals.previousResponseId), config.bindings.responseTtl) : undefined;
    // Only a request that refers to a gone domain is touched; unknown items alone are no reason.
    const goneDomain =
      [...itemBindings.values(), ...(previousResponseBinding ? [previousResponseBinding] : [])].find((binding) => !isLive(binding))?.domain ??
      (await this.goneSessionDomain(signals, isLive));
    if (goneDomain === undefined) return undefined;
    const healing = healRequest({ body: body.buffer, scan: body.scan, itemBindings, previousResponseBinding, isLive });
    if (!healing.body) return undefined;
    // The client keeps resending these items; remember they belong to the gone domain,
    // so later turns (when the session is bound again) still drop them.
    const now = this.context.clock();
    await Promise.all(
      healing.droppedUnknownIds.map((id) =>
        store.put(bindingKey(scope, 'item', id), { account: '', domain: goneDomain, strength: 'hard', createdAt: now, lastSeenAt: now }, config.bindings.responseTtl),
      ),
    );
    const healedBody: RequestBody = { buffer: healing.body, scan: scanJsonBody(healing.body), decodedFrom: body.decodedFrom };
    return {
      body: healedBody,
      signals: extractSignals(this.view!.headers, healedBody),
      droppedItems: healing.droppedItems,
      droppedPreviousResponse: healing.droppedPreviousResponse,
      bodyChanged: true,
    };
  }

  /** The domain of the request's session binding when no configured account is left in it. */
  private async goneSessionDomain(signals: Signals, isLive: (binding: Binding) => boolean): Promise<string | undefined> {
    const stickyKey = chooseStickyKey(signals);
    if (!stickyKey) return undefined;
    const binding = await this.context.store.get(bindingKey(this.scope!, 'session', stickyKey.value), this.context.config.bindings.sessionTtl);
    return binding === undefined || isLive(binding) ? undefined : binding.domain;
  }

  async responseHeaders(headers: Map<string, string>, endOfStream: boolean): Promise<PhaseAnswer> {
    return this.response ? this.response.headers(headers, endOfStream) : CONTINUE;
  }

  async responseBody(body: Buffer, endOfStream: boolean): Promise<PhaseAnswer> {
    return this.response ? this.response.body(body, endOfStream) : CONTINUE;
  }

  finish(): void {
    this.finished = true;
    if (this.accountCounted !== undefined) {
      this.context.accountState.requestFinished(this.accountCounted);
      this.context.metrics.inFlight.dec({ account: this.accountCounted });
      this.accountCounted = undefined;
    }
  }
}
