// Scenarios of the state-ownership acceptance tests (ownership.test.ts). Each one drives a
// stack (fake accounts, Envoy stand-in, processor) or the processor's ext_proc stream
// directly, and returns the figures the test asserts on and logs. Loopback only.
//
// Written against the processor's target behaviour (ownership scopes, deterministic
// placement, orphan exclusions, per-principal eviction, profile capabilities, soft content
// seeds), not against one version of its internals: the store is only ever touched
// through a Proxy that forwards whatever functions it has (see delayedStore), and built by
// test/support/stores.ts.
import * as grpc from '@grpc/grpc-js';
import type { BindingStore } from '../../src/bindings/store.js';
import { loadExternalProcessor } from '../../src/extproc/proto.js';
import type { WireProcessingResponse } from '../../src/extproc/wire-types.js';
import type { FakeAccount, FakeAccountOptions } from '../fake-upstream/index.js';
import { codexRequest, routedCluster, ScriptedStream, startTestProcessor, type TestProcessor } from '../support/processor.js';
import { memoryStore } from '../support/stores.js';
import { createRng, postResponses, type ResponsesResult, type Rng } from '../workload/index.js';
import { classify, errorCodeOf, runPool, type FailureClass } from '../workload/stats.js';
import { CodexSession } from './codex-session.js';
import { startStack } from './stack.js';

export const sleep = (milliseconds: number) => new Promise<void>((resolve) => setTimeout(resolve, milliseconds));

/** Three openai accounts, one per domain. */
export const THREE_DOMAINS: FakeAccountOptions[] = [
  { name: 'acct-a', domain: 'org-a' },
  { name: 'acct-b', domain: 'org-b' },
  { name: 'acct-c', domain: 'org-c' },
];

// ---------------------------------------------------------------------------------------------
// Small tools

/** What one request came to, from the client's side. */
export interface Outcome {
  ok: boolean;
  status: number;
  failure: FailureClass | null;
  /** error.code (or type / detail) of a failed answer. */
  code: string | null;
  /** x-fake-account of the answer (the fake names itself on errors too). */
  account: string | null;
  responseId: string | null;
}

export function outcomeOf(result: ResponsesResult): Outcome {
  const failure = classify(result);
  return {
    ok: failure === null,
    status: result.status,
    failure,
    code: failure === null ? null : errorCodeOf(result),
    account: result.headers['x-fake-account'] ?? null,
    responseId: typeof result.response?.id === 'string' ? result.response.id : null,
  };
}

export function shuffled<T>(items: readonly T[], rng: Rng): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

export function countBy<T>(items: readonly T[], key: (item: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of items) out[key(item)] = (out[key(item)] ?? 0) + 1;
  return out;
}

/** A 429 that lasts until lifted, naming a short retry-after (seconds). */
export function rateLimit(account: FakeAccount, retryAfterSeconds: number): void {
  account.setRateLimit({ reject: { kind: 'rate_limit_exceeded', retryAfterSeconds } });
}

export function liftRateLimit(account: FakeAccount): void {
  account.setRateLimit({ reject: null });
}

/**
 * The processor's store behind a Proxy that waits `delayMilliseconds` before every call of
 * any function property, then delegates: interface-agnostic (whatever the store's methods are
 * called), so concurrent requests interleave between their reads and writes the way they
 * would against a networked store. `calls` counts delegated calls (proof the wrapper is used).
 */
export function delayedStore<T extends object>(inner: T, delayMilliseconds = 2): { store: T; calls: () => number } {
  let calls = 0;
  const wrappers = new Map<PropertyKey, unknown>();
  const store = new Proxy(inner, {
    get(target, property) {
      if (property === 'then') return undefined; // never a thenable
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      let wrapper = wrappers.get(property);
      if (!wrapper) {
        wrapper = async (...args: unknown[]) => {
          await sleep(delayMilliseconds);
          calls++;
          return (value as (...args: unknown[]) => unknown).apply(target, args);
        };
        wrappers.set(property, wrapper);
      }
      return wrapper;
    },
  });
  return { store, calls: () => calls };
}

