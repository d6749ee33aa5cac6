import type { Account } from '../accounts/account.js';
import type { BindingKey, BindingScope } from '../bindings/binding.js';
import { CONTINUE, type PhaseAnswer } from '../extproc/phase-answer.js';
import { decodeBody } from '../body/decode.js';
import type { RouteDecision } from '../routing/decide.js';
import { classifyError, isAccountBoundError, type ErrorClassification } from '../responses/classify-error.js';
import { factsFromResponseObject } from '../responses/response-facts.js';
import { SseInspector } from '../responses/sse-inspector.js';
import { budgetReading, cooldownUntil, exhaustedUntil, usageReading } from '../responses/upstream-limits.js';
import { TURN_STATE_HEADER } from '../signals/signals.js';
import { JSON_CONTENT_TYPE } from '../request/request-view.js';
import type { ProcessorContext } from './context.js';
import { excludeAfterRefusal, learnResponseFacts, learnTurnState, recordProof } from './learn-response.js';
import type { CarriedState } from './route-request.js';

/** Response header telling the client its session cannot move to another account. */
export const ACCOUNT_BOUND_HEADER = 'x-codex-affinity-session';
/** Response header telling the client its session was healed (earlier hidden reasoning dropped). */
export const HEALED_HEADER = 'x-codex-affinity-healed';


type Reading =
  | { kind: 'none' }
  | { kind: 'sse'; inspector: SseInspector }
  | { kind: 'sse_to_json'; chunks: Buffer[]; size: number }
  | { kind: 'json'; chunks: Buffer[]; size: number }
  | { kind: 'error'; status: number; chunks: Buffer[]; size: number };

function statusClass(status: number): string {
  return Number.isFinite(status) && status >= 100 && status < 600 ? `${Math.floor(status / 100)}xx` : 'other';
}

export interface ResponseHandlerOptions {
  readonly scope: BindingScope;
  readonly decision: RouteDecision;
  /** What a 2xx from the account proves (session binding, state whose owner was unknown). */
  readonly proof: {
    readonly sessionKey: BindingKey | undefined;
    readonly hardenSession: boolean;
    readonly unknownState: readonly CarriedState[];
    readonly orphan: boolean;
    readonly followsAnchor: boolean;
  };
  /** The request as sent asked the upstream to store the response (store true or absent, after rewrites). */
  readonly requestStored: boolean;
  /** Where an orphan's refusal is remembered. */
  readonly placementKey: BindingKey | undefined;
  /** The client did not ask for a stream but the profile forced one: answer it JSON. */
  readonly streamForced: boolean;
  /** The request body mode in force (mode_override body modes are literal, so it is echoed). */
  readonly requestBodyMode: 'NONE' | 'BUFFERED';
  /** Set when the request was healed: the client is told in this response header's value. */
  readonly healedHeader: string | undefined;
  /** When the request was routed (context.elapsed): latencies to headers and first event count from here. */
  readonly routedAt: number;
}

/**
 * The response side of one routed request: account state from statuses and
 * rate-limit headers, error classification (buffered error bodies, SSE error
 * events), learning of response ids, items and turn-state tokens, and turning a
 * forced stream back into the JSON its client asked for.
 */
export class ResponseHandler {
  private reading: Reading = { kind: 'none' };
  /** An error status whose effect on the account waits for its body (the body says what it concerns). */
  private pendingVerdict: { readonly status: number; readonly cooldownFromHeaders: number | undefined } | undefined;
  /** The response's content-encoding, when not identity (bodies are decoded before reading). */
  private encoding: string | undefined;
  private readonly account: Account;
  /** A success status arrived; proof is recorded once the answer is known to be no error. */
  private proofPending = false;
  /** The turn-state token a success issued: learned with the proof (a failed stream's token is not). */
  private issuedToken: string | undefined;
  /** A streamed success this handler cannot read (compressed): its outcome stays unknown. */
  private streamUnread = false;
  /** The first body chunk of a stream was timed (time to first event). */
  private firstEventTimed = false;

  constructor(
    private readonly context: ProcessorContext,
    private readonly options: ResponseHandlerOptions,
  ) {
    this.account = options.decision.account;
  }

