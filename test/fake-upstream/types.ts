// Public types of the fake upstream account.
import type { EncryptedMessageStyle, ServerErrorCode } from './errors.js';
import type { RateLimitSettings, RateLimitUpdate } from './rate-limit.js';
import type { DomainStore } from './domain-store.js';
import type { CacheExpiry } from './prompt-cache.js';

export type Profile = 'openai' | 'chatgpt-codex';

export type Fault =
  /** Answer the next `count` requests (default 1) with this 5xx status and an OpenAI-style body. */
  | { kind: 'status'; status: number; code?: ServerErrorCode; body?: unknown; count?: number }
  /** Wait `ms` before handling the next `count` requests (they then succeed or fail as usual). */
  | { kind: 'delay'; ms: number; count?: number }
  /** Destroy the socket without an answer; with afterHeaders, after sending 200 SSE headers and one event. */
  | { kind: 'reset'; afterHeaders?: boolean; count?: number }
  /** Credential failure: 401 with the profile's body. */
  | { kind: 'unauthorized'; count?: number };

export interface FakeAccountOptions {
  name: string;
  /** Domain id (organisation / workspace). Defaults to the account name (a domain of one). */
  domain?: string;
  /** Secret used to seal encrypted_content. Defaults to a key derived from the domain id. */
  domainKey?: string;
  profile?: Profile;
  /** openai profile only: also serve /backend-api/codex/responses (with the ChatGPT strictness). */
  serveCodexBackend?: boolean;
  /** chatgpt-codex profile only: also serve /v1/responses paths, with the same strictness. Default true. */
  serveV1Paths?: boolean;
  /** Issue x-codex-turn-state tokens. Default: true for chatgpt-codex, false for openai. */
  issueTurnState?: boolean;
  /** Answer to a request replaying a token this account did not issue. ASSUMED default: 400 invalid_turn_state. */
  foreignTurnState?: { status: number; body: unknown };
  /**
   * Shape of invalid_encrypted_content on the chatgpt-codex profile. Public reports from ChatGPT-plan
   * users show the same OpenAI envelope with code "invalid_encrypted_content"; if the backend is found to
   * send code null, set code: null here.
   */
  chatgptEncryptedError?: { code?: string | null; style?: EncryptedMessageStyle };
  /** Wording of the openai profile's invalid_encrypted_content message (default 'item-reason'). */
  encryptedErrorStyle?: EncryptedMessageStyle;
  /**
   * Store of stored responses, items and conversations (previous_response_id, item_reference, conversation).
   * Objects are keyed by the exact account name that stored them: accounts of the same domain do NOT share
   * them. Default: the module-level store.
   */
  domainStore?: DomainStore;
  rateLimit?: RateLimitUpdate;
  faults?: Fault[];
  /** When set, requests whose authorization header differs get 401. */
  expectedAuthorization?: string;
  /** Delay between SSE events (ms). Default 0. */
  sseEventDelayMs?: number;
  /** Cached prefixes shorter than this many tokens are not reported (real minimum is 1024). Default 0. */
  minCachedTokens?: number;
  /** The prompt cache forgets a cache key idle longer than lifetimeMs on this clock (default: never); usage resets are named on it too. */
  cacheExpiry?: CacheExpiry;
  host?: string;
}

export interface RequestLogEntry {
  seq: number;
  account: string;
  domain: string;
  method: string;
  path: string;
  /** Request headers, names lower-cased. */
  headers: Record<string, string>;
  bodyKeys: string[];
  /** session-id or session_id header. */
  sessionId: string | null;
  promptCacheKey: string | null;
  previousResponseId: string | null;
  /**
   * The conversation the request names: `conversation` (string or {id}) of a /responses body, the id in
   * /v1/conversations/{id}, or the id a POST /v1/conversations created.
   */
  conversationId: string | null;
  status: number;
  /** error.code, else error.type, else the {"detail"} string; null on success. */
  errorCode: string | null;
  turnStateIn: string | null;
  turnStateOut: string | null;
  inputTokens: number;
  cachedTokens: number;
  responseId: string | null;
  /** Set when the socket was destroyed without a complete answer. */
  reset: boolean;
  at: number;
}

export interface FakeAccount {
  readonly name: string;
  readonly domain: string;
  readonly profile: Profile;
  readonly url: string;
  readonly port: number;
  readonly requests: RequestLogEntry[];
  /** Tokens this account issued. */
  readonly issuedTurnStates: ReadonlySet<string>;
  /** Replace the fault queue with one fault (null clears). */
  setFault(fault: Fault | null): void;
  addFault(fault: Fault): void;
  setRateLimit(update: RateLimitUpdate): void;
  readonly rateLimit: RateLimitSettings;
  close(): Promise<void>;
}