/** A fresh in-memory binding store with the configuration's default TTLs (test/support/stores.ts builds it). */
export function newMemoryStore(options: { maxEntries: number; now?: () => number }): BindingStore {
  return memoryStore(options);
}

/** A bare ext_proc client of a running processor, usable with ScriptedStream. */
export function extProcClient(address: string): { processor: TestProcessor; close(): void } {
  const { client: Client } = loadExternalProcessor();
  const client = new Client(address, grpc.credentials.createInsecure()) as unknown as TestProcessor['client'];
  return { processor: { client } as unknown as TestProcessor, close: () => client.close() };
}

/** Answers a stream's response phase as an upstream would: headers, then the body if the processor asks for it. */
async function answerUpstream(stream: ScriptedStream, headers: Record<string, string>, body?: string): Promise<void> {
  const answer: WireProcessingResponse = await stream.responseHeaders(headers, body === undefined);
  const mode = answer.mode_override?.response_body_mode;
  if (body !== undefined && (mode === 'BUFFERED' || mode === 'STREAMED' || mode === 'BUFFERED_PARTIAL')) await stream.responseBody(body, true);
}

// SDK-shaped requests (OpenAI Node SDK 6.49.0, test/fixtures/clients/openai-node-6.49.0).
export function sdkHeaders(apiKey: string, stream = false): Record<string, string> {
  return {
    accept: stream ? 'text/event-stream' : 'application/json',
    'user-agent': 'OpenAI/JS 6.49.0',
    'x-stainless-retry-count': '0',
    'x-stainless-lang': 'js',
    'x-stainless-package-version': '6.49.0',
    'x-stainless-os': 'Linux',
    'x-stainless-arch': 'x64',
    'x-stainless-runtime': 'node',
    'x-stainless-runtime-version': 'v22.12.0',
    authorization: `Bearer ${apiKey}`,
    'content-type': 'application/json',
  };
}

const SDK_MODEL = 'gpt-5.1';
const SDK_INSTRUCTIONS = 'You are a helpful assistant.';

/** One SDK chain: store:true, each step names the last good response; no session signal. */
export class SdkChain {
  previous: string | undefined;
  step = 0;
  readonly outcomes: Outcome[] = [];
  constructor(
    private readonly baseUrl: string,
    readonly id: string,
    private readonly options: { apiKey?: string; stream?: boolean } = {},
  ) {}

  async next(): Promise<Outcome> {
    const body: Record<string, unknown> = {
      model: SDK_MODEL,
      instructions: SDK_INSTRUCTIONS,
      input: `${this.id}: message ${this.step + 1}`,
      store: true,
      ...(this.previous ? { previous_response_id: this.previous } : {}),
      ...(this.options.stream ? { stream: true } : {}),
    };
    const result = await postResponses(new URL('/v1/responses', this.baseUrl).toString(), sdkHeaders(this.options.apiKey ?? 'sk-sdk-chains', this.options.stream), body, { timeoutMs: 15_000 });
    const outcome = outcomeOf(result);
    this.outcomes.push(outcome);
    if (outcome.ok && outcome.responseId) {
      this.previous = outcome.responseId;
      this.step++;
    }
    return outcome;
  }
}

/**
 * One stateless conversation: store:false + include encrypted reasoning, the whole
 * conversation resent each step with the previous output items. No session signal: the
 * processor can only key it by its opening (content seed) and its encrypted items.
 */
export class StatelessConversation {
  private readonly items: unknown[] = [];
  step = 0;
  readonly outcomes: Outcome[] = [];
  constructor(
    private readonly baseUrl: string,
    private readonly opening: string,
    private readonly options: { apiKey?: string; stream?: boolean } = {},
  ) {}

  async next(): Promise<Outcome> {
    const message = { role: 'user', content: this.step === 0 ? this.opening : `follow-up ${this.step}` };
    const body = {
      model: SDK_MODEL,
      instructions: SDK_INSTRUCTIONS,
      input: [...this.items, message],
      store: false,
      include: ['reasoning.encrypted_content'],
      ...(this.options.stream ? { stream: true } : {}),
    };
    const result = await postResponses(new URL('/v1/responses', this.baseUrl).toString(), sdkHeaders(this.options.apiKey ?? 'sk-sdk-stateless', this.options.stream), body, { timeoutMs: 15_000 });
    const outcome = outcomeOf(result);
    this.outcomes.push(outcome);
    if (outcome.ok && result.response) {
      this.items.push(message, ...((result.response.output as unknown[] | undefined) ?? []));
      this.step++;
    }
    return outcome;
  }
}

