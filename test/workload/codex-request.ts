// One Codex CLI 0.169.0 request, shaped like shared/fixtures/codex-cli-0.169.0/first-turn.json and
// cold-resume.json: the same header names and order, the same body keys. Texts are generated filler.
import { createHash } from 'node:crypto';
import { createRng, type Rng } from './rng.js';

export type HeaderStyle = 'codex-0.169' | 'session_id-underscore';
export type InputItem = Record<string, unknown>;

export const CODEX_VERSION = '0.169.0';
export const DEFAULT_MODEL = 'gpt-5.1-codex';

export interface CodexTurnContext {
  threadId: string;
  installationId: string;
  contextWindowId: string;
  turnId: string;
  turnStartedAtMs: number;
  historyInitialization: 'new' | 'cold_resume';
  model?: string;
  headerStyle?: HeaderStyle;
  /** x-codex-turn-state to replay (tool-call follow-ups of the same turn). */
  turnState?: string | null;
  clientKey?: string;
  /** Codex sends no `instructions` on /v1/responses in the fixtures; set it for the ChatGPT backend. */
  instructions?: string;
}

export interface CodexRequest {
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

export function buildCodexRequest(ctx: CodexTurnContext, input: InputItem[]): CodexRequest {
  const model = ctx.model ?? DEFAULT_MODEL;
  const windowId = `${ctx.threadId}:0`;
  const turnMetadata = JSON.stringify({
    installation_id: ctx.installationId,
    session_id: ctx.threadId,
    thread_id: ctx.threadId,
    agent_name: '/home/user',
    turn_id: ctx.turnId,
    window_id: windowId,
    window_number: 0,
    context_window_id: ctx.contextWindowId,
    request_kind: 'turn',
    history_initialization: ctx.historyInitialization,
    root_turn_id: ctx.turnId,
    thread_source: 'user',
    turn_trigger: 'exec',
    sandbox: 'seccomp',
    sandbox_mode: 'read-only',
    auto_review_enabled: false,
    node_repl_auto_review_required: false,
    node_repl_disabled: false,
    turn_started_at_unix_ms: ctx.turnStartedAtMs,
    analytics_enabled: true,
    model,
  });
  const headers: Record<string, string> = { 'x-codex-beta-features': 'remote_compaction_v2' };
  if (ctx.turnState) headers['x-codex-turn-state'] = ctx.turnState;
  headers['x-codex-window-id'] = windowId;
  headers['x-codex-turn-metadata'] = turnMetadata;
  headers['x-client-request-id'] = ctx.threadId;
  if ((ctx.headerStyle ?? 'codex-0.169') === 'codex-0.169') {
    headers['session-id'] = ctx.threadId;
    headers['thread-id'] = ctx.threadId;
  } else {
    headers['session_id'] = ctx.threadId;
    headers['conversation_id'] = ctx.threadId;
  }
  headers.accept = 'text/event-stream';
  headers['content-type'] = 'application/json';
  headers.authorization = `Bearer ${ctx.clientKey ?? 'sk-client-fake'}`;
  headers.originator = 'codex_exec';
  headers['user-agent'] = `codex_exec/${CODEX_VERSION} (Debian 12.0.0; x86_64) xterm (codex_exec; ${CODEX_VERSION})`;

  const body: Record<string, unknown> = { model };
  if (ctx.instructions !== undefined) body.instructions = ctx.instructions;
  Object.assign(body, {
    stream: true,
    input,
    tools: CODEX_TOOLS,
    tool_choice: 'auto',
    parallel_tool_calls: true,
    reasoning: { summary: 'auto' },
    store: false,
    include: ['reasoning.encrypted_content'],
    prompt_cache_key: ctx.threadId,
    client_metadata: {
      turn_id: ctx.turnId,
      'x-codex-installation-id': ctx.installationId,
      session_id: ctx.threadId,
      thread_id: ctx.threadId,
      'x-codex-window-id': windowId,
      root_turn_id: ctx.turnId,
      'x-codex-turn-metadata': turnMetadata,
    },
  });
  return { headers, body };
}

/** The items every thread starts with: base developer prompt, skills/permissions, environment context. */
export function initialHistory(rng: Rng): InputItem[] {
  const base = filler('You are a coding agent running in the Codex CLI, a terminal-based coding assistant. ', 4000);
  return [
    message(`msg_${uuidFromText(base)}`, 'developer', [base]),
    message(`msg_${rng.uuid()}`, 'developer', [
      filler('<skills_instructions>\n## Skills\nA skill is a set of local instructions. ', 2100),
      filler('<permissions instructions>\nFilesystem sandboxing defines which files can be read or written. ', 340),
    ]),
    message(`msg_${rng.uuid()}`, 'user', [
      '<environment_context>\n  <cwd>/home/user/project</cwd>\n  <shell>bash</shell>\n</environment_context>',
    ]),
  ];
}

export function userMessage(id: string, text: string): InputItem {
  return message(id, 'user', [text]);
}

function message(id: string, role: string, texts: string[]): InputItem {
  return { type: 'message', id, role, content: texts.map((text) => ({ type: 'input_text', text })) };
}

function filler(head: string, length: number): string {
  let out = head;
  let i = 0;
  while (out.length < length) out += `Rule ${++i}: keep changes small and explain them. `;
  return out.slice(0, length);
}

function uuidFromText(text: string): string {
  const h = createHash('sha1').update(text).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-b${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const str = (description: string) => ({ type: 'string', description });
const num = (description: string) => ({ type: 'number', description });

/** A shortened version of the fixture's tool list (same names and kinds). */
export const CODEX_TOOLS: unknown[] = [
  fn('exec_command', 'Runs a command in a PTY, returning output or a session ID for ongoing interaction.', {
    cmd: str('Shell command to execute.'),
    workdir: str('Working directory for the command. Defaults to the turn cwd.'),
    yield_time_ms: num('Wait before yielding output.'),
    max_output_tokens: num('Output token budget.'),
  }, ['cmd']),
  fn('write_stdin', 'Writes characters to an existing unified exec session and returns recent output.', {
    chars: str('Bytes to write to stdin.'),
    session_id: num('Identifier of the running unified exec session.'),
  }, ['session_id']),
  fn('view_image', 'View a local image file from the filesystem.', { path: str('Local filesystem path to an image file.') }, ['path']),
  fn('get_goal', 'Get the current goal for this thread.', {}, []),
  { type: 'web_search', external_web_access: false },
];

function fn(name: string, description: string, properties: Record<string, unknown>, required: string[]): unknown {
  return { type: 'function', name, description, strict: false, parameters: { type: 'object', properties, required, additionalProperties: false } };
}

export interface SampleCodexRequestOptions {
  seed?: number;
  headerStyle?: HeaderStyle;
  turnState?: string | null;
  instructions?: string;
  model?: string;
  /**
   * Build a cold resume (second turn) like cold-resume.json: the earlier reasoning item with this
   * encrypted_content (e.g. from the fake's seal()) and the assistant message are resent.
   */
  resumeWithEncryptedContent?: string;
}

/** One complete Codex-shaped request (headers + body) from a seed, for unit tests. */
export function sampleCodexRequest(opts: SampleCodexRequestOptions = {}): CodexRequest & { threadId: string } {
  const rng = createRng(opts.seed ?? 1, 'sample');
  const threadId = rng.uuid();
  const installationId = rng.uuid();
  const contextWindowId = rng.uuid();
  const history = [...initialHistory(rng), userMessage(`msg_${rng.uuid()}`, 'say hi')];
  const resume = opts.resumeWithEncryptedContent;
  if (resume !== undefined) {
    history.push(
      { type: 'reasoning', id: 'rs_1', summary: [], content: null, encrypted_content: resume },
      { type: 'message', status: 'completed', id: 'msg_1', role: 'assistant', content: [{ type: 'output_text', text: 'hi', annotations: [] }] },
      userMessage(`msg_${rng.uuid()}`, 'say hi again'),
    );
  }
  const req = buildCodexRequest(
    {
      threadId,
      installationId,
      contextWindowId,
      turnId: rng.uuid(),
      turnStartedAtMs: rng.clockMs(),
      historyInitialization: resume !== undefined ? 'cold_resume' : 'new',
      headerStyle: opts.headerStyle,
      turnState: opts.turnState,
      instructions: opts.instructions,
      model: opts.model,
    },
    history,
  );
  return { ...req, threadId };
}
