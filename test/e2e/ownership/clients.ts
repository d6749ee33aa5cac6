// The scenarios' clients: SDK chains, stateless conversations, tracked Codex sessions.
import { postResponses } from '../../workload/index.js';
import { runPool } from '../../workload/stats.js';
import { CodexSession } from '../codex-session.js';
import { outcomeOf, type Outcome } from './tools.js';

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
export async function runTurns(sessions: readonly TrackedSession[], turns: number, concurrency: number): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  await runPool(sessions.length, concurrency, async (index) => {
    for (let turn = 0; turn < turns; turn++) outcomes.push(await sessions[index]!.turn());
  });
  return outcomes;
}

/** One turn of each session, one at a time, in the given order. */
export async function runRound(sessions: readonly TrackedSession[]): Promise<Map<TrackedSession, Outcome>> {
  const outcomes = new Map<TrackedSession, Outcome>();
  for (const session of sessions) outcomes.set(session, await session.turn());
  return outcomes;
}
