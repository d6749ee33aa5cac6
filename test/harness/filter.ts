// The ext_proc HTTP filter: one instance per request (downstream placement) or per attempt
// (upstream placement). Follows source/extensions/filters/http/ext_proc/ext_proc.cc
// (onReceiveMessage, onMessageTimeout, onGrpcError, onGrpcClose, sendImmediateResponse,
// setDynamicMetadata, effectiveModeOverride, closeGrpcStreamIfLastRespReceived) and
// processor_state.cc (handleHeadersResponse, handleBodyResponse, clearRouteCache,
// shouldRemoveContentLength). Point numbers refer to shared/envoy-ext-proc.md.
import type { ProcessingMode, ResolvedExtProc } from './config.js';
import { ExtProcStream, type ClientPool } from './ext-proc-client.js';
import { Headers } from './headers.js';
import { MutationChecker, applyBodyMutation, applyHeaderMutation, hasBodyMutation } from './mutations.js';
import {
  jsToStruct, statusCodeToNumber, valueToJs,
  type BodySendMode, type CommonResponse, type ImmediateResponse, type ProcessingModeMsg,
  type ProcessingRequest, type ProcessingResponse, type RequestKind,
} from './proto.js';
import type { RequestRecord, Stats } from './stats.js';

export interface LocalReply {
  status: number;
  body: Buffer;
  details: string;
  headers?: Headers;
  source: 'ext_proc' | 'router' | 'hcm';
}
export type StepResult = { kind: 'continue' } | { kind: 'reply'; reply: LocalReply };
const CONTINUE: StepResult = { kind: 'continue' };

interface DirState {
  sendHeaders: boolean;
  bodyMode: BodySendMode;
  sendTrailers: boolean;
  noBody: boolean;
  headers?: Headers; // held headers (until the body answer in BUFFERED / BUFFERED_PARTIAL)
}

export interface FilterOptions {
  config: ResolvedExtProc;
  stats: Stats;
  record: RequestRecord;
  /** processor message log (record.processor, or the attempt's own for upstream placement) */
  log: { sent: string[]; received: string[] };
  perRoute?: { disabled?: boolean; overrides?: { processing_mode?: ProcessingMode } };
  isUpstream: boolean;
  /** per_connection_buffer_limit_bytes, the BUFFERED_PARTIAL watermark */
  bufferLimit: number;
  pool: ClientPool;
}

/** StringUtil::replaceAllEmptySpace, applied to local reply details. */
const details = (s: string) => s.replace(/\s/g, '_');

export class ExtProcFilter {
  processingComplete = false;
  /** set when a request-direction response cleared the route cache (point 16) */
  routeCacheCleared = false;
  readonly req: DirState;
  readonly resp: DirState;
  private readonly stream: ExtProcStream;
  private readonly checker: MutationChecker;
  private awaitingHeaders = false;

  constructor(private readonly o: FilterOptions) {
    const c = o.config;
    this.checker = new MutationChecker(c.mutation_rules);
    this.req = { sendHeaders: true, bodyMode: 'NONE', sendTrailers: false, noBody: false };
    this.resp = { sendHeaders: true, bodyMode: 'NONE', sendTrailers: false, noBody: false };
    // ext_proc.cc mergePerRouteConfig: `disabled` turns every callback off; an overriding
    // processing_mode replaces the filter's mode as a whole.
    if (o.perRoute?.disabled) {
      this.setMode({ request_header_mode: 'SKIP', response_header_mode: 'SKIP', request_trailer_mode: 'SKIP', response_trailer_mode: 'SKIP' });
    } else {
      this.setMode(o.perRoute?.overrides?.processing_mode ?? c.processing_mode);
    }
    this.stream = new ExtProcStream(o.pool, c.target, c, o.stats, {
      sent: (k) => o.log.sent.push(k),
      received: (m) => o.log.received.push(m.response ?? (m.override_message_timeout ? 'override_message_timeout' : 'unknown')),
    });
  }

