// The account's request logic, free of HTTP I/O: route → strictness → rate limit → turn state →
// sealing → previous_response_id → prompt cache → output. Returns an Answer the server writes.
import { randomBytes } from 'node:crypto';
import * as errors from './errors.js';
import type { DomainStore } from './domain-store.js';
import { PromptCache } from './prompt-cache.js';
import { RateLimiter } from './rate-limit.js';
import { compactOutput, makeResponse, makeUsage, planOutput } from './responses.js';
import { verifySealed } from './sealing.js';
import { buildEventSequence, type SseEvent } from './sse.js';
import { checkChatgptCodexBody } from './strictness.js';
import { TurnStates } from './turn-state.js';
import type { Profile, RequestLogEntry } from './types.js';
import { isRecord, openaiId } from './util.js';

/** Response header naming the account that answered. A real upstream does NOT send this. */
export const FAKE_ACCOUNT_HEADER = 'x-fake-account';
export const TURN_STATE_HEADER = 'x-codex-turn-state';

export interface CoreConfig {
  name: string;
  domain: string;
  domainKey: string;
  profile: Profile;
  serveCodexBackend: boolean;
  serveV1Paths: boolean;
  issueTurnState: boolean;
  foreignTurnState: { status: number; body: unknown };
  /** invalid_encrypted_content wording on the public API paths. */
  encryptedErrorStyle: errors.EncryptedMessageStyle;
  /** invalid_encrypted_content code/wording on the ChatGPT Codex backend paths. */
  chatgptEncryptedError: { code?: string | null; style?: errors.EncryptedMessageStyle };
  domainStore: DomainStore;
  minCachedTokens: number;
}

export interface CoreRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

export interface Answer {
  status: number;
  /** JSON body (when events is absent). */
  body?: unknown;
  /** SSE events (status 200, text/event-stream). */
  events?: SseEvent[];
  headers: Record<string, string>;
  log: Pick<RequestLogEntry, 'errorCode' | 'turnStateOut' | 'inputTokens' | 'cachedTokens' | 'responseId'>;
}

type Route = { compact: boolean; strict: boolean } | null;

export class AccountCore {
  readonly rateLimiter = new RateLimiter();
  readonly turnStates = new TurnStates();
  private readonly cache: PromptCache;

  constructor(readonly cfg: CoreConfig) {
    this.cache = new PromptCache(cfg.minCachedTokens);
  }

  route(method: string, path: string): Route {
    if (method !== 'POST') return null;
    const { profile, serveCodexBackend, serveV1Paths } = this.cfg;
    const v1 = path === '/v1/responses' || path === '/v1/responses/compact';
    const backend = path === '/backend-api/codex/responses' || path === '/backend-api/codex/responses/compact';
    const compact = path.endsWith('/compact');
    if (profile === 'openai') {
      if (v1) return { compact, strict: false };
      if (backend && serveCodexBackend) return { compact, strict: true };
      return null;
    }
    if (backend || (v1 && serveV1Paths)) return { compact, strict: true };
    return null;
  }

  /** Common headers of every answer. */
  baseHeaders(): Record<string, string> {
    return {
      ...this.rateLimiter.headers(),
      [FAKE_ACCOUNT_HEADER]: this.cfg.name,
      'x-request-id': `req_${randomBytes(16).toString('hex')}`,
    };
  }

  error(status: number, body: unknown, extra: Record<string, string> = {}): Answer {
    return {
      status,
      body,
      headers: { ...this.baseHeaders(), ...extra },
      log: { errorCode: errors.errorCodeOf(body), turnStateOut: null, inputTokens: 0, cachedTokens: 0, responseId: null },
    };
  }

  unauthorized(): Answer {
    return this.error(401, this.cfg.profile === 'chatgpt-codex' ? errors.detail('Unauthorized') : errors.invalidApiKey());
  }

