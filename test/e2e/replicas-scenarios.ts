import { CodexSession } from './codex-session.js';
// Scenarios of the replica tests (replicas.test.ts): a replicated stack (replicas.ts) driven
// by the Codex workload or by sessions whose requests are sent to chosen pods; each returns
// the figures the test asserts on and logs. Loopback only.
import { createHash } from 'node:crypto';
import type { FakeAccountOptions } from '../fake-upstream/index.js';
import { buildCodexRequest, createRng, initialHistory, postResponses, runCodexWorkload, userMessage, type InputItem, type Rng, type WorkloadStats } from '../workload/index.js';
import { runPool } from '../workload/stats.js';
import { SdkChain } from './ownership/clients.js';
import { countBy, outcomeOf, type Outcome } from './ownership/tools.js';
import { startReplicatedStack, type Exchange, type ReplicatedStack, type ReplicatedStackOptions, type StoreCounters } from './replicas.js';

/** Three openai accounts, one per domain (a foreign domain answers 400 invalid_encrypted_content). */
export const THREE_DOMAINS_OPENAI: FakeAccountOptions[] = [
  { name: 'acct-a', domain: 'org-a', profile: 'openai' },
  { name: 'acct-b', domain: 'org-b', profile: 'openai' },
  { name: 'acct-c', domain: 'org-c', profile: 'openai' },
];

type StackChoice = Pick<ReplicatedStackOptions, 'store' | 'hmacSecretEnv' | 'redisTopology'>;

// ---------------------------------------------------------------------------------------------
// Figures of one workload run

export interface RunFigures {
  store: 'memory' | 'redis';
  requests: number;
  failed: number;
  failedByClass: Record<string, number>;
  /** Sessions whose successful requests were all answered by one account (and had one). */
  oneAccount: number;
  sessions: number;
  /** Sessions whose requests the spreader sent to two or more pods, and to every pod. */
  sessionsOnSeveralPods: number;
  sessionsOnEveryPod: number;
  /** Requests per pod, as the spreader sent them. */
  perPod: number[];
  cacheHit: number;
  counters: StoreCounters;
}

export function sessionsOnOneAccount(stats: WorkloadStats): number {
  const accounts = new Map<string, Set<string>>();
  for (const record of stats.records) {
    const set = accounts.get(record.session) ?? new Set<string>();
    if (record.ok && record.account) set.add(record.account);
    accounts.set(record.session, set);
  }
  return [...accounts.values()].filter((set) => set.size === 1).length;
}

function podsPerSession(stack: ReplicatedStack): number[] {
  const pods = new Map<string, Set<number>>();
  for (const record of stack.spread) {
    if (!record.session) continue;
    const set = pods.get(record.session) ?? new Set<number>();
    set.add(record.pod);
    pods.set(record.session, set);
  }
  return [...pods.values()].map((set) => set.size);
}

async function figuresOf(stack: ReplicatedStack, stats: WorkloadStats): Promise<RunFigures> {
  const failedByClass: Record<string, number> = {};
  for (const [failure, count] of Object.entries(stats.failed)) if (count > 0) failedByClass[failure] = count;
  return {
    store: stack.store,
    requests: stats.requests,
    failed: stats.failedTotal,
    failedByClass,
    oneAccount: sessionsOnOneAccount(stats),
    sessions: stats.sessions,
    sessionsOnSeveralPods: podsPerSession(stack).filter((count) => count > 1).length,
    sessionsOnEveryPod: podsPerSession(stack).filter((count) => count === stack.pods.length).length,
    perPod: stack.pods.map((pod) => pod.requests),
    cacheHit: stats.cachedTokenRatio,
    counters: await stack.counters(),
  };
}

export function showRun(figures: RunFigures): string {
  return (
    `${figures.store}: ${figures.requests} requests (per pod ${figures.perPod.join('/')}), ${figures.failed} failed ${JSON.stringify(figures.failedByClass)}, ` +
    `${figures.oneAccount}/${figures.sessions} sessions on one account, ${figures.sessionsOnSeveralPods} sessions spread over ≥2 pods (${figures.sessionsOnEveryPod} over all), ` +
    `cache hit ${(figures.cacheHit * 100).toFixed(1)}%, store errors ${figures.counters.storeErrors}, binding races ${figures.counters.bindingRaces}, orphans ${figures.counters.orphans}`
  );
}