/** A Codex session with its outcomes and the account of its last successful turn. */
export class TrackedSession {
  readonly session: CodexSession;
  readonly outcomes: Outcome[] = [];
  home: string | null = null;
  constructor(
    baseUrl: string,
    readonly index: number,
    seed: number,
    options: { clientKey?: string } = {},
  ) {
    this.session = new CodexSession(baseUrl, seed, options);
  }

  async turn(): Promise<Outcome> {
    const outcome = outcomeOf(await this.session.turnOnce());
    this.outcomes.push(outcome);
    if (outcome.ok) this.home = outcome.account;
    return outcome;
  }
}

/** `turns` turns of every session, `concurrency` sessions at a time. */
async function runTurns(sessions: readonly TrackedSession[], turns: number, concurrency: number): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  await runPool(sessions.length, concurrency, async (index) => {
    for (let turn = 0; turn < turns; turn++) outcomes.push(await sessions[index]!.turn());
  });
  return outcomes;
}

/** One turn of each session, one at a time, in the given order. */
async function runRound(sessions: readonly TrackedSession[]): Promise<Map<TrackedSession, Outcome>> {
  const outcomes = new Map<TrackedSession, Outcome>();
  for (const session of sessions) outcomes.set(session, await session.turn());
  return outcomes;
}

// ---------------------------------------------------------------------------------------------
// 1. Restart

export interface RestartFigures {
  sessions: number;
  failedBefore: number;
  /** Turns after the restart, and those that failed (by failure class). */
  turnsAfter: number;
  failedAfter: number;
  failedAfterByClass: Record<string, number>;
  /** Sessions answered after the restart by another account than their home. */
  moved: number;
  homes: Record<string, number>;
}

/** Sessions run `turnsBefore` turns, the processor restarts (fresh store), every session resumes `roundsAfter` times in seeded random order. */
export async function restartScenario(options: { sessions: number; turnsBefore: number; roundsAfter: number; seed: number }): Promise<RestartFigures> {
  const stack = await startStack({ topology: 'affinity', accounts: THREE_DOMAINS });
  try {
    const sessions = Array.from({ length: options.sessions }, (_, index) => new TrackedSession(stack.url, index, options.seed * 1000 + index));
    const before = await runTurns(sessions, options.turnsBefore, 6);
    const homes = new Map(sessions.map((session) => [session, session.home]));
    await stack.restartProcessor();
    const rng = createRng(options.seed, 'restart-order');
    const after: Outcome[] = [];
    let moved = 0;
    const movedSessions = new Set<TrackedSession>();
    for (let round = 0; round < options.roundsAfter; round++) {
      for (const [session, outcome] of await runRound(shuffled(sessions, rng))) {
        after.push(outcome);
        if (outcome.account !== homes.get(session) && !movedSessions.has(session)) {
          movedSessions.add(session);
          moved++;
        }
      }
    }
    const failedAfter = after.filter((outcome) => !outcome.ok);
    return {
      sessions: sessions.length,
      failedBefore: before.filter((outcome) => !outcome.ok).length,
      turnsAfter: after.length,
      failedAfter: failedAfter.length,
      failedAfterByClass: countBy(failedAfter, (outcome) => outcome.failure ?? 'ok'),
      moved,
      homes: countBy(sessions, (session) => homes.get(session) ?? 'none'),
    };
  } finally {
    await stack.close();
  }
}

export interface RestartLimitedFigures {
  sessions: number;
  failedBefore: number;
  limitedAccount: string;
  /** Sessions whose home (before the restart) is the limited account. */
  homedOnLimited: number;
  roundsLimited: number;
  roundsToRecover: number;
  /** Per session, invalid_encrypted_content answers after the restart. */
  maxEncryptedFailuresPerSession: number;
  sessionsOverBudget: number;
  encryptedFailures: number;
  rateLimited: number;
  otherFailures: Record<string, number>;
  /** Sessions homed elsewhere that failed a turn after the restart. */
  bystandersFailed: number;
  /** Sessions without a successful turn after the limit was lifted. */
  stuck: number;
}

