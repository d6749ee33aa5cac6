// A simulated day, compressed by a clock the run controls: long-lived Codex sessions (hard
// from turn 2) and SDK-style soft sessions, working in bursts with idle gaps, on three fake
// accounts (two in one domain) whose prompt caches forget a key after 10 idle minutes of
// that clock. One account starts the day at 60% of its usage window; every answered request
// adds to the answering account's usage. The same day runs through codex-affinity with
// balancing, through codex-affinity with balancing off (never-moving stickiness), and
// through round robin. Shared by the end-to-end test and `npm run demo`.
import http from 'node:http';
import type { ConfigInput } from '../../../src/config/schema.js';
import { ACCOUNT_HEADER, appendOutput, buildCodexRequest, classify, createRng, initialHistory, postResponses, usageOf, userMessage, type InputItem, type ResponsesResult } from '../../workload/index.js';
import { startStack, type Topology } from '../stack.js';

export type DayTopology = 'balanced' | 'sticky' | 'round-robin';

export interface DayOptions {
  readonly codexSessions: number;
  readonly softSessions: number;
  readonly hours: number;
  readonly seed: number;
  /** Usage-window points each answered request adds to its account. */
  readonly percentPerRequest: number;
  /** Where the hot account starts the day. */
  readonly hotStartPercent: number;
  readonly concurrency: number;
}

export const DAY_DEFAULTS: DayOptions = { codexSessions: 8, softSessions: 16, hours: 24, seed: 11, percentPerRequest: 0.12, hotStartPercent: 60, concurrency: 8 };

export interface DayResult {
  readonly topology: DayTopology;
  readonly requests: number;
  readonly failed: number;
  readonly encryptedContentFailures: number;
  readonly cacheHitRatio: number;
  /** Each account's usage-window percent at the end of the day. */
  readonly usage: Readonly<Record<string, number>>;
  /** Highest over lowest end-of-day usage. */
  readonly usageRatio: number;
  /** Requests each account answered. */
  readonly served: Readonly<Record<string, number>>;
  /** Moves by reason (codex-affinity topologies). */
  readonly moves: Readonly<Record<string, number>>;
}

const MINUTE = 60_000;
const DAY_START = 1_800_000_000_000;
const CACHE_LIFETIME = 10 * MINUTE;
const HOT = 'acct-a1';

/** The balancing a topology runs with: defaults, or every move turned off. */
const NEVER_MOVES: Partial<ConfigInput> = {
  balance: { cacheLifetime: '30d', extendedCacheLifetime: '30d', movesPerMinute: 0, slowerBy: '1d', errorRate: 1 },
};

interface Session {
  readonly index: number;
  readonly kind: 'codex' | 'soft';
  readonly id: string;
  readonly history: InputItem[];
  /** Minutes of the day at which the session sends a turn. */
  readonly turns: number[];
  turn: number;
}

/** Bursts of three turns a minute apart, then an idle gap of 15 minutes to 3 hours. */
function schedule(seed: number, index: number, hours: number): number[] {
  const rng = createRng(seed, 'schedule', index);
  const minutes: number[] = [];
  let at = rng.int(10);
  while (at < hours * 60) {
    for (let turn = 0; turn < 3 && at < hours * 60; turn++, at++) minutes.push(at);
    at += 15 + rng.int(165);
  }
  return minutes;
}

function sessions(options: DayOptions): Session[] {
  const all: Session[] = [];
  for (let index = 0; index < options.codexSessions + options.softSessions; index++) {
    const kind = index < options.codexSessions ? 'codex' : 'soft';
    const rng = createRng(options.seed, 'session', index);
    all.push({ index, kind, id: rng.uuid(), history: kind === 'codex' ? initialHistory(rng) : [], turns: schedule(options.seed, index, options.hours), turn: 0 });
  }
  return all;
}

function softRequest(session: Session): { headers: Record<string, string>; body: Record<string, unknown> } {
  return {
    headers: { 'content-type': 'application/json', authorization: 'Bearer sdk-client', session_id: session.id },
    body: { model: 'gpt-5.1', store: false, input: session.history },
  };
}

/** One turn of a session: the request its client sends now, and what it keeps of the answer. */
async function sendTurn(url: string, agent: http.Agent, session: Session, now: number): Promise<ResponsesResult> {
  const text = `Session ${session.index} turn ${session.turn}: continue.`;
  session.history.push(userMessage(`msg_${session.index}_${session.turn}`, text));
  const request =
    session.kind === 'codex'
      ? buildCodexRequest(
          {
            threadId: session.id,
            installationId: session.id,
            contextWindowId: session.id,
            turnId: `${session.id}-${session.turn}`,
            turnStartedAtMs: now,
            historyInitialization: session.turn > 0 ? 'cold_resume' : 'new',
          },
          session.history,
        )
      : softRequest(session);
  session.turn++;
  const result = await postResponses(url, request.headers, request.body, { agent, timeoutMs: 20_000 });
  if (classify(result) === null) {
    if (session.kind === 'codex') appendOutput(session.history, result);
    else for (const item of (result.response?.output as InputItem[] | undefined) ?? []) if (item.type === 'message') session.history.push(item);
  } else {
    session.history.pop();
  }
  return result;
}