// ---------------------------------------------------------------------------------------------
// a. The workload spread per request over the pods

export interface WorkloadOptions {
  replicas: number;
  sessions: number;
  turns: number;
  concurrency: number;
  seed: number;
  /** Restart these pods' processors when this fraction of the requests has been answered. */
  restarts?: Array<{ pod: number; atFraction: number }>;
}

export interface RestartFigures {
  pod: number;
  /** Requests answered when the restart began and when the new replica was serving. */
  atRequest: number;
  doneAtRequest: number;
  milliseconds: number;
}

export async function workloadScenario(choice: StackChoice, options: WorkloadOptions): Promise<{ run: RunFigures; restarts: RestartFigures[] }> {
  const stack = await startReplicatedStack({ accounts: THREE_DOMAINS_OPENAI, replicas: options.replicas, ...choice });
  try {
    const total = options.sessions * options.turns;
    const pending = [...(options.restarts ?? [])].sort((a, b) => a.atFraction - b.atFraction);
    const running: Array<Promise<RestartFigures>> = [];
    let answered = 0;
    const stats = await runCodexWorkload({
      baseUrl: stack.url,
      sessions: options.sessions,
      turns: options.turns,
      concurrency: options.concurrency,
      seed: options.seed,
      onProgress: () => {
        answered++;
        while (pending.length > 0 && answered >= pending[0]!.atFraction * total) {
          const { pod } = pending.shift()!;
          const atRequest = answered;
          const started = Date.now();
          running.push(stack.restartReplica(pod).then(() => ({ pod, atRequest, doneAtRequest: answered, milliseconds: Date.now() - started })));
        }
      },
    });
    const restarts = await Promise.all(running);
    return { run: await figuresOf(stack, stats), restarts };
  } finally {
    await stack.close();
  }
}

// ---------------------------------------------------------------------------------------------
// b. A session's first request sent to every pod at once

/** One Codex session whose requests are built once and may be sent to several pods. */
class PodSession {
  private readonly rng: Rng;
  readonly threadId: string;
  private readonly history: InputItem[];
  private turn = 0;

  constructor(
    readonly index: number,
    seed: number,
  ) {
    this.rng = createRng(seed, 'replica-session', index);
    this.threadId = this.rng.uuid();
    this.history = initialHistory(this.rng);
  }

  /** The next turn's request, and the history it carries. */
  nextRequest(): { headers: Record<string, string>; body: Record<string, unknown>; history: InputItem[] } {
    const history = [...this.history, userMessage(`msg_${this.rng.uuid()}`, `Replica session ${this.index} turn ${this.turn}: continue.`)];
    const request = buildCodexRequest(
      {
        threadId: this.threadId,
        installationId: 'install-replicas',
        contextWindowId: 'window-replicas',
        turnId: this.rng.uuid(),
        turnStartedAtMs: 1_795_000_000_000 + this.turn,
        historyInitialization: this.turn === 0 ? 'new' : 'cold_resume',
      },
      history,
    );
    return { ...request, history };
  }

  /** Keeps an answer's output as the next turn's history. */
  accept(history: InputItem[], output: unknown): void {
    this.history.splice(0, this.history.length, ...history, ...((output as InputItem[] | undefined) ?? []));
    this.turn++;
  }
}

export interface FirstRequestRaceFigures {
  sessions: number;
  /** First requests (one per pod per session) and those that failed. */
  firstRequests: number;
  firstFailed: number;
  firstFailedByCode: Record<string, number>;
  /** Sessions whose concurrent first answers came from two or more accounts. */
  split: number;
  /** Accounts of the first answers, per session (the agreed one), counted. */
  homes: Record<string, number>;
  laterRequests: number;
  laterFailed: number;
  laterFailedByCode: Record<string, number>;
  /** Sessions whose later turns left the account of their first answers. */
  moved: number;
  /** Sessions answered by two or more accounts overall. */
  severalAccounts: number;
  counters: StoreCounters;
  seconds: number;
}

