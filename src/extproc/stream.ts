import type * as grpc from '@grpc/grpc-js';
import { readHeaderMap } from './headers.js';
import { toProcessingResponse } from './adapter.js';
import { CONTINUE, type PhaseAnswer } from './phase-answer.js';
import type { RequestKind, WireProcessingRequest, WireProcessingResponse } from './wire-types.js';

/** One HTTP request's processing, phase by phase, in plain values. */
export interface RequestProcessor {
  requestHeaders(headers: Map<string, string>, endOfStream: boolean): Promise<PhaseAnswer> | PhaseAnswer;
  requestBody(body: Buffer, endOfStream: boolean): Promise<PhaseAnswer> | PhaseAnswer;
  responseHeaders(headers: Map<string, string>, endOfStream: boolean): Promise<PhaseAnswer> | PhaseAnswer;
  responseBody(body: Buffer, endOfStream: boolean): Promise<PhaseAnswer> | PhaseAnswer;
  /** The stream is over (ended, cancelled or failed); called exactly once. */
  finish(): void;
}

export interface StreamHooks {
  readonly createProcessor: () => RequestProcessor;
  /** A processor phase threw: a response phase continues unmodified; a request phase gets `requestFailure`. */
  readonly onPhaseError: (kind: RequestKind, error: unknown) => void;
  /**
   * The answer to a request phase that threw (as Envoy does with
   * failure_mode_allow false: the request must not go on undecided).
   * Without it, the phase answers "continue".
   */
  readonly requestFailure?: () => PhaseAnswer;
  readonly onInvalidHeader: (name: string) => void;
  readonly onStreamError: (error: grpc.ServiceError | Error) => void;
  /**
   * Asked once, before anything else, whether the stream is taken on. A refused stream
   * answers its first message with `refusal` and nothing else; it creates no processor
   * and `release` is not called for it.
   */
  readonly admit?: () => { readonly refusal: PhaseAnswer } | { readonly release: () => void };
  readonly onStreamStart?: () => void;
  readonly onStreamEnd?: () => void;
  /** How long the processor took to answer one message (seconds), measured from receipt to write. */
  readonly onPhaseTimed?: (kind: RequestKind, seconds: number) => void;
  /** The stream moved to another phase (previous undefined: its first message; next undefined: it ended). */
  readonly onPhaseChange?: (previous: RequestKind | undefined, next: RequestKind | undefined) => void;
}

const KINDS: readonly RequestKind[] = [
  'request_headers',
  'request_body',
  'response_headers',
  'response_body',
  'request_trailers',
  'response_trailers',
];

const REQUEST_PHASES: ReadonlySet<RequestKind> = new Set<RequestKind>(['request_headers', 'request_body', 'request_trailers']);

function kindOf(message: WireProcessingRequest): RequestKind | undefined {
  if (message.request && KINDS.includes(message.request)) return message.request;
  return KINDS.find((kind) => message[kind] !== undefined);
}

async function runPhase(processor: RequestProcessor, kind: RequestKind, message: WireProcessingRequest): Promise<PhaseAnswer> {
  switch (kind) {
    case 'request_headers':
      return processor.requestHeaders(readHeaderMap(message.request_headers?.headers), message.request_headers?.end_of_stream === true);
    case 'response_headers':
      return processor.responseHeaders(readHeaderMap(message.response_headers?.headers), message.response_headers?.end_of_stream === true);
    case 'request_body':
      return processor.requestBody(message.request_body?.body ?? Buffer.alloc(0), message.request_body?.end_of_stream === true);
    case 'response_body':
      return processor.responseBody(message.response_body?.body ?? Buffer.alloc(0), message.response_body?.end_of_stream === true);
    default:
      return CONTINUE;
  }
}

/**
 * Serves one ext_proc Process stream: messages are handled strictly in order,
 * each gets exactly one answer of its own kind, a failing response phase
 * answers "continue" instead of breaking the response, a failing request phase
 * answers `requestFailure`, and EOF / CANCELLED are normal
 * ends. Nothing here throws into grpc-js.
 */
export function serveProcessStream(
  call: grpc.ServerDuplexStream<WireProcessingRequest, WireProcessingResponse>,
  hooks: StreamHooks,
): void {
  const admission = hooks.admit?.();
  hooks.onStreamStart?.();
  const refusal = admission && 'refusal' in admission ? admission.refusal : undefined;
  let processor: RequestProcessor | undefined;
  let finished = false;
  let answeredImmediately = false;
  let phase: RequestKind | undefined;

  const enterPhase = (next: RequestKind | undefined): void => {
    if (next === phase) return;
    hooks.onPhaseChange?.(phase, next);
    phase = next;
  };

  const finish = (): void => {
    if (finished) return;
    finished = true;
    enterPhase(undefined);
    try {
      processor?.finish();
    } catch (error) {
      hooks.onPhaseError('response_trailers', error);
    }
    if (admission && 'release' in admission) admission.release();
    hooks.onStreamEnd?.();
  };

  const write = (response: WireProcessingResponse): void => {
    if (call.cancelled || call.writableEnded || call.destroyed) return;
    call.write(response);
  };

  const handle = async (message: WireProcessingRequest): Promise<void> => {
    if (answeredImmediately || finished) return;
    const kind = kindOf(message);
    if (kind === undefined) return;
    enterPhase(kind);
    const started = process.hrtime.bigint();
    if (refusal) {
      if (message.observability_mode) return;
      answeredImmediately = true;
      write(toProcessingResponse(kind, refusal, hooks.onInvalidHeader));
      return;
    }
    let answer: PhaseAnswer;
    try {
      processor ??= hooks.createProcessor();
      answer = message.observability_mode ? CONTINUE : await runPhase(processor, kind, message);
    } catch (error) {
      hooks.onPhaseError(kind, error);
      answer = (REQUEST_PHASES.has(kind) ? hooks.requestFailure?.() : undefined) ?? CONTINUE;
    }
    if (message.observability_mode) return; // Envoy expects no answer in observability mode.
    if (answer.immediate) answeredImmediately = true;
    write(toProcessingResponse(kind, answer, hooks.onInvalidHeader));
    hooks.onPhaseTimed?.(kind, Number(process.hrtime.bigint() - started) / 1e9);
  };

  // Messages are handled one after another, in order. An idle stream starts on a
  // message at once, inside the event that brought it (no promise chain per message).
  const queue: WireProcessingRequest[] = [];
  let draining = false;
  let ended = false;
  const close = (): void => {
    finish();
    if (!call.writableEnded && !call.destroyed) call.end();
  };
  const drain = async (): Promise<void> => {
    draining = true;
    for (let message = queue.shift(); message !== undefined; message = queue.shift()) {
      try {
        await handle(message);
      } catch (error) {
        hooks.onPhaseError('request_headers', error);
      }
    }
    draining = false;
    if (ended) close();
  };
  call.on('data', (message: WireProcessingRequest) => {
    queue.push(message);
    if (!draining) void drain();
  });
  call.on('end', () => {
    ended = true;
    if (!draining) close();
  });
  call.on('cancelled', finish);
  call.on('close', finish);
  call.on('error', (error: grpc.ServiceError | Error) => {
    if ((error as grpc.ServiceError).code !== 1 /* CANCELLED */) hooks.onStreamError(error);
    finish();
  });
}