/**
 * As restartScenario, but one account answers 429 (short retry-after) from the restart on:
 * the sessions resume for `roundsLimited` rounds, the limit is lifted, and the sessions keep
 * resuming (those that have not yet succeeded since the lift) for up to `maxRecoveryRounds`.
 */
export async function restartWithLimitScenario(options: {
  sessions: number;
  seed: number;
  retryAfterSeconds: number;
  roundsLimited: number;
  maxRecoveryRounds: number;
}): Promise<RestartLimitedFigures> {
  const stack = await startStack({ topology: 'affinity', accounts: THREE_DOMAINS });
  try {
    const sessions = Array.from({ length: options.sessions }, (_, index) => new TrackedSession(stack.url, index, options.seed * 1000 + index));
    const before = await runTurns(sessions, 2, 6);
    const homes = new Map(sessions.map((session) => [session, session.home]));
    const limited = stack.accounts[0]!;
    await stack.restartProcessor();
    rateLimit(limited, options.retryAfterSeconds);
    const rng = createRng(options.seed, 'restart-limited-order');
    const after = new Map<TrackedSession, Outcome[]>(sessions.map((session) => [session, []]));
    let lastRateLimitAt = Date.now();
    for (let round = 0; round < options.roundsLimited; round++) {
      for (const [session, outcome] of await runRound(shuffled(sessions, rng))) {
        after.get(session)!.push(outcome);
        if (outcome.status === 429) lastRateLimitAt = Date.now();
      }
    }
    liftRateLimit(limited);
    // Clients honour retry-after: the processor's cooldown of the account is over too.
    await sleep(Math.max(0, lastRateLimitAt + options.retryAfterSeconds * 1000 + 200 - Date.now()));
    const recovered = new Set<TrackedSession>();
    let roundsToRecover = 0;
    for (let round = 0; round < options.maxRecoveryRounds && recovered.size < sessions.length; round++) {
      roundsToRecover++;
      const pending = shuffled(
        sessions.filter((session) => !recovered.has(session)),
        rng,
      );
      for (const [session, outcome] of await runRound(pending)) {
        after.get(session)!.push(outcome);
        if (outcome.ok) recovered.add(session);
      }
    }
    const all = [...after.values()].flat();
    const encryptedPerSession = sessions.map((session) => after.get(session)!.filter((outcome) => outcome.failure === 'invalid_encrypted_content').length);
    const maxEncrypted = Math.max(0, ...encryptedPerSession);
    return {
      sessions: sessions.length,
      failedBefore: before.filter((outcome) => !outcome.ok).length,
      limitedAccount: limited.name,
      homedOnLimited: sessions.filter((session) => homes.get(session) === limited.name).length,
      roundsLimited: options.roundsLimited,
      roundsToRecover,
      maxEncryptedFailuresPerSession: maxEncrypted,
      sessionsOverBudget: encryptedPerSession.filter((count) => count > THREE_DOMAINS.length - 1).length,
      encryptedFailures: encryptedPerSession.reduce((sum, count) => sum + count, 0),
      rateLimited: all.filter((outcome) => outcome.failure === 'rate_limit').length,
      otherFailures: countBy(
        all.filter((outcome) => !outcome.ok && outcome.failure !== 'rate_limit' && outcome.failure !== 'invalid_encrypted_content'),
        (outcome) => outcome.code ?? String(outcome.status),
      ),
      bystandersFailed: sessions.filter((session) => homes.get(session) !== limited.name && after.get(session)!.some((outcome) => !outcome.ok)).length,
      stuck: sessions.length - recovered.size,
    };
  } finally {
    await stack.close();
  }
}

// ---------------------------------------------------------------------------------------------
// 2. Flood