async function inParallel<T>(items: readonly T[], concurrency: number, job: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await job(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

export async function runDay(topology: DayTopology, options: DayOptions = DAY_DEFAULTS, onProgress?: (minute: number, total: number) => void): Promise<DayResult> {
  const clock = { now: DAY_START };
  const accounts = [
    { name: HOT, domain: 'org-a', start: options.hotStartPercent },
    { name: 'acct-a2', domain: 'org-a', start: 0 },
    { name: 'acct-b', domain: 'org-b', start: 0 },
  ].map((account) => ({
    name: account.name,
    domain: account.domain,
    cacheExpiry: { clock: () => clock.now, lifetimeMs: CACHE_LIFETIME },
    // Windows that outlast the day: usage only grows, and its readings hold until their reset.
    rateLimit: { percentPerRequest: options.percentPerRequest, primary: { usedPercent: account.start, resetAfterSeconds: 3 * 86_400 }, secondary: { usedPercent: account.start, resetAfterSeconds: 3 * 86_400 } },
  }));
  const stackTopology: Topology = topology === 'round-robin' ? 'round-robin' : 'affinity';
  const stack = await startStack({ topology: stackTopology, accounts, clock: () => clock.now, ...(topology === 'sticky' ? { processor: NEVER_MOVES } : {}) });
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.concurrency * 2 });
  const url = new URL('/v1/responses', stack.url).toString();
  const all = sessions(options);
  const byMinute = new Map<number, Session[]>();
  for (const session of all) for (const minute of session.turns) byMinute.set(minute, [...(byMinute.get(minute) ?? []), session]);
  let requests = 0;
  let failed = 0;
  let encryptedContentFailures = 0;
  let inputTokens = 0;
  let cachedTokens = 0;
  const served: Record<string, number> = Object.fromEntries(accounts.map((account) => [account.name, 0]));
  try {
    const minutes = [...byMinute.keys()].sort((left, right) => left - right);
    for (const minute of minutes) {
      clock.now = DAY_START + minute * MINUTE;
      await inParallel(byMinute.get(minute)!, options.concurrency, async (session) => {
        const result = await sendTurn(url, agent, session, clock.now);
        requests++;
        const failure = classify(result);
        if (failure !== null) {
          failed++;
          if (failure === 'invalid_encrypted_content') encryptedContentFailures++;
          return;
        }
        const account = result.headers[ACCOUNT_HEADER];
        if (account) served[account] = (served[account] ?? 0) + 1;
        const usage = usageOf(result);
        inputTokens += usage.input;
        cachedTokens += usage.cached;
      });
      onProgress?.(minute, options.hours * 60);
    }
    const usage = Object.fromEntries(stack.accounts.map((fake) => [fake.name, Math.round(fake.rateLimit.primary.usedPercent * 10) / 10]));
    const values = Object.values(usage);
    const moves: Record<string, number> = {};
    if (stack.processor) {
      const metric = await stack.processor.context.metrics.bindingMoves.get();
      // Every reason's series starts at zero (metrics.ts): only moves that happened count.
      for (const sample of metric.values) if (sample.value > 0) moves[String(sample.labels.reason)] = (moves[String(sample.labels.reason)] ?? 0) + sample.value;
    }
    return {
      topology,
      requests,
      failed,
      encryptedContentFailures,
      cacheHitRatio: inputTokens > 0 ? cachedTokens / inputTokens : 0,
      usage,
      usageRatio: Math.max(...values) / Math.max(0.1, Math.min(...values)),
      served,
      moves,
    };
  } finally {
    agent.destroy();
    await stack.close();
  }
}

const LABEL: Record<DayTopology, string> = { balanced: 'codex-affinity', sticky: 'never-moving stickiness', 'round-robin': 'round-robin' };

export function formatDay(results: readonly DayResult[]): string {
  const names = Object.keys(results[0]?.usage ?? {});
  const header = ['topology', 'requests', 'failed', 'encrypted-content', 'cache hit', ...names.map((name) => `${name} usage`), 'max/min', 'moves'];
  const lines = results.map((result) => [
    LABEL[result.topology],
    String(result.requests),
    String(result.failed),
    String(result.encryptedContentFailures),
    `${(result.cacheHitRatio * 100).toFixed(1)}%`,
    ...names.map((name) => `${result.usage[name]!.toFixed(1)}%`),
    result.usageRatio.toFixed(2),
    Object.entries(result.moves)
      .map(([reason, count]) => `${reason} ${count}`)
      .join(', ') || '-',
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...lines.map((line) => line[column]!.length)));
  const format = (cells: string[]) => cells.map((cell, column) => (column === 0 || column === cells.length - 1 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ');
  return [format(header), format(widths.map((width) => '-'.repeat(width))), ...lines.map(format)].join('\n');
}