  /** processor_state.cc setProcessingModeInternal: headers sent unless SKIP, trailers only if SEND. */
  private setMode(m: ProcessingModeMsg): void {
    this.req.sendHeaders = m.request_header_mode !== 'SKIP';
    this.req.sendTrailers = m.request_trailer_mode === 'SEND';
    this.req.bodyMode = m.request_body_mode ?? 'NONE';
    this.resp.sendHeaders = m.response_header_mode !== 'SKIP';
    this.resp.sendTrailers = m.response_trailer_mode === 'SEND';
    this.resp.bodyMode = m.response_body_mode ?? 'NONE';
  }

  private noExternalProcess(s: DirState): boolean {
    return !s.sendHeaders && !s.sendTrailers && s.bodyMode === 'NONE';
  }

  /** processor_state.h shouldRemoveContentLength (point 13). */
  private shouldRemoveContentLength(s: DirState): boolean {
    return s.bodyMode === 'STREAMED' || s.bodyMode === 'BUFFERED_PARTIAL' || (s.bodyMode === 'BUFFERED' && !s.sendHeaders);
  }

  private metadataContext(): ProcessingRequest['metadata_context'] {
    const fm: Record<string, ReturnType<typeof jsToStruct>> = {};
    for (const ns of this.o.config.forwarding_namespaces) {
      const v = this.o.record.dynamic_metadata[ns];
      if (v) fm[ns] = jsToStruct(v);
    }
    return { filter_metadata: fm };
  }

  /** ext_proc.cc setDynamicMetadata: only namespaces in receiving_namespaces.untyped (point 20). */
  private setDynamicMetadata(msg: ProcessingResponse): void {
    const fields = msg.dynamic_metadata?.fields;
    if (!fields) return;
    for (const [ns, v] of Object.entries(fields)) {
      if (!this.o.config.receiving_namespaces.includes(ns)) continue;
      const val = v.kind === 'structValue' ? (valueToJs(v) as Record<string, unknown>) : {};
      this.o.record.dynamic_metadata[ns] = { ...(this.o.record.dynamic_metadata[ns] ?? {}), ...val };
    }
  }

  private errorReply(message: string, status = this.o.config.status_on_error): StepResult {
    this.processingComplete = true;
    this.stream.halfClose();
    return { kind: 'reply', reply: { status, body: Buffer.alloc(0), details: details(message), source: 'ext_proc' } };
  }

  /** Fail-open continuation after a spurious message / timeout / gRPC error. */
  private failOpen(): StepResult {
    this.o.stats.inc('failure_mode_allowed');
    this.processingComplete = true;
    this.stream.halfClose();
    return CONTINUE;
  }

  /** ext_proc.cc sendImmediateResponse (point 19). */
  private immediate(ir: ImmediateResponse): StepResult {
    this.processingComplete = true;
    this.stream.halfClose();
    let status = ir.status ? statusCodeToNumber(ir.status.code) : 200;
    if (status < 200) status = 200; // MutationUtils::isValidHttpStatus
    const headers = new Headers();
    // header mutation failures are logged by Envoy and the reply is still sent
    applyHeaderMutation(ir.headers, headers, { checker: this.checker, onRejected: () => this.o.stats.inc('rejected_header_mutations') });
    const body = ir.body === undefined ? Buffer.alloc(0) : Buffer.from(ir.body as any);
    return { kind: 'reply', reply: { status, body, headers, details: details(ir.details ?? ''), source: 'ext_proc' } };
  }

  private spurious(): StepResult {
    this.o.stats.inc('spurious_msgs_received');
    // ext_proc.cc: fail open => ignore the processor for the rest of the request; else status_on_error
    if (this.o.config.failure_mode_allow) return this.failOpen();
    return this.errorReply('spurious message');
  }