export async function firstRequestRaceScenario(
  choice: StackChoice,
  options: { replicas: number; sessions: number; laterTurns: number; concurrency: number; seed: number },
): Promise<FirstRequestRaceFigures> {
  const stack = await startReplicatedStack({ accounts: THREE_DOMAINS_OPENAI, replicas: options.replicas, ...choice });
  const started = Date.now();
  try {
    const first: Outcome[] = [];
    const later: Outcome[] = [];
    let split = 0;
    let moved = 0;
    let severalAccounts = 0;
    const homes: string[] = [];
    await runPool(options.sessions, options.concurrency, async (index) => {
      const session = new PodSession(index, options.seed);
      const request = session.nextRequest();
      const results = await Promise.all(
        stack.pods.map((pod) => postResponses(new URL('/v1/responses', pod.url).toString(), request.headers, request.body, { timeoutMs: 20_000 })),
      );
      const outcomes = results.map(outcomeOf);
      first.push(...outcomes);
      const firstAccounts = new Set(outcomes.filter((outcome) => outcome.ok && outcome.account).map((outcome) => outcome.account!));
      if (firstAccounts.size > 1) split++;
      const chosen = results.findIndex((result, at) => outcomes[at]!.ok && result.response);
      if (chosen < 0) return;
      const home = outcomes[chosen]!.account!;
      homes.push(firstAccounts.size === 1 ? home : 'split');
      session.accept(request.history, results[chosen]!.response!.output);
      const all = new Set(firstAccounts);
      let left = false;
      for (let turn = 0; turn < options.laterTurns; turn++) {
        const next = session.nextRequest();
        const result = await postResponses(new URL('/v1/responses', stack.url).toString(), next.headers, next.body, { timeoutMs: 20_000 });
        const outcome = outcomeOf(result);
        later.push(outcome);
        if (!outcome.ok || !result.response) continue;
        if (outcome.account) all.add(outcome.account);
        if (outcome.account !== home) left = true;
        session.accept(next.history, result.response.output);
      }
      if (left) moved++;
      if (all.size > 1) severalAccounts++;
    });
    const failedFirst = first.filter((outcome) => !outcome.ok);
    const failedLater = later.filter((outcome) => !outcome.ok);
    return {
      sessions: options.sessions,
      firstRequests: first.length,
      firstFailed: failedFirst.length,
      firstFailedByCode: countBy(failedFirst, (outcome) => `${outcome.status}:${outcome.code ?? ''}`),
      split,
      homes: countBy(homes, (home) => home),
      laterRequests: later.length,
      laterFailed: failedLater.length,
      laterFailedByCode: countBy(failedLater, (outcome) => `${outcome.status}:${outcome.code ?? ''}`),
      moved,
      severalAccounts,
      counters: await stack.counters(),
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    await stack.close();
  }
}

// ---------------------------------------------------------------------------------------------
// d. What reaches Redis

/** Raw values the clients sent and the fake upstreams issued, by category. */
export type RawCategory = 'session/thread id' | 'prompt text' | 'turn-state token' | 'response id' | 'item id' | 'encrypted content' | 'client API key' | 'unkeyed sha256 of an id';

export interface LeakFigures {
  requests: number;
  failed: number;
  keys: number;
  /** Keys by kind segment (`<prefix>:{tag}:<kind>:…`; `v` = a partition's version counter). */
  keysByKind: Record<string, number>;
  types: Record<string, number>;
  /** Keys outside the stack's prefix (should be none). */
  foreignKeys: number;
  /** Values that name an account of the stack (proof the values were read). */
  valuesNamingAnAccount: number;
  checked: Record<RawCategory, number>;
  /** Raw values found in a key or a value, by category, with up to three examples. */
  found: Partial<Record<RawCategory, number>>;
  examples: string[];
}

function addRaw(into: Map<RawCategory, Set<string>>, category: RawCategory, value: unknown): void {
  if (typeof value !== 'string' || value.length < 8) return;
  let set = into.get(category);
  if (!set) into.set(category, (set = new Set()));
  set.add(value);
  if (category === 'session/thread id' || category === 'response id' || category === 'item id') {
    addRaw(into, 'unkeyed sha256 of an id', createHash('sha256').update(value).digest('hex'));
    if (/^[0-9a-f-]{36}$/i.test(value)) set.add(value.replace(/-/g, '')); // a uuid without its dashes
  }
}

function textsOf(content: unknown): string[] {
  if (typeof content === 'string') return [content];
  if (!Array.isArray(content)) return [];
  return content.map((part) => (part && typeof part === 'object' ? (part as Record<string, unknown>).text : undefined)).filter((text): text is string => typeof text === 'string');
}

/** Collects the raw values of one exchange seen by the spreader. */
function collectExchange(into: Map<RawCategory, Set<string>>, exchange: Exchange): void {
  const header = (name: string) => {
    const value = exchange.requestHeaders[name];
    return Array.isArray(value) ? value[0] : value;
  };
  for (const name of ['session-id', 'session_id', 'thread-id', 'conversation_id', 'x-client-request-id', 'x-codex-window-id']) addRaw(into, 'session/thread id', header(name));
  addRaw(into, 'turn-state token', header('x-codex-turn-state'));
  const authorization = header('authorization');
  if (authorization) {
    addRaw(into, 'client API key', authorization);
    addRaw(into, 'client API key', authorization.replace(/^Bearer\s+/i, ''));
  }
  const turnState = exchange.responseHeaders['x-codex-turn-state'];
  addRaw(into, 'turn-state token', Array.isArray(turnState) ? turnState[0] : turnState);
  try {
    const body = JSON.parse(exchange.requestBody.toString('utf8')) as Record<string, unknown>;
    addRaw(into, 'session/thread id', body.prompt_cache_key);
    addRaw(into, 'response id', body.previous_response_id);
    const metadata = body.client_metadata as Record<string, unknown> | undefined;
    if (metadata) for (const key of ['turn_id', 'x-codex-installation-id', 'session_id', 'thread_id', 'root_turn_id']) addRaw(into, 'session/thread id', metadata[key]);
    const input = typeof body.input === 'string' ? [{ role: 'user', content: body.input }] : ((body.input as Array<Record<string, unknown>> | undefined) ?? []);
    for (const item of input) {
      if (item.role === 'user') for (const text of textsOf(item.content)) addRaw(into, 'prompt text', text);
      addRaw(into, 'item id', item.id);
      addRaw(into, 'item id', item.call_id);
      addRaw(into, 'encrypted content', item.encrypted_content);
    }
  } catch {
    // not JSON: nothing to collect
  }
  // The answer: SSE events or a JSON body; every id, call_id and encrypted_content in it.
  const text = exchange.responseBody.toString('utf8');
  const documents = text.includes('data:')
    ? text
        .split('\n')
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).trim())
    : [text];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (!node || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
      if (typeof value === 'string') {
        if (key === 'id') addRaw(into, value.startsWith('resp_') ? 'response id' : 'item id', value);
        else if (key === 'call_id' || key === 'item_id') addRaw(into, 'item id', value);
        else if (key === 'encrypted_content') addRaw(into, 'encrypted content', value);
        else if (key === 'previous_response_id') addRaw(into, 'response id', value);
      } else walk(value);
    }
  };
  for (const document of documents) {
    try {
      walk(JSON.parse(document));
    } catch {
      // a partial or non-JSON line
    }
  }
}

