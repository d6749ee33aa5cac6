// One gRPC Process stream per HTTP request (per attempt when the filter is an upstream filter),
// opened lazily on the first message, with Envoy's per-message timer
// (ext_proc.cc Filter::onMessageTimeout / onNewTimeout, processor_state.cc restartMessageTimer).
import * as grpc from '@grpc/grpc-js';
import { loadExtProc, type ProcessingRequest, type ProcessingResponse, type RequestKind } from './proto.js';
import type { Stats } from './stats.js';

export type ExchangeOutcome =
  | { type: 'response'; msg: ProcessingResponse }
  | { type: 'closed' } // server ended the stream with OK
  | { type: 'grpc_error'; code: number; details: string }
  | { type: 'timeout' };

export interface StreamObserver {
  sent: (kind: RequestKind) => void;
  received: (msg: ProcessingResponse) => void;
}

/** One channel per processor target per harness instance, like Envoy's cached gRPC client. */
export class ClientPool {
  private readonly clients = new Map<string, grpc.Client>();
  get(target: string): grpc.Client {
    let c = this.clients.get(target);
    if (!c) {
      const { ExternalProcessor } = loadExtProc();
      c = new ExternalProcessor(target, grpc.credentials.createInsecure());
      this.clients.set(target, c);
    }
    return c;
  }
  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}

function durationToMs(d: { seconds?: string | number; nanos?: number }): number {
  return Number(d.seconds ?? 0) * 1000 + Math.floor((d.nanos ?? 0) / 1e6);
}

export class ExtProcStream {
  private call?: grpc.ClientDuplexStream<ProcessingRequest, ProcessingResponse>;
  private waiter?: (o: ExchangeOutcome) => void;
  /** Messages that arrived while no message was outstanding (spurious or immediate). */
  readonly unsolicited: ProcessingResponse[] = [];
  /** How the server ended its side, if it did. */
  ended?: { type: 'closed' } | { type: 'grpc_error'; code: number; details: string };
  private halfClosed = false;
  private timer?: NodeJS.Timeout;
  private overrideUsed = false;

  constructor(
    private readonly pool: ClientPool,
    private readonly target: string,
    private readonly timeouts: { message_timeout_ms: number; max_message_timeout_ms: number },
    private readonly stats: Stats,
    private readonly observer: StreamObserver,
  ) {}

  get opened(): boolean {
    return this.call !== undefined;
  }

  private open(): void {
    if (this.call) return;
    this.stats.inc('streams_started');
    const client = this.pool.get(this.target) as any;
    const call: grpc.ClientDuplexStream<ProcessingRequest, ProcessingResponse> = client.Process();
    this.call = call;
    call.on('data', (msg: ProcessingResponse) => this.onMessage(msg));
    call.on('status', (s: grpc.StatusObject) => {
      // CANCELLED after our own cancel() is not a server decision.
      if (this.ended) return;
      if (s.code === grpc.status.OK) {
        this.ended = { type: 'closed' };
        this.stats.inc('streams_closed');
      } else {
        this.ended = { type: 'grpc_error', code: s.code, details: s.details };
        this.stats.inc('streams_failed');
      }
      this.resolve(this.ended);
    });
    call.on('error', () => {
      /* reported through 'status' */
    });
  }

  private resolve(o: ExchangeOutcome): void {
    const w = this.waiter;
    if (!w) return;
    this.waiter = undefined;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    w(o);
  }

  private onMessage(msg: ProcessingResponse): void {
    this.observer.received(msg);
    if (!this.waiter) {
      this.unsolicited.push(msg);
      return;
    }
    // ext_proc.cc onReceiveMessage: a message carrying override_message_timeout only restarts
    // the timer (other fields ignored); it must be >=1ms and <= max_message_timeout, and is
    // honoured at most once per outstanding message; otherwise it is ignored and counted.
    if (msg.override_message_timeout) {
      const ms = durationToMs(msg.override_message_timeout);
      if (ms < 1 || ms > this.timeouts.max_message_timeout_ms || this.overrideUsed || !this.timer) {
        this.stats.inc('override_message_timeout_ignored');
        return;
      }
      this.overrideUsed = true;
      this.stats.inc('override_message_timeout_received');
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.onTimeout(), ms);
      return;
    }
    this.resolve({ type: 'response', msg });
  }

  private onTimeout(): void {
    this.stats.inc('message_timeouts');
    this.resolve({ type: 'timeout' });
  }

  /** Sends one message and waits for the next message from the server (or timeout / close). */
  exchange(kind: RequestKind, req: ProcessingRequest): Promise<ExchangeOutcome> {
    this.open();
    if (this.ended) return Promise.resolve(this.ended);
    return new Promise((resolve) => {
      this.waiter = resolve;
      this.overrideUsed = false;
      this.timer = setTimeout(() => this.onTimeout(), this.timeouts.message_timeout_ms);
      this.observer.sent(kind);
      this.stats.inc('stream_msgs_sent');
      this.call!.write({ ...req, request: kind } as ProcessingRequest);
    });
  }

  /** Envoy closes its side (half-close) after the last expected response / an ImmediateResponse. */
  halfClose(): void {
    if (!this.call || this.halfClosed) return;
    this.halfClosed = true;
    try {
      this.call.end();
    } catch {
      /* already finished */
    }
  }

  /** Filter destroyed: half-close, then reset the stream if the server has not finished it. */
  finish(graceMs = 200): void {
    if (!this.call) return;
    this.halfClose();
    if (this.timer) clearTimeout(this.timer);
    if (this.ended) return;
    const call = this.call;
    setTimeout(() => {
      if (!this.ended) {
        this.ended = { type: 'closed' };
        call.cancel();
      }
    }, graceMs).unref();
  }

  cancelNow(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.call && !this.ended) {
      this.ended = { type: 'closed' };
      this.call.cancel();
    }
  }
}