  handle(req: CoreRequest): Answer {
    const { cfg } = this;
    const route = this.route(req.method, req.path);
    if (!route) return this.error(404, errors.invalidUrl(req.method, req.path));
    const body = req.body;
    if (route.strict && !route.compact) {
      const rejected = checkChatgptCodexBody(body);
      if (rejected) return this.error(400, rejected);
    }
    const model = typeof body.model === 'string' ? body.model : 'gpt-5.1-codex';
    const limited = this.rateLimiter.check(cfg.profile, model, `org-${cfg.domain}`);
    if (limited) return { ...this.error(limited.status, limited.body), headers: { ...this.baseHeaders(), ...limited.headers } };

    const turnStateIn = req.headers[TURN_STATE_HEADER] ?? null;
    if (cfg.issueTurnState && turnStateIn !== null && !this.turnStates.knows(turnStateIn)) {
      return this.error(cfg.foreignTurnState.status, cfg.foreignTurnState.body);
    }

    const input = normalizeInput(body.input);
    const stateError = this.checkInputState(input, route.strict);
    if (stateError) return stateError;

    const prevId = typeof body.previous_response_id === 'string' ? body.previous_response_id : null;
    let context: unknown[] = input;
    if (prevId !== null) {
      const prev = cfg.domainStore.getResponse(cfg.domain, prevId);
      if (!prev) {
        return this.error(400, route.strict ? errors.chatgptInvalidPreviousResponse() : errors.previousResponseNotFound(prevId));
      }
      context = [...prev.context, ...prev.output, ...input];
    }

    const cacheKey = typeof body.prompt_cache_key === 'string' ? body.prompt_cache_key : null;
    const { inputTokens, cachedTokens } = this.cache.lookupAndStore(cacheKey, [
      { instructions: body.instructions ?? null, tools: body.tools ?? [] },
      ...context,
    ]);
    const include = Array.isArray(body.include) ? body.include : [];
    const sealEncrypted = include.includes('reasoning.encrypted_content');
    const store = route.compact ? false : body.store !== false;
    const responseId = openaiId('resp');
    const turnStateOut = cfg.issueTurnState ? (turnStateIn ?? this.turnStates.issue()) : null;
    const headers = this.baseHeaders();
    if (turnStateOut) headers[TURN_STATE_HEADER] = turnStateOut;
    const log = { errorCode: null, turnStateOut, inputTokens, cachedTokens, responseId };

    if (route.compact) {
      const output = compactOutput(context, cfg.domain, cfg.domainKey);
      const usage = makeUsage(inputTokens, cachedTokens, { items: output, outputTokens: 64, reasoningTokens: 0 });
      this.rateLimiter.record(usage.total_tokens);
      return { status: 200, body: { id: responseId, object: 'response.compaction', created_at: nowSec(), output, usage }, headers, log };
    }

    const plan = planOutput(context, { withReasoning: sealEncrypted || store, sealEncrypted, domain: cfg.domain, domainKey: cfg.domainKey });
    const usage = makeUsage(inputTokens, cachedTokens, plan);
    this.rateLimiter.record(usage.total_tokens);
    const completed = makeResponse(responseId, body, plan.items, usage);
    if (store) {
      cfg.domainStore.putResponse({ id: responseId, account: cfg.name, domain: cfg.domain, context, output: plan.items, createdAt: Date.now() });
    }
    if (body.stream === true) {
      const inProgress = makeResponse(responseId, body, [], null, 'in_progress');
      return { status: 200, events: buildEventSequence(inProgress, completed), headers, log };
    }
    return { status: 200, body: completed, headers, log };
  }

  /** encrypted_content must verify with this domain's key; reasoning items sent by id must exist in the domain. */
  private checkInputState(input: unknown[], strict: boolean): Answer | null {
    const { cfg } = this;
    for (const item of input) {
      if (!isRecord(item)) continue;
      const itemId = typeof item.id === 'string' ? item.id : 'unknown';
      const enc = item.encrypted_content;
      if (typeof enc === 'string' && enc !== '') {
        if (!verifySealed(enc, cfg.domain, cfg.domainKey).ok) {
          const opts = strict ? cfg.chatgptEncryptedError : { style: cfg.encryptedErrorStyle };
          return this.error(400, errors.invalidEncryptedContent(itemId, opts));
        }
      } else if (item.type === 'reasoning' && typeof item.id === 'string') {
        if (cfg.domainStore.getItem(cfg.domain, item.id) === undefined) return this.error(404, errors.itemNotFound(item.id));
      }
    }
    return null;
  }
}

function normalizeInput(input: unknown): unknown[] {
  if (typeof input === 'string') return [{ type: 'message', role: 'user', content: input }];
  return Array.isArray(input) ? input : [];
}

function nowSec(): number {
  return Math.floor(Date.now() / 1000);
}