export async function leakScenario(
  choice: StackChoice,
  options: { replicas: number; sessions: number; turns: number; chains: number; chainSteps: number; concurrency: number; seed: number; clientKey: string; sdkKey: string },
): Promise<LeakFigures> {
  // Turn-state tokens too: the openai fakes issue them here (replayed on tool-call follow-ups).
  const accounts = THREE_DOMAINS_OPENAI.map((account) => ({ ...account, issueTurnState: true }));
  const stack = await startReplicatedStack({ accounts, replicas: options.replicas, ...choice });
  try {
    const raw = new Map<RawCategory, Set<string>>();
    stack.observe = (exchange) => collectExchange(raw, exchange);
    const stats = await runCodexWorkload({
      baseUrl: stack.url,
      sessions: options.sessions,
      turns: options.turns,
      toolCallsPerTurn: 1,
      concurrency: options.concurrency,
      seed: options.seed,
      clientKey: options.clientKey,
    });
    // SDK chains (store:true + previous_response_id): stored responses reach the store too.
    const chains = Array.from({ length: options.chains }, (_, index) => new SdkChain(stack.url, `replica-chain-${options.seed}-${index}`, { apiKey: options.sdkKey }));
    const chainOutcomes: Outcome[] = [];
    await runPool(chains.length, options.concurrency, async (index) => {
      for (let step = 0; step < options.chainSteps; step++) chainOutcomes.push(await chains[index]!.next());
    });
    stack.observe = undefined;
    // And what the workload and the fakes logged.
    for (const record of stats.records) {
      addRaw(raw, 'session/thread id', record.session);
      addRaw(raw, 'turn-state token', record.turnStateSent);
      addRaw(raw, 'turn-state token', record.turnStateReceived);
      addRaw(raw, 'response id', record.responseId);
    }
    for (const account of stack.accounts) {
      for (const token of account.issuedTurnStates) addRaw(raw, 'turn-state token', token);
      for (const entry of account.requests) {
        addRaw(raw, 'session/thread id', entry.sessionId);
        addRaw(raw, 'session/thread id', entry.promptCacheKey);
        addRaw(raw, 'session/thread id', entry.headers['thread-id']);
        addRaw(raw, 'turn-state token', entry.turnStateIn);
        addRaw(raw, 'turn-state token', entry.turnStateOut);
        addRaw(raw, 'response id', entry.responseId);
        addRaw(raw, 'response id', entry.previousResponseId);
        addRaw(raw, 'client API key', entry.headers.authorization);
        addRaw(raw, 'client API key', entry.headers.authorization?.replace(/^Bearer\s+/i, ''));
      }
    }
    addRaw(raw, 'client API key', options.clientKey);
    addRaw(raw, 'client API key', options.sdkKey);

    const entries = await stack.scanRedis();
    const prefix = stack.keyPrefix!;
    const keysByKind = countBy(entries, (entry) => (entry.key.endsWith(':v') ? 'v' : (entry.key.split(':')[2] ?? '?')));
    const types = countBy(entries, (entry) => entry.type);
    const haystacks = entries.flatMap((entry) => [entry.key, ...entry.values]);
    const accountNames = stack.accounts.map((account) => account.name);
    const checked = {} as Record<RawCategory, number>;
    const found: Partial<Record<RawCategory, number>> = {};
    const examples: string[] = [];
    for (const [category, values] of raw) {
      checked[category] = values.size;
      for (const value of values) {
        const hit = haystacks.find((haystack) => haystack.includes(value));
        if (hit === undefined) continue;
        found[category] = (found[category] ?? 0) + 1;
        if (examples.length < 3) examples.push(`${category} ${JSON.stringify(value.slice(0, 40))} in ${JSON.stringify(hit.slice(0, 120))}`);
      }
    }
    const failed = stats.failedTotal + chainOutcomes.filter((outcome) => !outcome.ok).length;
    return {
      requests: stats.requests + chainOutcomes.length,
      failed,
      keys: entries.length,
      keysByKind,
      types,
      foreignKeys: entries.filter((entry) => !entry.key.startsWith(`${prefix}:`)).length,
      valuesNamingAnAccount: entries.filter((entry) => entry.values.some((value) => accountNames.some((name) => value.includes(name)))).length,
      checked,
      found,
      examples,
    };
  } finally {
    await stack.close();
  }
}

/**
 * New sessions, one at a time, spread over the pods while one account answers 429:
 * how many reached that account. With account state shared through Redis only the
 * first does; with memory per replica, each replica learns it for itself.
 */
export async function sharedCooldownScenario(choice: StackChoice, options: { replicas: number; sessions: number }): Promise<number> {
  const stack = await startReplicatedStack({ accounts: THREE_DOMAINS_OPENAI, replicas: options.replicas, ...choice });
  try {
    const limited = stack.accounts[0]!;
    limited.setRateLimit({ reject: { kind: 'rate_limit_exceeded', retryAfterSeconds: 120 } });
    let hits = 0;
    for (let index = 0; index < options.sessions; index++) {
      const result = await new CodexSession(stack.url, 9000 + index).turnOnce();
      const hit = result.status === 429 && result.headers['x-fake-account'] === limited.name;
      if (hit) hits++;
      // The promise is "seen by every replica within a second": give it that second.
      await new Promise((resolve) => setTimeout(resolve, hit ? 1000 : 20));
    }
    return hits;
  } finally {
    await stack.close();
  }
}
