// Runs real Codex CLI sessions through a stack (recorder → harness → [processor] → fake accounts)
// and condenses what happened: turns, failed turns, requests, and the accounts of each session
// as the fake accounts logged them (grouped by the session-id header).
import type { RequestLogEntry } from '../fake-upstream/index.js';
import type { FakeAccountOptions } from '../fake-upstream/index.js';
import { startStack, type Stack, type StackOptions, type Topology } from '../e2e/stack.js';
import { codexCli } from './clients.js';
import { CodexSession, withLimit, type CodexRun } from './codex-cli.js';
import { startEgressTrap } from './egress-trap.js';
import { startRecorder, type CapturedRequest } from './recorder.js';

export interface CodexSessionsOptions {
  topology: Topology;
  accounts: FakeAccountOptions[];
  processor?: StackOptions['processor'];
  sessions: number;
  /** Prompts of one session: the first is `codex exec`, the others `codex exec resume --last`. */
  prompts: string[];
  parallel: number;
  /** Per codex invocation. */
  timeoutMs?: number;
}

export interface CodexSessionsResult {
  /** runs[session][turn] */
  runs: CodexRun[][];
  turns: number;
  failedTurns: number;
  /** What the clients sent, as the recorder in front of the stack saw it. */
  captured: CapturedRequest[];
  /** What the fake accounts received and answered. */
  upstream: RequestLogEntry[];
  /** session-id → accounts that answered it (fake accounts' logs). */
  accountsBySession: Map<string, Set<string>>;
  /** error code (fake accounts' logs) → count. */
  upstreamErrors: Record<string, number>;
  /** Calls outside loopback the egress trap refused. */
  egress: string[];
  durationMs: number;
}

export async function runCodexSessions(options: CodexSessionsOptions): Promise<CodexSessionsResult> {
  codexCli(); // fails with the install command before anything starts
  const started = Date.now();
  const stack: Stack = await startStack({ topology: options.topology, accounts: options.accounts, ...(options.processor ? { processor: options.processor } : {}) });
  const recorder = await startRecorder(stack.url);
  const trap = await startEgressTrap();
  const sessions: CodexSession[] = [];
  try {
    const tasks = Array.from({ length: options.sessions }, () => async (): Promise<CodexRun[]> => {
      const session = new CodexSession({ baseUrl: `${recorder.url}/v1`, egressEnv: trap.env, ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}) });
      sessions.push(session);
      const runs = [await session.exec(options.prompts[0]!)];
      for (const prompt of options.prompts.slice(1)) runs.push(await session.resume(prompt));
      return runs;
    });
    const runs = await withLimit(options.parallel, tasks);
    const upstream = stack.accounts.flatMap((account) => account.requests).sort((a, b) => a.at - b.at);
    const accountsBySession = new Map<string, Set<string>>();
    const upstreamErrors: Record<string, number> = {};
    for (const entry of upstream) {
      const key = entry.sessionId ?? '(none)';
      const accounts = accountsBySession.get(key) ?? new Set<string>();
      accounts.add(entry.account);
      accountsBySession.set(key, accounts);
      if (entry.errorCode !== null) upstreamErrors[entry.errorCode] = (upstreamErrors[entry.errorCode] ?? 0) + 1;
    }
    const flat = runs.flat();
    return {
      runs,
      turns: flat.length,
      failedTurns: flat.filter((run) => run.code !== 0 || run.timedOut).length,
      captured: [...recorder.requests],
      upstream,
      accountsBySession,
      upstreamErrors,
      egress: [...trap.attempts],
      durationMs: Date.now() - started,
    };
  } finally {
    for (const session of sessions) session.dispose();
    await recorder.close();
    await trap.close();
    await stack.close();
  }
}

/** The request kind of a captured Codex request, from what it carries. */
export function codexRequestKind(request: { headers: Record<string, string>; body: Buffer }): 'first-turn' | 'resume' | 'tool-follow-up' | 'turn-state-follow-up' | 'other' {
  let body: { input?: Array<{ type?: string }> };
  let metadata: { history_initialization?: string };
  try {
    body = JSON.parse(request.body.toString('utf8')) as typeof body;
    metadata = JSON.parse(request.headers['x-codex-turn-metadata'] ?? '{}') as typeof metadata;
  } catch {
    return 'other';
  }
  const last = body.input?.at(-1)?.type;
  if (last === 'function_call_output') return request.headers['x-codex-turn-state'] !== undefined ? 'turn-state-follow-up' : 'tool-follow-up';
  if (metadata.history_initialization === 'new') return 'first-turn';
  if (metadata.history_initialization === 'cold_resume') return 'resume';
  return 'other';
}

/** One line for the test log. */
export function summarize(label: string, result: CodexSessionsResult): string {
  const perSession = [...result.accountsBySession.values()].map((accounts) => accounts.size);
  const onOne = perSession.filter((size) => size === 1).length;
  return (
    `${label}: ${result.runs.length} sessions, ${result.turns} turns, ${result.failedTurns} failed turns, ` +
    `${result.upstream.length} upstream requests, errors ${JSON.stringify(result.upstreamErrors)}, ` +
    `sessions on one account ${onOne}/${perSession.length} (accounts per session: ${perSession.join(',')}), ` +
    `egress attempts ${result.egress.length}, ${(result.durationMs / 1000).toFixed(1)} s`
  );
}
