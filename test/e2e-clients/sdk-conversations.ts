// Conversations written the way OpenAI Node SDK users write them, run through a stack:
// - chain: store:true, each step names the previous response (previous_response_id);
// - stateless: store:false + include:["reasoning.encrypted_content"], each step resends the
//   whole conversation with the previous output items (encrypted reasoning included).
// Streamed (`stream: true`, iterating the SDK's Stream) or not.
import type { FakeAccountOptions, RequestLogEntry } from '../fake-upstream/index.js';
import { startStack, type Topology } from '../e2e/stack.js';
import { openaiSdk, type OpenAIClient, type OpenAISdk } from './clients.js';
import { withLimit } from './codex-cli.js';
import { startRecorder, type CapturedRequest } from './recorder.js';

export type ConversationMode = 'chain' | 'stateless';

export interface ConversationSpec {
  id: string;
  mode: ConversationMode;
  stream: boolean;
}

export interface StepResult {
  ok: boolean;
  status: number;
  /** error.code of a failed step (SDK APIError), else null. */
  code: string | null;
  /** x-fake-account of the answer (fake-only header). */
  account: string | null;
  responseId: string | null;
}

export interface ConversationResult extends ConversationSpec {
  steps: StepResult[];
}

export interface SdkRunResult {
  sdkVersion: string;
  conversations: ConversationResult[];
  captured: CapturedRequest[];
  upstream: RequestLogEntry[];
  durationMs: number;
}

const MODEL = 'gpt-5.1';

interface ResponseLike {
  id: string;
  output: unknown[];
}

async function call(sdk: OpenAISdk, client: OpenAIClient, body: Record<string, unknown>, stream: boolean): Promise<{ result: StepResult; response: ResponseLike | null }> {
  try {
    const { data, response } = await client.responses.create({ ...body, ...(stream ? { stream: true } : {}) }).withResponse();
    let final: ResponseLike | null = null;
    if (stream) {
      for await (const event of data as AsyncIterable<{ type: string; response?: ResponseLike }>) {
        if (event.type === 'response.completed') final = event.response ?? null;
      }
    } else {
      final = data as ResponseLike;
    }
    const account = response.headers.get('x-fake-account');
    if (!final) return { result: { ok: false, status: response.status, code: 'stream_without_completed', account, responseId: null }, response: null };
    return { result: { ok: true, status: response.status, code: null, account, responseId: final.id }, response: final };
  } catch (error) {
    if (!sdk.isAPIError(error)) throw error;
    const account = (error as { headers?: Headers }).headers?.get?.('x-fake-account') ?? null;
    return { result: { ok: false, status: error.status ?? 0, code: error.code ?? null, account, responseId: null }, response: null };
  }
}

async function runConversation(sdk: OpenAISdk, client: OpenAIClient, spec: ConversationSpec, steps: number): Promise<ConversationResult> {
  const results: StepResult[] = [];
  const instructions = 'You are a helpful assistant.';
  if (spec.mode === 'chain') {
    let previous: string | undefined;
    for (let step = 0; step < steps; step++) {
      const input = `${spec.id}: message ${step + 1}`;
      const { result } = await call(sdk, client, { model: MODEL, instructions, input, store: true, ...(previous ? { previous_response_id: previous } : {}) }, spec.stream);
      results.push(result);
      // A failed step leaves the chain where it was; the next step names the last good response.
      if (result.ok) previous = result.responseId!;
    }
  } else {
    const items: unknown[] = [];
    for (let step = 0; step < steps; step++) {
      const message = { role: 'user', content: `${spec.id}: message ${step + 1}` };
      const { result, response } = await call(
        sdk,
        client,
        { model: MODEL, instructions, input: [...items, message], store: false, include: ['reasoning.encrypted_content'] },
        spec.stream,
      );
      results.push(result);
      if (response) items.push(message, ...response.output);
    }
  }
  return { ...spec, steps: results };
}

export async function runSdkConversations(options: {
  topology: Topology;
  accounts: FakeAccountOptions[];
  conversations: ConversationSpec[];
  steps: number;
  parallel: number;
}): Promise<SdkRunResult> {
  const sdk = await openaiSdk();
  const started = Date.now();
  const stack = await startStack({ topology: options.topology, accounts: options.accounts });
  const recorder = await startRecorder(stack.url);
  try {
    // No retries: a refused request shows as it is (the SDK would not retry a 400 anyway).
    const client = sdk.create({ baseURL: `${recorder.url}/v1`, apiKey: 'sk-e2e-clients-not-a-secret', maxRetries: 0, timeout: 20_000 });
    const conversations = await withLimit(
      options.parallel,
      options.conversations.map((spec) => () => runConversation(sdk, client, spec, options.steps)),
    );
    return {
      sdkVersion: sdk.version,
      conversations,
      captured: [...recorder.requests],
      upstream: stack.accounts.flatMap((account) => account.requests).sort((a, b) => a.at - b.at),
      durationMs: Date.now() - started,
    };
  } finally {
    await recorder.close();
    await stack.close();
  }
}

/** The request kind of a captured SDK request, from its body. */
export function sdkRequestKind(request: { body: Buffer }): 'chain-start' | 'chain-step' | 'stateless-start' | 'stateless-step' | 'other' {
  let body: { store?: unknown; previous_response_id?: unknown };
  try {
    body = JSON.parse(request.body.toString('utf8')) as typeof body;
  } catch {
    return 'other';
  }
  if (body.store === true) return typeof body.previous_response_id === 'string' ? 'chain-step' : 'chain-start';
  if (body.store === false) return request.body.includes('"encrypted_content":"') ? 'stateless-step' : 'stateless-start';
  return 'other';
}

export function sdkSummary(label: string, result: SdkRunResult): string {
  const steps = result.conversations.flatMap((conversation) => conversation.steps);
  const failures: Record<string, number> = {};
  for (const step of steps) if (!step.ok) failures[step.code ?? String(step.status)] = (failures[step.code ?? String(step.status)] ?? 0) + 1;
  // Accounts that answered, refusals included (the fake names itself on errors too).
  const perConversation = result.conversations.map((conversation) => new Set(conversation.steps.filter((step) => step.account !== null).map((step) => step.account)).size);
  return (
    `${label}: ${result.conversations.length} conversations, ${steps.length} requests, ${steps.length - steps.filter((step) => step.ok).length} failed ${JSON.stringify(failures)}, ` +
    `conversations on one account ${perConversation.filter((size) => size === 1).length}/${perConversation.length} (accounts per conversation: ${perConversation.join(',')}), ${(result.durationMs / 1000).toFixed(1)} s`
  );
}
