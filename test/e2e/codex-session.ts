// One simulated Codex session driven turn by turn (the workload runs whole sessions at once;
// these tests change the world between turns).
import { buildCodexRequest, createRng, initialHistory, postResponses, userMessage, type InputItem, type ResponsesResult } from '../workload/index.js';

export class CodexSession {
  private readonly history: InputItem[];
  private readonly rng;
  readonly threadId: string;
  private turn = 0;

  constructor(
    private readonly baseUrl: string,
    seed: number,
    private readonly options: { instructions?: string; clientKey?: string } = {},
  ) {
    this.rng = createRng(seed, 'codex-session');
    this.threadId = this.rng.uuid();
    this.history = initialHistory(this.rng);
  }

  /** Sends the next turn with the whole history; keeps the output items only when it succeeded. */
  async turnOnce(text = `turn ${this.turn}`): Promise<ResponsesResult> {
    const history = [...this.history, userMessage(`msg_${this.rng.uuid()}`, text)];
    const request = buildCodexRequest(
      {
        threadId: this.threadId,
        installationId: 'install-1',
        contextWindowId: 'window-1',
        turnId: this.rng.uuid(),
        turnStartedAtMs: 1_795_000_000_000 + this.turn,
        historyInitialization: this.turn === 0 ? 'new' : 'cold_resume',
        ...(this.options.instructions ? { instructions: this.options.instructions } : {}),
        ...(this.options.clientKey ? { clientKey: this.options.clientKey } : {}),
      },
      history,
    );
    const result = await postResponses(new URL('/v1/responses', this.baseUrl).toString(), request.headers, request.body, { timeoutMs: 15_000 });
    if (result.status === 200 && result.response) {
      this.history.splice(0, this.history.length, ...history, ...((result.response.output as InputItem[] | undefined) ?? []));
      this.turn++;
    }
    return result;
  }
}
