// Drain on SIGTERM without cutting Codex turns. A turn holds its ext_proc stream for the whole
// streamed response (minutes), and Envoy keeps sending new requests while it drains, so the
// processor keeps serving every stream, old and new, and leaves only when Envoy needs it no
// more: Envoy has exited and no stream is open (or, without Envoy's address, nothing has
// been open for a while), or at the deadline, cutting what is still open.
import net from 'node:net';

export interface DrainState {
  readonly now: number;
  readonly openStreams: number;
  /** When the processor last had an open stream (or when the drain began). */
  readonly lastBusy: number;
  /** Whether Envoy is known to be gone; undefined when Envoy's address is not configured. */
  readonly envoyGone: boolean | undefined;
}

export interface DrainRules {
  readonly deadline: number;
  readonly idleMilliseconds: number;
}

export type DrainStep = 'wait' | 'drained' | 'deadline';

/** What to do now: pure, so every rule is tested without a clock. */
export function drainStep(state: DrainState, rules: DrainRules): DrainStep {
  if (state.openStreams === 0) {
    if (state.envoyGone === true) return 'drained';
    if (state.envoyGone === undefined && state.now - state.lastBusy >= rules.idleMilliseconds) return 'drained';
  }
  return state.now >= rules.deadline ? 'deadline' : 'wait';
}

/** True when nothing accepts connections at host:port any more (Envoy's admin port: Envoy has exited). */
export function refusesConnections(address: string, timeoutMilliseconds = 500): Promise<boolean> {
  const separator = address.lastIndexOf(':');
  const host = address.slice(0, separator);
  const port = Number(address.slice(separator + 1));
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (refused: boolean) => {
      socket.destroy();
      resolve(refused);
    };
    socket.setTimeout(timeoutMilliseconds, () => done(false)); // a hung Envoy is still there
    socket.once('connect', () => done(false));
    socket.once('error', () => done(true));
  });
}

export interface DrainOptions {
  readonly graceMilliseconds: number;
  readonly idleMilliseconds: number;
  readonly envoyAdmin: string | undefined;
  readonly openStreams: () => number;
  readonly clock?: () => number;
  readonly pollMilliseconds?: number;
}

export interface DrainOutcome {
  readonly step: 'drained' | 'deadline';
  /** Streams still open at the end: cut when the step is 'deadline'. */
  readonly openStreams: number;
  readonly waitedMilliseconds: number;
}

/** Waits until the drain is over by drainStep's rules. */
export async function waitForDrain(options: DrainOptions): Promise<DrainOutcome> {
  const clock = options.clock ?? Date.now;
  const started = clock();
  const rules: DrainRules = { deadline: started + options.graceMilliseconds, idleMilliseconds: options.idleMilliseconds };
  const poll = options.pollMilliseconds ?? 100;
  let lastBusy = started;
  for (;;) {
    const openStreams = options.openStreams();
    const now = clock();
    if (openStreams > 0) lastBusy = now;
    const envoyGone = options.envoyAdmin !== undefined && openStreams === 0 ? await refusesConnections(options.envoyAdmin) : options.envoyAdmin === undefined ? undefined : false;
    // Streams may have opened while the probe ran.
    const step = drainStep({ now: clock(), openStreams: options.openStreams(), lastBusy, envoyGone }, rules);
    if (step !== 'wait') return { step, openStreams: options.openStreams(), waitedMilliseconds: clock() - started };
    await new Promise((resolve) => setTimeout(resolve, poll));
  }
}
