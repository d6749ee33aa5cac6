import { IMMEDIATE_RESPONSE_FIELD, type ProcessClient } from './ext-proc-call.js';

/** The ext_proc messages of one HTTP exchange, as Envoy sends them. */
export type ExchangeSpec =
  /** A WebSocket upgrade: request headers (no body will end), then the 101. */
  | { readonly kind: 'upgrade'; readonly session: string }
  /** A POST /v1/responses: headers, the BUFFERED body, response headers, SSE chunks if any. */
  | { readonly kind: 'turn'; readonly session: string; readonly body: Buffer; readonly sse: readonly Buffer[] | undefined };

export type Phase = 'request_headers' | 'request_body' | 'response_headers' | 'response_body' | 'first_token' | 'exchange';

/** Latency samples by phase (ms), and errors. */
export class Recorder {
  readonly samples = new Map<Phase, number[]>();
  errors = 0;
  completed = 0;

  add(phase: Phase, milliseconds: number): void {
    let list = this.samples.get(phase);
    if (!list) this.samples.set(phase, (list = []));
    list.push(milliseconds);
  }

  merge(other: Recorder): void {
    for (const [phase, values] of other.samples) for (const value of values) this.add(phase, value);
    this.errors += other.errors;
    this.completed += other.completed;
  }
}

/** A HeaderMap of `raw_value`s, as current Envoy sends it. */
export function headerMap(headers: Record<string, string>) {
  return { headers: Object.entries(headers).map(([key, value]) => ({ key, raw_value: Buffer.from(value) })) };
}

const EXCHANGE_TIMEOUT_MS = 30_000;

/** ProcessingResponse fields answering each phase. */
const PHASE_FIELD = { request_headers: 1, response_headers: 2, request_body: 3, response_body: 4 } as const;

function elapsed(since: bigint): number {
  return Number(process.hrtime.bigint() - since) / 1e6;
}

/**
 * Drives one exchange and records each message's round trip. `startedAt` is
 * when the exchange was due (open loop: its scheduled time), so queueing in
 * the load generator counts against the exchange, not hidden by it.
 */
export async function runExchange(client: ProcessClient, spec: ExchangeSpec, recorder: Recorder, startedAt = process.hrtime.bigint()): Promise<void> {
  const call = client.open();
  // One timer per exchange, not one per message: an exchange not done in time counts as an error.
  const timer = setTimeout(() => call.cancel('no answer in time'), EXCHANGE_TIMEOUT_MS);
  const timed = async (phase: Phase, message: Parameters<typeof call.send>[0]) => {
    const sent = process.hrtime.bigint();
    const answer = await call.send(message);
    recorder.add(phase, elapsed(sent));
    if (answer.fields.has(IMMEDIATE_RESPONSE_FIELD)) throw new Error('immediate response');
    // The answer must be of the phase asked (ProcessingResponse's oneof numbers follow ProcessingRequest's, one lower).
    if (!answer.fields.has(PHASE_FIELD[phase as keyof typeof PHASE_FIELD])) throw new Error(`no ${phase} answer`);
    return answer;
  };
  try {
    if (spec.kind === 'upgrade') {
      await timed('request_headers', {
        request_headers: {
          headers: headerMap({ ':method': 'GET', ':path': '/v1/responses', ':authority': 'api.example', upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', authorization: 'Bearer k', 'session-id': spec.session, 'openai-beta': 'responses_websockets=2026-02-06' }),
          end_of_stream: false,
        },
      });
      await timed('response_headers', { response_headers: { headers: headerMap({ ':status': '101', upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-accept': 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=' }), end_of_stream: false } });
    } else {
      await timed('request_headers', {
        request_headers: {
          headers: headerMap({ ':method': 'POST', ':path': '/v1/responses', ':authority': 'api.example', 'content-type': 'application/json', authorization: 'Bearer k', 'session-id': spec.session, 'content-length': String(spec.body.length) }),
          end_of_stream: false,
        },
      });
      await timed('request_body', { request_body: { body: spec.body, end_of_stream: true } });
      const streamed = spec.sse !== undefined;
      const headersSent = process.hrtime.bigint();
      await timed('response_headers', {
        response_headers: { headers: headerMap({ ':status': '200', 'content-type': streamed ? 'text/event-stream' : 'application/json' }), end_of_stream: !streamed },
      });
      if (spec.sse) {
        // Both floors and processors get every chunk, so the work compared is the same.
        for (let index = 0; index < spec.sse.length; index++) {
          await timed('response_body', { response_body: { body: spec.sse[index]!, end_of_stream: index === spec.sse.length - 1 } });
          if (index === 1) recorder.add('first_token', elapsed(headersSent));
        }
      }
    }
    recorder.add('exchange', elapsed(startedAt));
    recorder.completed++;
  } catch {
    recorder.errors++;
  } finally {
    clearTimeout(timer);
    call.end();
  }
}