export interface FloodFigures {
  sessionsA: number;
  /** 429s principal A saw while creating its sessions (the limited account, before the processor knew). */
  creationRateLimited: number;
  creationFailures: number;
  secondTurnFailures: number;
  homesA: Record<string, number>;
  floodRequests: number;
  floodErrors: number;
  floodSeconds: number;
  /** Entries in the processor's store after the flood, when the store tells (its `size`). */
  storeSizeAfterFlood: number | undefined;
  /** A's sessions answered by another account after the flood, and failed turns. */
  changedAccount: number;
  resumeFailures: number;
  resumeFailuresByClass: Record<string, number>;
}

/** Principal B's new sessions, one request each, straight at the processor's ext_proc stream. */
export async function floodNewSessions(address: string, options: { count: number; concurrency: number; apiKey: string; prefix: string }): Promise<{ errors: number; clusters: Record<string, number> }> {
  const { processor, close } = extProcClient(address);
  let errors = 0;
  const clusters: Record<string, number> = {};
  try {
    await runPool(options.count, options.concurrency, async (index) => {
      const stream = new ScriptedStream(processor);
      try {
        const session = `${options.prefix}-${index}`;
        await stream.requestHeaders({
          ':method': 'POST',
          ':path': '/v1/responses',
          ':scheme': 'http',
          ':authority': 'gateway',
          'content-type': 'application/json',
          accept: 'text/event-stream',
          authorization: `Bearer ${options.apiKey}`,
          'session-id': session,
          'thread-id': session,
        });
        const routed = await stream.requestBody({ model: 'gpt-5.1-codex', stream: true, store: false, include: ['reasoning.encrypted_content'], input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: `flood ${index}` }] }] });
        const cluster = routedCluster(routed) ?? 'none';
        clusters[cluster] = (clusters[cluster] ?? 0) + 1;
        await stream.responseHeaders({ ':status': '200', 'content-type': 'text/event-stream' }, true);
        await stream.end();
      } catch {
        errors++;
        stream.cancel();
      }
    });
  } finally {
    close();
  }
  return { errors, clusters };
}

export async function floodScenario(options: { sessionsA: number; flood: number; maxEntries: number; maxEntriesPerPrincipal?: number; concurrency: number; seed: number }): Promise<FloodFigures> {
  const store = { kind: 'memory' as const, maxEntries: options.maxEntries, ...(options.maxEntriesPerPrincipal ? { maxEntriesPerPrincipal: options.maxEntriesPerPrincipal } : {}) };
  const stack = await startStack({ topology: 'affinity', accounts: THREE_DOMAINS, processor: { store } });
  try {
    const limited = stack.accounts[0]!;
    rateLimit(limited, 2);
    let lastRateLimitAt = Date.now();
    const sessions = Array.from({ length: options.sessionsA }, (_, index) => new TrackedSession(stack.url, index, options.seed * 1000 + index, { clientKey: 'principal-a' }));
    // New sessions while the account is limited: the first to land there gets its 429 and
    // starts again (a client retry), now away from the limited account.
    let creationRateLimited = 0;
    let creationFailures = 0;
    await runPool(sessions.length, 3, async (index) => {
      for (let attempt = 0; attempt < 3; attempt++) {
        const outcome = await sessions[index]!.turn();
        if (outcome.ok) return;
        if (outcome.status === 429) {
          creationRateLimited++;
          lastRateLimitAt = Date.now();
        } else creationFailures++;
      }
    });
    // Second turn: hard now (encrypted reasoning resent).
    let secondTurnFailures = 0;
    await runPool(sessions.length, 3, async (index) => {
      if (!(await sessions[index]!.turn()).ok) secondTurnFailures++;
    });
    const homes = new Map(sessions.map((session) => [session, session.home]));
    liftRateLimit(limited);
    await sleep(Math.max(0, lastRateLimitAt + 2200 - Date.now()));
    const started = Date.now();
    const flood = await floodNewSessions(stack.processor!.grpcAddress, { count: options.flood, concurrency: options.concurrency, apiKey: 'principal-b', prefix: `flood-${options.seed}` });
    const floodSeconds = (Date.now() - started) / 1000;
    const storeSizeAfterFlood = (stack.processor!.context.store as unknown as { size?: unknown }).size;
    const resumed: Outcome[] = [];
    let changedAccount = 0;
    await runPool(sessions.length, 3, async (index) => {
      const session = sessions[index]!;
      const outcome = await session.turn();
      resumed.push(outcome);
      if (outcome.account !== homes.get(session)) changedAccount++;
    });
    const failed = resumed.filter((outcome) => !outcome.ok);
    return {
      sessionsA: sessions.length,
      creationRateLimited,
      creationFailures,
      secondTurnFailures,
      homesA: countBy(sessions, (session) => homes.get(session) ?? 'none'),
      floodRequests: options.flood,
      floodErrors: flood.errors,
      floodSeconds,
      storeSizeAfterFlood: typeof storeSizeAfterFlood === 'number' ? storeSizeAfterFlood : undefined,
      changedAccount,
      resumeFailures: failed.length,
      resumeFailuresByClass: countBy(failed, (outcome) => outcome.failure ?? 'ok'),
    };
  } finally {
    await stack.close();
  }
}