  /**
   * Checkpoint for messages the server sent while nothing was outstanding, and for a stream
   * the server ended in between (Envoy handles these as they arrive; the harness at its next step).
   */
  checkpoint(): StepResult | null {
    if (this.processingComplete) return null;
    const m = this.stream.unsolicited.shift();
    if (m) {
      if (m.response === 'immediate_response') return this.immediate(m.immediate_response ?? {});
      if (m.override_message_timeout) return null;
      return this.spurious();
    }
    const e = this.stream.ended;
    if (e?.type === 'closed') {
      this.processingComplete = true;
      return null;
    }
    if (e?.type === 'grpc_error') return this.onGrpcError(e.code, e.details);
    return null;
  }

  private onGrpcError(code: number, msg: string): StepResult {
    this.processingComplete = true;
    if (this.o.config.failure_mode_allow) return this.failOpen();
    return this.errorReply(`ext_proc_error_gRPC_error_${code}{${msg}}`);
  }

  /** Sends one message; returns the matching response or a StepResult that ends processing. */
  private async call(kind: RequestKind, payload: object, headersState: boolean): Promise<ProcessingResponse | StepResult> {
    const cp = this.checkpoint();
    if (cp) return cp;
    if (this.processingComplete) return CONTINUE;
    this.awaitingHeaders = headersState;
    const out = await this.stream.exchange(kind, { [kind]: payload, metadata_context: this.metadataContext() } as ProcessingRequest);
    this.awaitingHeaders = false;
    switch (out.type) {
      case 'timeout':
        // ext_proc.cc onMessageTimeout (point 5)
        this.processingComplete = true;
        this.stream.cancelNow();
        if (this.o.config.failure_mode_allow) return this.failOpen();
        return this.errorReply('ext_proc_error_per-message_timeout_exceeded', 504);
      case 'closed':
        // onGrpcClose: continue without further processing (point 6)
        this.processingComplete = true;
        return CONTINUE;
      case 'grpc_error':
        return this.onGrpcError(out.code, out.details);
      case 'response':
        break;
    }
    const msg = out.msg;
    if (this.o.config.allow_mode_override && headersState && msg.mode_override) {
      this.applyModeOverride(msg.mode_override);
    }
    this.setDynamicMetadata(msg);
    if (msg.response === 'immediate_response') {
      this.o.stats.inc('stream_msgs_received');
      return this.immediate(msg.immediate_response ?? {});
    }
    if (msg.response !== kind) return this.spurious();
    this.o.stats.inc('stream_msgs_received');
    return msg;
  }

  /** ext_proc.cc effectiveModeOverride: DEFAULT header/trailer modes = unchanged, body modes literal (point 18). */
  private applyModeOverride(t: ProcessingModeMsg): void {
    const base = this.o.config.processing_mode;
    const pick = (v: string | undefined, b: string) => (v && v !== 'DEFAULT' ? v : b);
    this.setMode({
      request_header_mode: pick(t.request_header_mode, base.request_header_mode) as any,
      response_header_mode: pick(t.response_header_mode, base.response_header_mode) as any,
      request_trailer_mode: pick(t.request_trailer_mode, base.request_trailer_mode) as any,
      response_trailer_mode: pick(t.response_trailer_mode, base.response_trailer_mode) as any,
      request_body_mode: t.request_body_mode ?? 'NONE',
      response_body_mode: t.response_body_mode ?? 'NONE',
    });
  }

  /** DecodingProcessorState::clearRouteCache (points 16, 24). */
  private clearRouteCache(c: CommonResponse, dir: 'request' | 'response'): void {
    if (dir === 'response') return;
    const asked = c.clear_route_cache === true;
    if (this.o.isUpstream) {
      if (asked) this.o.stats.inc('clear_route_cache_upstream_ignored');
      return;
    }
    if (!c.header_mutation) {
      if (asked) this.o.stats.inc('clear_route_cache_ignored');
      return;
    }
    const action = this.o.config.route_cache_action;
    if (action === 'CLEAR' || (action === 'DEFAULT' && asked)) this.routeCacheCleared = true;
    else if (action === 'RETAIN' && asked) this.o.stats.inc('clear_route_cache_disabled');
  }