  async headers(headers: Map<string, string>, endOfStream: boolean): Promise<PhaseAnswer> {
    const { metrics, accountState, clock } = this.context;
    const account = this.account;
    const status = Number(headers.get(':status'));
    const now = clock();
    const encoding = headers.get('content-encoding')?.trim().toLowerCase();
    this.encoding = encoding && encoding !== 'identity' ? encoding : undefined;
    metrics.upstreamResponses.inc({ account: account.name, status_class: statusClass(status) });
    this.measureHeaders(status, headers, now);
    const usage = usageReading(headers, now);
    if (usage !== undefined) accountState.recordUsage(account.name, usage.percent, now, usage.resetsAt);
    const budget = budgetReading(headers, now);
    if (budget !== undefined) accountState.recordBudget(account.name, budget.percent, now, budget.resetsAt);
    const exhausted = exhaustedUntil(headers, now);
    if (exhausted !== undefined) accountState.coolDown(account.name, exhausted);

    if (status === 429) {
      // What the 429 concerns (the account, or this request alone) is in its body: the
      // verdict waits for it when Envoy sends it, else the headers decide.
      this.pendingVerdict = { status, cooldownFromHeaders: cooldownUntil(headers, now) };
    } else if (status >= 500) {
      accountState.recordFailure(account.name, now);
    } else if ((status === 401 || status === 403) && this.context.credentials.has(account.name)) {
      // Only the credential the processor injects is the account's; without one, a 401
      // is about the client's own key and must not take the account from other tenants.
      this.pendingVerdict = { status, cooldownFromHeaders: undefined };
    } else if ((status >= 200 && status < 300) || status === 101) {
      accountState.recordSuccess(account.name);
      const token = headers.get(TURN_STATE_HEADER)?.trim();
      if (token && token.length <= 1024) this.issuedToken = token;
      this.proofPending = true;
    }
    const answer = await this.readingFor(status, headers, endOfStream);
    if (this.reading.kind !== 'error') this.settle();
    // A stream can still fail after its 200 (an error event): its proof waits for its end.
    if (this.proofPending && this.reading.kind !== 'sse' && this.reading.kind !== 'sse_to_json') await this.prove();
    if (this.options.healedHeader === undefined) return answer;
    return { ...answer, headers: { set: [...(answer.headers?.set ?? []), [HEALED_HEADER, this.options.healedHeader]], remove: answer.headers?.remove ?? [] } };
  }

  /**
   * Balancing's measurements: time to headers for every answer; a server error
   * (5xx) counts as a failed outcome now, a success now unless it is a stream
   * (whose outcome is known at its end).
   */
  private measureHeaders(status: number, headers: Map<string, string>, now: number): void {
    const { balance, elapsed } = this.context;
    balance.recordHeaders(this.account.name, elapsed() - this.options.routedAt, now);
    if (status >= 500) balance.recordOutcome(this.account.name, true, now);
    else if (status >= 200 && status < 300 && !(headers.get('content-type') ?? '').toLowerCase().startsWith('text/event-stream')) balance.recordOutcome(this.account.name, false, now);
  }

  /** Which part of the response body to read, asked for through mode_override. */
  private async readingFor(status: number, headers: Map<string, string>, endOfStream: boolean): Promise<PhaseAnswer> {
    const { config } = this.context;
    if (endOfStream) return CONTINUE;

    const contentType = (headers.get('content-type') ?? '').toLowerCase();
    const length = Number(headers.get('content-length'));
    const fits = !(Number.isFinite(length) && length > config.responses.maxInspectBytes);
    const requestBody = this.options.requestBodyMode;
    const buffered: PhaseAnswer = { modeOverride: { requestBody, responseBody: 'BUFFERED' } };
    if (status >= 400) {
      if (!fits) return CONTINUE;
      this.reading = { kind: 'error', status, chunks: [], size: 0 };
      return buffered;
    }
    if (status < 200 || status >= 300) return CONTINUE;
    if (contentType.startsWith('text/event-stream')) {
      if (this.options.streamForced) {
        this.reading = { kind: 'sse_to_json', chunks: [], size: 0 };
        return buffered;
      }
      if (this.encoding !== undefined || !config.responses.inspectStreams) {
        // A compressed stream, or any stream when the operator chose not to hold chunks, is
        // not inspected: whether it ends in an error is never known.
        this.streamUnread = true;
        return CONTINUE;
      }
      this.reading = { kind: 'sse', inspector: new SseInspector(config.responses.maxInspectBytes) };
      return { modeOverride: { requestBody, responseBody: 'STREAMED' } };
    }
    if (JSON_CONTENT_TYPE.test(contentType) && fits && config.responses.learnResponseIds) {
      this.reading = { kind: 'json', chunks: [], size: 0 };
      return buffered;
    }
    return CONTINUE;
  }