// ---------------------------------------------------------------------------------------------
// 3. Races

export interface RaceFigures {
  sessions: number;
  /** Reconnects routed to another account than their session's first upgrade. */
  reconnectsMoved: number;
  /** Soft HTTP requests of the concurrent bursts, and those routed off the cooling account. */
  softRequests: number;
  softMovedOff: number;
  /** First upgrades routed to the cooling account. */
  upgradesOnCooling: number;
  storeCalls: number;
  setupSkipped: number;
}

const RACE_PRINCIPAL = 'client-key-1';

function websocketHandshake(session: string): Record<string, string> {
  return {
    ':method': 'GET',
    ':path': '/v1/responses',
    ':scheme': 'http',
    ':authority': 'gateway',
    connection: 'Upgrade',
    upgrade: 'websocket',
    'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
    'sec-websocket-version': '13',
    authorization: `Bearer ${RACE_PRINCIPAL}`,
    'session-id': session,
  };
}

const RATE_LIMIT_BODY = JSON.stringify({ error: { message: 'Rate limit reached. Please try again in 5s.', type: 'requests', param: null, code: 'rate_limit_exceeded' } });

/** One soft HTTP request of a session; the "upstream" answers 429 when it lands on `cooling`, else 200. */
async function softRequest(processor: TestProcessor, session: string, cooling: string | undefined, delayMilliseconds: number): Promise<string | undefined> {
  await sleep(delayMilliseconds);
  const stream = new ScriptedStream(processor);
  const request = codexRequest({ session, turn: 1, principal: RACE_PRINCIPAL });
  await stream.requestHeaders(request.headers);
  const cluster = routedCluster(await stream.requestBody(request.body));
  if (cluster !== undefined && cluster === cooling) await answerUpstream(stream, { ':status': '429', 'retry-after': '5', 'content-type': 'application/json' }, RATE_LIMIT_BODY);
  else await answerUpstream(stream, { ':status': '200', 'content-type': 'text/event-stream' });
  await stream.end();
  return cluster;
}

/** A WebSocket upgrade of a session; the upstream accepts it (101). */
async function upgradeRequest(processor: TestProcessor, session: string, delayMilliseconds: number): Promise<string | undefined> {
  await sleep(delayMilliseconds);
  const stream = new ScriptedStream(processor);
  const cluster = routedCluster(await stream.requestHeaders(websocketHandshake(session)));
  await stream.responseHeaders({ ':status': '101', connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-accept': 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=' });
  await stream.end();
  return cluster;
}

/**
 * Each round: a fresh session is soft-bound to account A; A answers 429 (cooling down);
 * then, concurrently, a WebSocket upgrade of the session and `softPerRound` soft HTTP
 * requests of it (staggered by 0-4 ms); then the socket reconnects (a second upgrade).
 * The store answers every call 2 ms late.
 */
