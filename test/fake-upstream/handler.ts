// The account's request logic, free of HTTP I/O: route → strictness → rate limit → turn state →
// sealing / stored items → conversation / previous_response_id → prompt cache → output. Returns an
// Answer the server writes. Stored objects (responses, items, conversations) belong to the exact
// account that stored them (cfg.name), never to its domain; only sealed encrypted_content is
// readable across the domain. A chatgpt-codex account never stores anything.
import { randomBytes } from 'node:crypto';
import * as errors from './errors.js';
import type { DomainStore, StoredConversation } from './domain-store.js';
import { PromptCache, type CacheExpiry } from './prompt-cache.js';
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
  /** The prompt cache forgets a key idle longer than this (none: it never forgets). */
  cacheExpiry?: CacheExpiry;
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
  /** Merged into the request log entry. conversationId, when set, overrides the one the server read from the request. */
  log: Pick<RequestLogEntry, 'errorCode' | 'turnStateOut' | 'inputTokens' | 'cachedTokens' | 'responseId'> & { conversationId?: string };
}

type Route =
  | { kind: 'responses'; compact: boolean; strict: boolean }
  /** POST /v1/conversations */
  | { kind: 'create-conversation' }
  /** GET / DELETE /v1/conversations/{id} */
  | { kind: 'conversation'; method: 'GET' | 'DELETE'; id: string }
  | null;

const CONVERSATION_PATH = /^\/v1\/conversations\/([^/]+)$/;

export class AccountCore {
  readonly rateLimiter: RateLimiter;
  readonly turnStates = new TurnStates();
  private readonly cache: PromptCache;

  constructor(readonly cfg: CoreConfig) {
    this.cache = new PromptCache(cfg.minCachedTokens, cfg.cacheExpiry);
    // Reset times are named on the clock the cache forgets by (a test's compressed day).
    this.rateLimiter = new RateLimiter(cfg.cacheExpiry?.clock);
  }

  /** Only openai-profile accounts store responses, items and conversations. */
  get storesObjects(): boolean {
    return this.cfg.profile === 'openai';
  }