  async body(chunk: Buffer, endOfStream: boolean): Promise<PhaseAnswer> {
    const reading = this.reading;
    if (reading.kind === 'none') return CONTINUE;
    if (reading.kind === 'sse') {
      if (!this.firstEventTimed && chunk.length > 0) {
        this.firstEventTimed = true;
        this.context.balance.recordFirstEvent(this.account.name, this.context.elapsed() - this.options.routedAt, this.context.clock());
      }
      for (const facts of reading.inspector.push(chunk)) await this.learn(facts);
      if (reading.inspector.finished) {
        this.reading = { kind: 'none' };
        this.context.balance.recordOutcome(this.account.name, reading.inspector.streamError !== undefined, this.context.clock());
        if (reading.inspector.streamError !== undefined) await this.onError(200, reading.inspector.streamError);
        // An abandoned reading (an oversized event) knows nothing of the end: no proof.
        else if (!reading.inspector.abandoned) await this.prove();
      }
      return CONTINUE;
    }
    reading.chunks.push(chunk);
    reading.size += chunk.length;
    if (reading.size > this.context.config.responses.maxInspectBytes) {
      this.reading = { kind: 'none' };
      this.settle();
      return CONTINUE;
    }
    if (!endOfStream) return CONTINUE;
    this.reading = { kind: 'none' };
    const received = Buffer.concat(reading.chunks);
    const decoded = decodeBody(received, this.encoding, this.context.config.responses.maxInspectBytes);
    if (decoded.kind !== 'identity' && decoded.kind !== 'decoded') {
      this.settle();
      return CONTINUE;
    }
    const whole = decoded.kind === 'decoded' ? decoded.body : received;
    if (reading.kind === 'sse_to_json') return this.streamToJson(whole);
    let parsed: unknown;
    try {
      parsed = JSON.parse(whole.toString('utf8'));
    } catch {
      parsed = whole.toString('utf8').slice(0, 4096);
    }
    if (reading.kind === 'json') {
      await this.learn(factsFromResponseObject(parsed));
      return CONTINUE;
    }
    const classification = await this.onError(reading.status, parsed);
    return isAccountBoundError(classification.errorClass)
      ? { headers: { set: [[ACCOUNT_BOUND_HEADER, 'account-bound']], remove: [] }, dynamicMetadata: this.metadata(classification) }
      : { dynamicMetadata: this.metadata(classification) };
  }

  private async prove(): Promise<void> {
    if (!this.proofPending) return;
    this.proofPending = false;
    // The token is the issuing account's routing state whatever the stream became; it is
    // learned only once the answer is known to be no error, so a failed turn's retry
    // (which replays it) is not pinned to an account that refused the turn's state.
    if (this.issuedToken !== undefined) await learnTurnState(this.context, this.options.scope, this.account, this.issuedToken);
    // An unread stream proves nothing about a guess: an orphan stays unproved.
    if (this.streamUnread && this.options.proof.orphan) return;
    await recordProof(this.context, this.options.scope, this.account, this.options.proof);
  }

  private metadata(classification: ErrorClassification): NonNullable<PhaseAnswer['dynamicMetadata']> {
    return { [this.context.config.routing.metadataNamespace]: { error_class: classification.errorClass } };
  }

  private async learn(facts: ReturnType<typeof factsFromResponseObject>): Promise<void> {
    await learnResponseFacts(this.context, this.options.scope, this.account, facts, this.options.requestStored);
  }

