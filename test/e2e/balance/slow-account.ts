// One account turns slow (+2 s before it answers, so +2 s to its first event) in the middle of a
// run, in real time: soft sessions should leave it within two turns, hard (Codex) sessions stay,
// and nothing fails for unreadable encrypted content. Shared by the end-to-end test and the demo.
import http from 'node:http';
import { ACCOUNT_HEADER, appendOutput, buildCodexRequest, classify, createRng, initialHistory, postResponses, userMessage, type InputItem } from '../../workload/index.js';
import { startStack } from '../stack.js';

export interface SlowAccountResult {
  readonly slowAccount: string;
  /** Per soft session that was on the slow account: the account of each turn after it turned slow. */
  readonly softPaths: readonly (readonly string[])[];
  /** The same for hard sessions that were on it. */
  readonly hardPaths: readonly (readonly string[])[];
  readonly failed: number;
  readonly encryptedContentFailures: number;
  readonly latencyMoves: number;
  readonly heldForLatency: number;
}

interface Session {
  readonly index: number;
  readonly kind: 'codex' | 'soft';
  readonly id: string;
  readonly history: InputItem[];
  turn: number;
}

const SLOW_BY_MILLISECONDS = 2000;

async function send(url: string, agent: http.Agent, session: Session): Promise<{ account: string | undefined; failure: ReturnType<typeof classify> }> {
  session.history.push(userMessage(`msg_${session.index}_${session.turn}`, `Session ${session.index} turn ${session.turn}.`));
  const request =
    session.kind === 'codex'
      ? buildCodexRequest(
          { threadId: session.id, installationId: session.id, contextWindowId: session.id, turnId: `${session.id}-${session.turn}`, turnStartedAtMs: 0, historyInitialization: session.turn > 0 ? 'cold_resume' : 'new' },
          session.history,
        )
      : { headers: { 'content-type': 'application/json', authorization: 'Bearer sdk-client', session_id: session.id }, body: { model: 'gpt-5.1', store: false, input: session.history } };
  session.turn++;
  const result = await postResponses(url, request.headers, request.body, { agent, timeoutMs: 20_000 });
  const failure = classify(result);
  if (failure === null && session.kind === 'codex') appendOutput(session.history, result);
  else if (failure === null) for (const item of (result.response?.output as InputItem[] | undefined) ?? []) if (item.type === 'message') session.history.push(item);
  return { account: result.headers[ACCOUNT_HEADER], failure };
}

export async function runSlowAccount(options: { softSessions: number; codexSessions: number; turnsAfter: number; seed: number } = { softSessions: 12, codexSessions: 6, turnsAfter: 3, seed: 5 }): Promise<SlowAccountResult> {
  const stack = await startStack({
    topology: 'affinity',
    accounts: [
      { name: 'acct-a1', domain: 'org-a' },
      { name: 'acct-a2', domain: 'org-a' },
      { name: 'acct-b', domain: 'org-b' },
    ],
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const url = new URL('/v1/responses', stack.url).toString();
  const sessions: Session[] = [];
  for (let index = 0; index < options.softSessions + options.codexSessions; index++) {
    const kind = index < options.codexSessions ? 'codex' : 'soft';
    const rng = createRng(options.seed, 'slow', index);
    sessions.push({ index, kind, id: rng.uuid(), history: kind === 'codex' ? initialHistory(rng) : [], turn: 0 });
  }
  let failed = 0;
  let encryptedContentFailures = 0;
  const round = async (): Promise<Map<Session, string | undefined>> => {
    const accounts = new Map<Session, string | undefined>();
    await Promise.all(
      sessions.map(async (session) => {
        const { account, failure } = await send(url, agent, session);
        if (failure !== null) failed++;
        if (failure === 'invalid_encrypted_content') encryptedContentFailures++;
        accounts.set(session, account);
      }),
    );
    return accounts;
  };
  try {
    // Two warm turns: Codex sessions are hard from their second; every account is measured.
    await round();
    const settled = await round();
    const count = (account: string, kind: Session['kind']) => sessions.filter((session) => session.kind === kind && settled.get(session) === account).length;
    // The account holding the most sessions of both kinds turns slow.
    const slowAccount = stack.accounts
      .map((fake) => fake.name)
      .filter((name) => count(name, 'soft') > 0 && count(name, 'codex') > 0)
      .sort((left, right) => count(right, 'soft') + count(right, 'codex') - (count(left, 'soft') + count(left, 'codex')))[0];
    if (!slowAccount) throw new Error('no account holds both soft and hard sessions: choose another seed');
    stack.accounts.find((fake) => fake.name === slowAccount)!.addFault({ kind: 'delay', ms: SLOW_BY_MILLISECONDS, count: 1_000_000 });
    const onSlow = sessions.filter((session) => settled.get(session) === slowAccount);
    const paths = new Map<Session, string[]>(onSlow.map((session) => [session, []]));
    for (let turn = 0; turn < options.turnsAfter; turn++) {
      const accounts = await round();
      for (const session of onSlow) paths.get(session)!.push(accounts.get(session) ?? 'failed');
    }
    const metrics = stack.processor!.context.metrics;
    const sum = async (metric: typeof metrics.bindingMoves, reason: string) =>
      (await metric.get()).values.filter((sample) => sample.labels.reason === reason && sample.labels.account === slowAccount).reduce((total, sample) => total + sample.value, 0);
    return {
      slowAccount,
      softPaths: onSlow.filter((session) => session.kind === 'soft').map((session) => paths.get(session)!),
      hardPaths: onSlow.filter((session) => session.kind === 'codex').map((session) => paths.get(session)!),
      failed,
      encryptedContentFailures,
      latencyMoves: await sum(metrics.bindingMoves, 'latency'),
      heldForLatency: await sum(metrics.movesHeld, 'latency'),
    };
  } finally {
    agent.destroy();
    await stack.close();
  }
}

/** Turns until a soft session was off the slow account (1 = its first turn after the slowdown). */
export function turnsToLeave(path: readonly string[], slowAccount: string): number {
  const index = path.findIndex((account) => account !== slowAccount);
  return index === -1 ? Number.POSITIVE_INFINITY : index + 1;
}