export async function raceScenario(options: { rounds: number; softPerRound: number; seed: number }): Promise<RaceFigures> {
  let clock: { now: number } | undefined;
  const delayed = delayedStore(newMemoryStore({ maxEntries: 100_000, now: () => clock?.now ?? Date.now() }), 2);
  const processor = await startTestProcessor({}, { store: delayed.store });
  clock = processor.clock;
  const rng = createRng(options.seed, 'races');
  let reconnectsMoved = 0;
  let softRequests = 0;
  let softMovedOff = 0;
  let upgradesOnCooling = 0;
  let setupSkipped = 0;
  try {
    for (let round = 0; round < options.rounds; round++) {
      // Earlier rounds' cooldowns (5 s) are over.
      processor.clock.now += 60_000;
      const session = `race-${options.seed}-${round}`;
      const home = await softRequest(processor, session, undefined, 0);
      // A starts cooling down: the session's next request gets A's 429.
      const again = await softRequest(processor, session, home, 0);
      if (home === undefined || again !== home) {
        setupSkipped++;
        continue;
      }
      const [first, ...soft] = await Promise.all([
        upgradeRequest(processor, session, rng.int(5)),
        ...Array.from({ length: options.softPerRound }, () => softRequest(processor, session, home, rng.int(5))),
      ]);
      softRequests += soft.length;
      softMovedOff += soft.filter((cluster) => cluster !== home).length;
      if (first === home) upgradesOnCooling++;
      const reconnect = await upgradeRequest(processor, session, 0);
      if (reconnect !== first) reconnectsMoved++;
    }
    return { sessions: options.rounds, reconnectsMoved, softRequests, softMovedOff, upgradesOnCooling, storeCalls: delayed.calls(), setupSkipped };
  } finally {
    await processor.close();
  }
}

// ---------------------------------------------------------------------------------------------
// 4. Stored-object failover

export interface StoredFailoverFigures {
  startAttempts: number;
  home: string | null;
  homeDomain: string | null;
  stepsBefore: Outcome[];
  stepsLimited: Outcome[];
  stepsAfter: Outcome[];
}

/**
 * Two openai accounts in org-1 and one in org-2. A previous_response_id chain (store:true,
 * no session header) that starts on an org-1 account X; X answers 429 (retry-after 2 s) for
 * `limitedSteps` steps; the limit is lifted and, retry-after honoured, the chain goes on.
 */
export async function storedFailoverScenario(options: { stepsBefore: number; limitedSteps: number; stepsAfter: number }): Promise<StoredFailoverFigures> {
  const accounts: FakeAccountOptions[] = [
    { name: 'org1-x', domain: 'org-1' },
    { name: 'org1-y', domain: 'org-1' },
    { name: 'org2-z', domain: 'org-2' },
  ];
  const stack = await startStack({ topology: 'affinity', accounts });
  try {
    // Chains start until one is placed in org-1 (the domain with two accounts).
    let chain: SdkChain | undefined;
    let startAttempts = 0;
    for (let attempt = 0; attempt < 24 && !chain; attempt++) {
      startAttempts++;
      const candidate = new SdkChain(stack.url, `stored-chain-${attempt}`, { apiKey: 'sk-stored-chain' });
      const outcome = await candidate.next();
      if (outcome.ok && outcome.account && outcome.account.startsWith('org1-')) chain = candidate;
    }
    if (!chain) return { startAttempts, home: null, homeDomain: null, stepsBefore: [], stepsLimited: [], stepsAfter: [] };
    const home = chain.outcomes[0]!.account!;
    const stepsBefore: Outcome[] = [chain.outcomes[0]!];
    for (let step = 1; step < options.stepsBefore; step++) stepsBefore.push(await chain.next());
    const x = stack.accounts.find((account) => account.name === home)!;
    rateLimit(x, 2);
    const stepsLimited: Outcome[] = [];
    let lastRateLimitAt = Date.now();
    for (let step = 0; step < options.limitedSteps; step++) {
      const outcome = await chain.next();
      stepsLimited.push(outcome);
      if (outcome.status === 429) lastRateLimitAt = Date.now();
      await sleep(100);
    }
    liftRateLimit(x);
    await sleep(Math.max(0, lastRateLimitAt + 2100 - Date.now()));
    const stepsAfter: Outcome[] = [];
    for (let step = 0; step < options.stepsAfter; step++) stepsAfter.push(await chain.next());
    return { startAttempts, home, homeDomain: x.domain, stepsBefore, stepsLimited, stepsAfter };
  } finally {
    await stack.close();
  }
}

// ---------------------------------------------------------------------------------------------
// 5. Mixed pool

export interface MixedPoolFigures {
  chainRequests: Outcome[];
  statelessRequests: Outcome[];
  codexRequests: Outcome[];
  /** Upstream requests per account (from the fake accounts' logs). */
  perAccount: Record<string, number>;
}