  private mutate(c: CommonResponse, headers: Headers, dir: 'request' | 'response'): StepResult | null {
    if (!c.header_mutation) return null;
    const r = applyHeaderMutation(c.header_mutation, headers, {
      checker: this.checker,
      onRejected: () => this.o.stats.inc('rejected_header_mutations'),
      replacingMessage: c.status === 'CONTINUE_AND_REPLACE' || c.status === 1,
      isRequest: dir === 'request',
    });
    return r.ok ? null : this.errorReply(r.message);
  }

  /** Half-close once no more messages are expected (closeGrpcStreamIfLastRespReceived). */
  private maybeHalfClose(after: RequestKind): void {
    const respIdle = this.noExternalProcess(this.resp);
    const last =
      (after === 'request_headers' && (this.req.noBody || (this.req.bodyMode === 'NONE' && !this.req.sendTrailers)) && respIdle) ||
      ((after === 'request_body' || after === 'request_trailers') && respIdle) ||
      (after === 'response_headers' && (this.resp.noBody || (this.resp.bodyMode === 'NONE' && !this.resp.sendTrailers))) ||
      after === 'response_body' || after === 'response_trailers';
    if (last) this.stream.halfClose();
  }

  // ---- headers (points 3, 9, 12-16, 18) ---------------------------------------------------
  /** Returns a replacement body when CONTINUE_AND_REPLACE carried a body mutation. */
  async onHeaders(dir: 'request' | 'response', headers: Headers, endOfStream: boolean): Promise<StepResult & { body?: Buffer }> {
    const s = dir === 'request' ? this.req : this.resp;
    const kind = dir === 'request' ? 'request_headers' : 'response_headers';
    s.noBody = endOfStream;
    let replaced: Buffer | undefined;
    if (!this.processingComplete && s.sendHeaders) {
      const r = await this.call(kind, { headers: headers.toProto(), end_of_stream: endOfStream }, true);
      if ('kind' in r) return r;
      const c: CommonResponse = (r[kind]?.response ?? {}) as CommonResponse;
      const err = this.mutate(c, headers, dir);
      if (err) return err;
      this.clearRouteCache(c, dir);
      if (c.status === 'CONTINUE_AND_REPLACE' || c.status === 1) {
        // point 15: replace the body, drop content-length, no further messages this direction
        if (hasBodyMutation(c.body_mutation)) {
          headers.remove('content-length');
          replaced = applyBodyMutation(c.body_mutation, Buffer.alloc(0));
        }
        s.bodyMode = 'NONE';
        s.sendTrailers = false;
      }
      this.maybeHalfClose(kind);
    } else if (!this.processingComplete && dir === 'response') {
      this.maybeHalfClose(kind);
    }
    if (!this.processingComplete && this.shouldRemoveContentLength(s)) headers.remove('content-length');
    s.headers = headers;
    return replaced ? { kind: 'continue', body: replaced } : CONTINUE;
  }

  /** Whether the body of this direction must be collected before it moves on (BUFFERED*). */
  buffersBody(dir: 'request' | 'response'): boolean {
    const s = dir === 'request' ? this.req : this.resp;
    return !this.processingComplete && !s.noBody && (s.bodyMode === 'BUFFERED' || s.bodyMode === 'BUFFERED_PARTIAL');
  }
  bodyMode(dir: 'request' | 'response'): BodySendMode {
    return this.processingComplete ? 'NONE' : (dir === 'request' ? this.req : this.resp).bodyMode;
  }

