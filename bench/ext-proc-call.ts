import { connect, constants, type ClientHttp2Session } from 'node:http2';
import { loadExternalProcessor } from '../src/extproc/proto.js';
import type { WireProcessingRequest } from '../src/extproc/wire-types.js';

/**
 * What the bench reads of an answer: the numbers of its top-level fields (which
 * phase it answers, whether it is an immediate response). Envoy decodes an answer
 * in C++ in about a microsecond; decoding it into JavaScript objects would charge
 * a richer answer (header mutations, metadata) with the stand-in's own cost, which
 * is not the processor's. Every field's framing is still walked, so a malformed
 * answer fails.
 */
export interface AnswerFields {
  readonly fields: ReadonlySet<number>;
}

/** ProcessingResponse.immediate_response. */
export const IMMEDIATE_RESPONSE_FIELD = 7;

function readVarint(bytes: Buffer, at: { offset: number }): number {
  let value = 0;
  let multiplier = 1;
  for (let index = 0; index < 10; index++) {
    if (at.offset >= bytes.length) throw new Error('truncated varint');
    const byte = bytes[at.offset++]!;
    value += (byte & 0x7f) * multiplier;
    if ((byte & 0x80) === 0) return value;
    multiplier *= 128;
  }
  throw new Error('varint too long');
}

export function answerFields(bytes: Buffer): AnswerFields {
  const fields = new Set<number>();
  const at = { offset: 0 };
  while (at.offset < bytes.length) {
    const tag = readVarint(bytes, at);
    const wireType = tag & 7;
    fields.add(Math.floor(tag / 8));
    if (wireType === 0) readVarint(bytes, at);
    else if (wireType === 2) {
      const length = readVarint(bytes, at);
      at.offset += length;
    }
    else if (wireType === 1) at.offset += 8;
    else if (wireType === 5) at.offset += 4;
    else throw new Error(`unexpected wire type ${wireType}`);
    if (at.offset > bytes.length) throw new Error('truncated field');
  }
  return { fields };
}

/** One ext_proc stream driven as Envoy does: each message waits for its one answer. */
export interface ProcessCall {
  send(message: WireProcessingRequest): Promise<AnswerFields>;
  /** Half-closes the stream, as Envoy does after the last message it expects to send. */
  end(): void;
  /** Resets the stream: every answer still awaited fails with `reason`. */
  cancel(reason: string): void;
}

/** A client of the ext_proc service on one HTTP/2 connection, as Envoy keeps one per worker. */
export interface ProcessClient {
  open(): ProcessCall;
  close(): void;
}

const PROCESS_PATH = '/envoy.service.ext_proc.v3.ExternalProcessor/Process';
/** gRPC's message prefix: a compression flag and the length. */
const PREFIX_BYTES = 5;

function framed(bytes: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(PREFIX_BYTES + bytes.length);
  frame[0] = 0;
  frame.writeUInt32BE(bytes.length, 1);
  bytes.copy(frame, PREFIX_BYTES);
  return frame;
}

/**
 * gRPC over HTTP/2 with node:http2 directly, not through grpc-js's client. Envoy's
 * gRPC client is C++: charging the stand-in with grpc-js's client machinery
 * (resolving, retrying and load-balancing calls, a filter stack per message) took
 * about as much CPU as the server measured, on the same 2 cores. Bodies the load
 * reuses are encoded once: a body message is framed once per body buffer, as the
 * bytes Envoy sends for it would be the same each time.
 */
export function createBenchClient(address: string): ProcessClient {
  const serialize = loadExternalProcessor().service.Process!.requestSerialize as (message: WireProcessingRequest) => Buffer;
  // Per body buffer: request_body, request_body at end, response_body, response_body at end.
  const bodyFrames = new WeakMap<Buffer, Array<Buffer | undefined>>();
  const frameOf = (message: WireProcessingRequest): Buffer => {
    const part = message.request_body ?? message.response_body;
    const body = part?.body;
    if (!Buffer.isBuffer(body) || Object.keys(message).length !== 1 || Object.keys(part!).some((key) => key !== 'body' && key !== 'end_of_stream')) return framed(serialize(message));
    const slot = (message.request_body ? 0 : 2) + (part!.end_of_stream ? 1 : 0);
    let frames = bodyFrames.get(body);
    if (!frames) bodyFrames.set(body, (frames = []));
    return (frames[slot] ??= framed(serialize(message)));
  };

  let session: ClientHttp2Session | undefined;
  const connection = (): ClientHttp2Session => {
    if (session && !session.closed && !session.destroyed) return session;
    session = connect(`http://${address}`);
    // A failed connection fails its streams; the next call connects again.
    session.on('error', () => undefined);
    return session;
  };

  return {
    open: () => openCall(connection(), address, frameOf),
    close: () => session?.close(),
  };
}

function openCall(session: ClientHttp2Session, authority: string, frameOf: (message: WireProcessingRequest) => Buffer): ProcessCall {
  const stream = session.request({
    ':method': 'POST',
    ':path': PROCESS_PATH,
    ':authority': authority,
    'content-type': 'application/grpc',
    te: 'trailers',
  });
  const pending: Array<{ resolve: (answer: AnswerFields) => void; reject: (error: Error) => void }> = [];
  let failure: Error | undefined;
  const fail = (error: Error): void => {
    failure ??= error;
    for (const waiter of pending.splice(0)) waiter.reject(failure);
  };
  let received: Buffer = Buffer.alloc(0);
  stream.on('response', (headers) => {
    if (headers[':status'] !== 200) fail(new Error(`HTTP status ${headers[':status']}`));
    // A trailers-only answer: the status is in the headers.
    else if (headers['grpc-status'] !== undefined && headers['grpc-status'] !== '0') fail(new Error(`grpc-status ${headers['grpc-status']}`));
  });
  stream.on('data', (chunk: Buffer) => {
    received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
    while (received.length >= PREFIX_BYTES) {
      const length = received.readUInt32BE(1);
      if (received.length < PREFIX_BYTES + length) break;
      const compressed = received[0] !== 0;
      const message = received.subarray(PREFIX_BYTES, PREFIX_BYTES + length);
      received = received.subarray(PREFIX_BYTES + length);
      const waiter = pending.shift();
      if (!waiter) return fail(new Error('an answer nobody asked for'));
      if (compressed) {
        waiter.reject(new Error('compressed answer'));
        continue;
      }
      try {
        waiter.resolve(answerFields(message));
      } catch (error) {
        waiter.reject(error as Error);
      }
    }
  });
  stream.on('trailers', (trailers) => {
    if (trailers['grpc-status'] !== '0') fail(new Error(`grpc-status ${trailers['grpc-status']}: ${trailers['grpc-message'] ?? ''}`));
  });
  stream.on('error', (error: Error) => fail(error));
  stream.on('close', () => fail(new Error('stream ended before its answer')));
  return {
    send: (message) =>
      new Promise<AnswerFields>((resolve, reject) => {
        if (failure) return reject(failure);
        pending.push({ resolve, reject });
        stream.write(frameOf(message));
      }),
    end: () => {
      if (!stream.closed && !stream.destroyed) stream.end();
    },
    cancel: (reason) => {
      fail(new Error(reason));
      if (!stream.destroyed) stream.close(constants.NGHTTP2_CANCEL);
    },
  };
}
