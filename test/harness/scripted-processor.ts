// A scriptable fake ext_proc gRPC server for the harness's own tests. A test gives one
// handler per message kind; a handler returns the ProcessingResponse to send, or a
// misbehaviour: a delay, closing the stream with OK, a gRPC error, nothing, or several raw
// messages (e.g. a response of the wrong kind).
import * as grpc from '@grpc/grpc-js';
import { loadExtProc, type HeaderMap, type HeaderValueOption, type ProcessingRequest, type ProcessingResponse, type RequestKind } from './proto.js';

export type Action =
  | ProcessingResponse
  | { action: 'delay'; ms: number; then?: ProcessingResponse }
  | { action: 'close_ok' }
  | { action: 'grpc_error'; code: grpc.status; details?: string }
  | { action: 'none' }
  | { action: 'raw'; messages: ProcessingResponse[] }
  /** several messages, each after its own delay (e.g. override_message_timeout, then the answer) */
  | { action: 'sequence'; steps: Array<{ after_ms?: number; send: ProcessingResponse }> };

export interface StreamLog {
  received: ProcessingRequest[];
  sent: ProcessingResponse[];
  /** how the client side ended: 'eof' (half-close) and/or 'cancelled' */
  ended: Array<'eof' | 'cancelled'>;
}
export type Handler = (req: ProcessingRequest, stream: StreamLog) => Action | Promise<Action>;
export type Script = Partial<Record<RequestKind, Handler>>;

export interface ScriptedProcessor {
  target: string;
  streams: StreamLog[];
  /** kinds of all received messages, per stream */
  kinds(): string[][];
  close(): Promise<void>;
}

const isAction = (a: Action): a is Exclude<Action, ProcessingResponse> => 'action' in a;

/** Default answer: an empty response of the matching kind (CONTINUE, no mutation). */
export function continueFor(kind: RequestKind): ProcessingResponse {
  if (kind === 'request_trailers' || kind === 'response_trailers') return { [kind]: {} } as ProcessingResponse;
  return { [kind]: { response: {} } } as ProcessingResponse;
}

export async function startScriptedProcessor(script: Script = {}): Promise<ScriptedProcessor> {
  const streams: StreamLog[] = [];
  const server = new grpc.Server();
  const { service } = loadExtProc();
  server.addService(service, {
    Process: (call: grpc.ServerDuplexStream<ProcessingRequest, ProcessingResponse>) => {
      const log: StreamLog = { received: [], sent: [], ended: [] };
      streams.push(log);
      let finished = false;
      let chain = Promise.resolve();
      const send = (m: ProcessingResponse) => {
        if (finished) return;
        log.sent.push(m);
        call.write(m);
      };
      call.on('data', (req: ProcessingRequest) => {
        log.received.push(req);
        chain = chain.then(async () => {
          if (finished) return;
          const kind = req.request!;
          const a = await (script[kind] ?? (() => continueFor(kind)))(req, log);
          if (!isAction(a)) return send(a);
          switch (a.action) {
            case 'delay':
              await new Promise((r) => setTimeout(r, a.ms));
              if (a.then) send(a.then);
              return;
            case 'close_ok':
              finished = true;
              call.end();
              return;
            case 'grpc_error':
              finished = true;
              call.emit('error', { code: a.code, details: a.details ?? 'scripted error' });
              return;
            case 'raw':
              for (const m of a.messages) send(m);
              return;
            case 'sequence':
              for (const st of a.steps) {
                if (st.after_ms) await new Promise((r) => setTimeout(r, st.after_ms));
                send(st.send);
              }
              return;
            case 'none':
              return;
          }
        }).catch(() => {});
      });
      call.on('end', () => {
        log.ended.push('eof');
        void chain.then(() => {
          if (!finished) { finished = true; call.end(); }
        });
      });
      call.on('cancelled', () => { log.ended.push('cancelled'); finished = true; });
      call.on('error', () => {});
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    target: `127.0.0.1:${port}`,
    streams,
    kinds: () => streams.map((s) => s.received.map((r) => r.request ?? '?')),
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())).then(() => server.forceShutdown()),
  };
}

// ---- helpers to build / read messages in tests -------------------------------------------
/** Reads a header from a HeaderMap the Envoy way (raw_value bytes; value as fallback). */
export function header(map: HeaderMap | undefined, key: string): string | undefined {
  const h = map?.headers?.find((x) => x.key === key);
  if (!h) return undefined;
  return h.raw_value && h.raw_value.length > 0 ? Buffer.from(h.raw_value).toString('latin1') : h.value;
}

/** A set_headers entry written with raw_value (what current Envoy reads). */
export function setRaw(key: string, value: string, append?: boolean): HeaderValueOption {
  return { header: { key, raw_value: Buffer.from(value, 'latin1') }, ...(append === undefined ? {} : { append: { value: append } }) };
}

export interface CommonOpts {
  set?: Record<string, string>;
  append?: Record<string, string>;
  remove?: string[];
  clearRouteCache?: boolean;
  body?: string | Buffer;
  clearBody?: boolean;
  status?: 'CONTINUE' | 'CONTINUE_AND_REPLACE';
  setHeaders?: HeaderValueOption[];
}
/** Builds `{ [kind]: { response: CommonResponse } }` from short options. */
export function respond(kind: Exclude<RequestKind, 'request_trailers' | 'response_trailers'>, o: CommonOpts = {}, extra: Partial<ProcessingResponse> = {}): ProcessingResponse {
  const set_headers = [
    ...Object.entries(o.set ?? {}).map(([k, v]) => setRaw(k, v)),
    ...Object.entries(o.append ?? {}).map(([k, v]) => setRaw(k, v, true)),
    ...(o.setHeaders ?? []),
  ];
  const hm = set_headers.length > 0 || (o.remove?.length ?? 0) > 0 ? { header_mutation: { set_headers, remove_headers: o.remove ?? [] } } : {};
  const bm = o.body !== undefined ? { body_mutation: { body: Buffer.from(o.body) } } : o.clearBody ? { body_mutation: { clear_body: true } } : {};
  return {
    [kind]: { response: { ...hm, ...bm, ...(o.clearRouteCache ? { clear_route_cache: true } : {}), ...(o.status ? { status: o.status } : {}) } },
    ...extra,
  } as ProcessingResponse;
}