  /**
   * An error status whose body never came (or could not be read): the status alone
   * decides, as it would for any client. Also called when the stream ends.
   */
  settle(): void {
    const verdict = this.pendingVerdict;
    if (!verdict) return;
    this.pendingVerdict = undefined;
    const now = this.context.clock();
    if (verdict.status === 429) this.coolDown(verdict.cooldownFromHeaders ?? now + this.context.config.health.defaultCooldown);
    else this.credentialFailed(verdict.status);
  }

  private coolDown(until: number): void {
    this.context.accountState.coolDown(this.account.name, until);
    this.context.metrics.cooldowns.inc({ account: this.account.name });
  }

  private credentialFailed(status: number): void {
    const { accountState, config, clock, logger } = this.context;
    const now = clock();
    if (accountState.recordCredentialFailure(this.account.name, now + config.health.credentialRecheck, now)) {
      logger.error({ account: this.account.name, status }, 'upstream rejected the account credential; no new sessions until recheck');
    }
  }

  /**
   * Acts on a classified upstream error; never changes the status the client sees.
   * Only errors that say the account (or its credential) is unusable change account
   * state; an error about one request (too large, no access to a model) leaves it alone.
   */
  private async onError(status: number, body: unknown): Promise<ErrorClassification> {
    const { accountState, config, metrics, clock } = this.context;
    const now = clock();
    const classification = classifyError(status, body, now);
    const account = this.account.name;
    const verdict = this.pendingVerdict;
    this.pendingVerdict = undefined;
    metrics.upstreamErrors.inc({ account, error_class: classification.errorClass });
    switch (classification.errorClass) {
      case 'invalid_encrypted_content':
      case 'previous_response_not_found':
      case 'item_not_found':
      case 'stored_object_not_found':
        // The account is fine and no binding moves. An orphan's guess was wrong: the
        // session's next try skips this domain (encrypted content) or account (stored objects).
        if (this.options.proof.orphan && this.options.placementKey) await excludeAfterRefusal(this.context, this.options.placementKey, this.account, classification.errorClass);
        break;
      case 'rate_limit_exceeded':
      case 'usage_limit_reached':
        this.coolDown(classification.resetAt ?? verdict?.cooldownFromHeaders ?? now + config.health.defaultCooldown);
        break;
      case 'insufficient_quota':
        this.coolDown(now + config.health.quotaCooldown);
        break;
      case 'server_is_overloaded':
        if (status < 500) accountState.recordFailure(account, now);
        break;
      case 'credentials':
        if (verdict) this.credentialFailed(status);
        break;
      case 'request_too_large':
      case 'forbidden':
        // About this request alone: counted, the account keeps serving.
        break;
      default:
        // A 429 that names nothing more is the account's.
        if (verdict?.status === 429) this.coolDown(verdict.cooldownFromHeaders ?? now + config.health.defaultCooldown);
        break;
    }
    return classification;
  }

  /** A stream the profile forced, answered as the JSON response the client asked for. */
  private async streamToJson(whole: Buffer): Promise<PhaseAnswer> {
    const inspector = new SseInspector();
    for (const facts of inspector.push(whole)) await this.learn(facts);
    let status = 200;
    let json: unknown = inspector.finalResponse;
    if (inspector.streamError === undefined) await this.prove();
    else {
      const classification = await this.onError(200, inspector.streamError);
      status = isAccountBoundError(classification.errorClass) ? 400 : classification.errorClass.startsWith('rate') || classification.errorClass === 'usage_limit_reached' ? 429 : 500;
      json = inspector.streamError;
    }
    if (json === undefined) return CONTINUE;
    const body = Buffer.from(JSON.stringify(json));
    return {
      headers: {
        set: [
          ...(status !== 200 ? ([[':status', String(status)]] as const) : []),
          ['content-type', 'application/json'],
          ['content-length', String(body.length)],
        ],
        remove: ['transfer-encoding', ...(this.encoding !== undefined ? ['content-encoding'] : [])],
      },
      body,
    };
  }
}