/** Two openai accounts (two domains) and one chatgpt-codex account, as deploy/example-config.yaml. */
export const MIXED_POOL: FakeAccountOptions[] = [
  { name: 'acct-a', domain: 'org-1', profile: 'openai' },
  { name: 'acct-b', domain: 'org-2', profile: 'openai' },
  { name: 'acct-c', profile: 'chatgpt-codex' },
];

export async function mixedPoolScenario(options: { each: number; steps: number; concurrency: number; seed: number }): Promise<MixedPoolFigures> {
  const stack = await startStack({ topology: 'affinity', accounts: MIXED_POOL });
  try {
    const chains = Array.from({ length: options.each }, (_, index) => new SdkChain(stack.url, `mixed-chain-${options.seed}-${index}`, { stream: index % 2 === 1 }));
    const stateless = Array.from(
      { length: options.each },
      (_, index) => new StatelessConversation(stack.url, `mixed-stateless-${options.seed}-${index}: hello`, { stream: index % 2 === 1 }),
    );
    const codex = Array.from({ length: options.each }, (_, index) => new TrackedSession(stack.url, index, options.seed * 1000 + index));
    // Interleaved: one job per conversation, all kinds at once.
    const jobs: Array<() => Promise<unknown>> = [];
    for (let index = 0; index < options.each; index++) {
      jobs.push(async () => {
        for (let step = 0; step < options.steps; step++) await chains[index]!.next();
      });
      jobs.push(async () => {
        for (let step = 0; step < options.steps; step++) await stateless[index]!.next();
      });
      jobs.push(async () => {
        for (let step = 0; step < options.steps; step++) await codex[index]!.turn();
      });
    }
    await runPool(jobs.length, options.concurrency, (index) => jobs[index]!().then(() => undefined));
    return {
      chainRequests: chains.flatMap((chain) => chain.outcomes),
      statelessRequests: stateless.flatMap((conversation) => conversation.outcomes),
      codexRequests: codex.flatMap((session) => session.outcomes),
      perAccount: Object.fromEntries(stack.accounts.map((account) => [account.name, account.requests.length])),
    };
  } finally {
    await stack.close();
  }
}

// ---------------------------------------------------------------------------------------------
// 6. Content seeds

export interface ContentSeedFigures {
  home: string | null;
  firstTurns: Outcome[];
  /** Conversation 1's next turn once its account is limited (it carries encrypted reasoning). */
  limitedTurn: Outcome | null;
  newFirstTurns: Outcome[];
  newSecondTurns: Outcome[];
}

/**
 * Clients with no session signal at all, all opening with the same instructions and "hi".
 * Conversation 1 runs two turns on X; X is limited (long retry-after) and conversation 1's
 * next turn meets the 429; then `newConversations` new conversations with the same opening
 * run two turns each.
 */
export async function contentSeedScenario(options: { newConversations: number }): Promise<ContentSeedFigures> {
  const stack = await startStack({ topology: 'affinity', accounts: THREE_DOMAINS });
  try {
    const first = new StatelessConversation(stack.url, 'hi', { apiKey: 'sk-seed-client' });
    const firstTurns = [await first.next(), await first.next()];
    const home = firstTurns[1]!.ok ? firstTurns[1]!.account : null;
    const x = stack.accounts.find((account) => account.name === home);
    if (!x) return { home, firstTurns, limitedTurn: null, newFirstTurns: [], newSecondTurns: [] };
    rateLimit(x, 600);
    const limitedTurn = await first.next();
    const conversations = Array.from({ length: options.newConversations }, () => new StatelessConversation(stack.url, 'hi', { apiKey: 'sk-seed-client' }));
    const newFirstTurns: Outcome[] = [];
    for (const conversation of conversations) newFirstTurns.push(await conversation.next());
    const newSecondTurns: Outcome[] = [];
    for (const conversation of conversations) if (conversation.step === 1) newSecondTurns.push(await conversation.next());
    return { home, firstTurns, limitedTurn, newFirstTurns, newSecondTurns };
  } finally {
    await stack.close();
  }
}