  route(method: string, path: string): Route {
    const { profile, serveCodexBackend, serveV1Paths } = this.cfg;
    if (profile === 'openai') {
      if (path === '/v1/conversations') return method === 'POST' ? { kind: 'create-conversation' } : null;
      const m = CONVERSATION_PATH.exec(path);
      if (m && (method === 'GET' || method === 'DELETE')) return { kind: 'conversation', method, id: safeDecode(m[1]!) };
    }
    if (method !== 'POST') return null;
    const v1 = path === '/v1/responses' || path === '/v1/responses/compact';
    const backend = path === '/backend-api/codex/responses' || path === '/backend-api/codex/responses/compact';
    const compact = path.endsWith('/compact');
    if (profile === 'openai') {
      if (v1) return { kind: 'responses', compact, strict: false };
      if (backend && serveCodexBackend) return { kind: 'responses', compact, strict: true };
      return null;
    }
    if (backend || (v1 && serveV1Paths)) return { kind: 'responses', compact, strict: true };
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

  private ok(body: unknown, conversationId: string): Answer {
    return {
      status: 200,
      body,
      headers: this.baseHeaders(),
      log: { errorCode: null, turnStateOut: null, inputTokens: 0, cachedTokens: 0, responseId: null, conversationId },
    };
  }

  unauthorized(): Answer {
    return this.error(401, this.cfg.profile === 'chatgpt-codex' ? errors.detail('Unauthorized') : errors.invalidApiKey());
  }

  handle(req: CoreRequest): Answer {
    const { cfg } = this;
    const route = this.route(req.method, req.path);
    if (!route) return this.error(404, errors.invalidUrl(req.method, req.path));
    if (route.kind !== 'responses') return this.handleConversations(route, req.body);
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

    const conversationParam = parseConversationParam(body.conversation);
    if ('invalid' in conversationParam) return this.error(400, errors.invalidConversationType(conversationParam.invalid));
    const conversationId = conversationParam.id;
    const prevId = typeof body.previous_response_id === 'string' ? body.previous_response_id : null;
    if (prevId !== null && conversationId !== null) return this.error(400, errors.mutuallyExclusivePreviousResponseAndConversation());

    const resolved = this.resolveInput(normalizeInput(body.input), route.strict);
    if ('error' in resolved) return resolved.error;
    const input = resolved.items;

    let context: unknown[] = input;
    let conversation: StoredConversation | undefined;
    if (conversationId !== null) {
      conversation = this.storesObjects ? cfg.domainStore.getConversation(cfg.name, conversationId) : undefined;
      if (!conversation) return this.error(404, errors.conversationNotFound(conversationId));
      context = [...conversation.items, ...input];
    }
    if (prevId !== null) {
      const prev = this.storesObjects ? cfg.domainStore.getResponse(cfg.name, prevId) : undefined;
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
    // Never stored: compact answers, and anything on a chatgpt-codex account (its strictness also refuses store:true).
    const store = this.storesObjects && !route.compact && body.store !== false;
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
    const completed = makeResponse(responseId, body, plan.items, usage, 'completed', { conversationId });
    if (store) {
      cfg.domainStore.putResponse({ id: responseId, account: cfg.name, domain: cfg.domain, context, output: plan.items, createdAt: Date.now() }, input);
    }
    // Items are kept in the form they were sent (as for previous_response_id context), so the next turn's
    // prompt starts with this turn's prompt and the prompt cache behaves like the real one.
    if (conversation) cfg.domainStore.appendConversationItems(cfg.name, conversation.id, [...input, ...plan.items]);
    if (body.stream === true) {
      const inProgress = makeResponse(responseId, body, [], null, 'in_progress', { conversationId });
      return { status: 200, events: buildEventSequence(inProgress, completed), headers, log };
    }
    return { status: 200, body: completed, headers, log };
  }

  /**
   * Checks the input items against this account's state and expands references:
   * - encrypted_content must verify with this domain's key (readable by every account of the domain);
   * - an item_reference, a reasoning item sent by id without encrypted_content, or any item that has only
   *   `type` and `id`, must name an item this exact account stored (404 item-not-found otherwise) and is
   *   replaced by the stored item, so the context (and the prompt cache) sees the real content.
   * Message items that carry content are never references.
   */
  private resolveInput(input: unknown[], strict: boolean): { items: unknown[] } | { error: Answer } {
    const { cfg } = this;
    const items: unknown[] = [];
    for (const item of input) {
      if (!isRecord(item)) {
        items.push(item);
        continue;
      }
      const itemId = typeof item.id === 'string' ? item.id : 'unknown';
      const enc = item.encrypted_content;
      if (typeof enc === 'string' && enc !== '') {
        if (!verifySealed(enc, cfg.domain, cfg.domainKey).ok) {
          const opts = strict ? cfg.chatgptEncryptedError : { style: cfg.encryptedErrorStyle };
          return { error: this.error(400, errors.invalidEncryptedContent(itemId, opts)) };
        }
        items.push(item);
        continue;
      }
      const ref = referencedId(item);
      if (ref !== null) {
        const stored = this.storesObjects ? cfg.domainStore.getItem(cfg.name, ref) : undefined;
        if (stored === undefined) return { error: this.error(404, errors.itemNotFound(ref)) };
        items.push(stored);
        continue;
      }
      items.push(item);
    }
    return { items };
  }

  /** The Conversations API (openai profile only; route() never yields these kinds for chatgpt-codex). */
  private handleConversations(route: Exclude<Route, { kind: 'responses' } | null>, body: Record<string, unknown>): Answer {
    const { cfg } = this;
    const store = cfg.domainStore;
    if (route.kind === 'create-conversation') {
      const resolved = this.resolveInput(Array.isArray(body.items) ? body.items : [], false);
      if ('error' in resolved) return resolved.error;
      const conversation: StoredConversation = {
        id: openaiId('conv'),
        account: cfg.name,
        domain: cfg.domain,
        createdAt: nowSec(),
        metadata: isRecord(body.metadata) ? { ...body.metadata } : {},
        items: resolved.items,
      };
      store.putConversation(conversation);
      return this.ok(conversationObject(conversation), conversation.id);
    }
    const conversation = store.getConversation(cfg.name, route.id);
    if (!conversation) return this.error(404, errors.conversationNotFound(route.id));
    if (route.method === 'GET') return this.ok(conversationObject(conversation), conversation.id);
    store.deleteConversation(cfg.name, conversation.id);
    return this.ok({ id: conversation.id, object: 'conversation.deleted', deleted: true }, conversation.id);
  }
}

function conversationObject(c: StoredConversation): Record<string, unknown> {
  return { id: c.id, object: 'conversation', created_at: c.createdAt, metadata: c.metadata };
}

/** `conversation` is a string id or {"id": string}; absent/null means none. */
function parseConversationParam(value: unknown): { id: string | null } | { invalid: string } {
  if (value === undefined || value === null) return { id: null };
  if (typeof value === 'string') return { id: value };
  if (isRecord(value) && typeof value.id === 'string') return { id: value.id };
  if (isRecord(value)) return { invalid: 'an object' };
  if (Array.isArray(value)) return { invalid: 'an array' };
  return { invalid: typeof value === 'number' ? (Number.isInteger(value) ? 'an integer' : 'a decimal') : `a ${typeof value}` };
}

/** The stored item an input item points at, or null when the item carries its own content. */
function referencedId(item: Record<string, unknown>): string | null {
  if (typeof item.id !== 'string') return null;
  if (item.type === 'item_reference') return item.id;
  // A reasoning item without (non-empty) encrypted_content is looked up by id, as on the real API.
  if (item.type === 'reasoning') return item.id;
  // Any other item that has nothing but type and id (a message without content, a function_call by id, …).
  if (typeof item.type === 'string' && Object.keys(item).every((k) => k === 'id' || k === 'type')) return item.id;
  return null;
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function normalizeInput(input: unknown): unknown[] {
  if (typeof input === 'string') return [{ type: 'message', role: 'user', content: input }];
  return Array.isArray(input) ? input : [];
}

function nowSec(): number {
  return Math.floor(Date.now() / 1000);
}