  // ---- whole body: BUFFERED / BUFFERED_PARTIAL (points 3, 12, 14, 17) ----------------------
  async onBufferedBody(dir: 'request' | 'response', body: Buffer, hasTrailers: boolean): Promise<StepResult & { body: Buffer }> {
    const s = dir === 'request' ? this.req : this.resp;
    const kind = dir === 'request' ? 'request_body' : 'response_body';
    if (this.processingComplete || s.noBody || (s.bodyMode !== 'BUFFERED' && s.bodyMode !== 'BUFFERED_PARTIAL')) {
      return { kind: 'continue', body };
    }
    const partial = s.bodyMode === 'BUFFERED_PARTIAL' && body.length > this.o.bufferLimit;
    const sent = partial ? body.subarray(0, this.o.bufferLimit) : body;
    const rest = partial ? body.subarray(this.o.bufferLimit) : Buffer.alloc(0);
    const r = await this.call(kind, { body: sent, end_of_stream: partial ? false : !hasTrailers }, false);
    if ('kind' in r) return { ...r, body };
    const c: CommonResponse = (r[kind]?.response ?? {}) as CommonResponse;
    // header mutations in a body response: headers are still held in BUFFERED / BUFFERED_PARTIAL
    if (s.headers) {
      const err = this.mutate(c, s.headers, dir);
      if (err) return { ...err, body };
    }
    let out = sent;
    if (hasBodyMutation(c.body_mutation)) {
      const newBody = applyBodyMutation(c.body_mutation, sent);
      // processor_state.cc handleBodyResponse: in BUFFERED, content-length (after this response's
      // header mutation) must match the mutated body, else local reply (status_on_error).
      const cl = s.headers?.get('content-length');
      if (s.bodyMode === 'BUFFERED' && cl !== undefined && /^\d+$/.test(cl) && Number(cl) !== newBody.length) {
        return { ...this.errorReply('mismatch between content length and the length of the mutated body'), body };
      }
      out = newBody;
    }
    this.clearRouteCache(c, dir);
    s.headers = undefined;
    if (!(s.sendTrailers && hasTrailers)) this.maybeHalfClose(kind);
    return { kind: 'continue', body: Buffer.concat([out, rest]) };
  }

  // ---- one chunk: STREAMED (point 13; header mutations ignored, point 14) ---------------------
  async onStreamedChunk(dir: 'request' | 'response', chunk: Buffer, endOfStream: boolean): Promise<StepResult & { chunk: Buffer }> {
    const s = dir === 'request' ? this.req : this.resp;
    const kind = dir === 'request' ? 'request_body' : 'response_body';
    if (this.processingComplete || s.bodyMode !== 'STREAMED') return { kind: 'continue', chunk };
    s.headers = undefined;
    const r = await this.call(kind, { body: chunk, end_of_stream: endOfStream }, false);
    if ('kind' in r) return { ...r, chunk };
    const c: CommonResponse = (r[kind]?.response ?? {}) as CommonResponse;
    const out = hasBodyMutation(c.body_mutation) ? applyBodyMutation(c.body_mutation, chunk) : chunk;
    if (endOfStream && !s.sendTrailers) this.maybeHalfClose(kind);
    return { kind: 'continue', chunk: out };
  }

  // ---- trailers (point 3: only if SEND and present) -----------------------------------------
  async onTrailers(dir: 'request' | 'response', trailers: Headers): Promise<StepResult> {
    const s = dir === 'request' ? this.req : this.resp;
    const kind = dir === 'request' ? 'request_trailers' : 'response_trailers';
    if (this.processingComplete || !s.sendTrailers || trailers.entries.length === 0) return CONTINUE;
    const r = await this.call(kind, { trailers: trailers.toProto() }, false);
    if ('kind' in r) return r;
    const tr = r[kind];
    const res = applyHeaderMutation(tr?.header_mutation, trailers, { checker: this.checker, onRejected: () => this.o.stats.inc('rejected_header_mutations') });
    if (!res.ok) return this.errorReply(res.message);
    this.maybeHalfClose(kind);
    return CONTINUE;
  }

  /** Filter destroyed (request finished or attempt abandoned). */
  finish(): void {
    this.stream.finish();
  }
  /** Used by the harness to check that the stream was opened at all. */
  get streamOpened(): boolean {
    return this.stream.opened;
  }
  get isAwaitingHeaders(): boolean {
    return this.awaitingHeaders;
  }
}
