import * as grpc from '@grpc/grpc-js';
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

export type ProcessClient = grpc.Client & { Process: () => grpc.ClientDuplexStream<WireProcessingRequest, AnswerFields> };

/** A client of the ext_proc service that sends as Envoy does and reads answers as AnswerFields. */
export function createBenchClient(address: string, options: grpc.ChannelOptions = {}): ProcessClient {
  const method = loadExternalProcessor().service.Process!;
  const Client = grpc.makeGenericClientConstructor({ Process: { ...method, responseDeserialize: answerFields } }, 'ExternalProcessor');
  return new Client(address, grpc.credentials.createInsecure(), {
    'grpc.max_send_message_length': 64 * 1024 * 1024,
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
    ...options,
  }) as unknown as ProcessClient;
}

/** One ext_proc stream driven as Envoy does: each message waits for its one answer. */
export function openProcessCall(client: ProcessClient): { send: (message: WireProcessingRequest) => Promise<AnswerFields>; end: () => void } {
  const call = client.Process();
  const pending: Array<{ resolve: (response: AnswerFields) => void; reject: (error: Error) => void }> = [];
  call.on('data', (response: AnswerFields) => pending.shift()?.resolve(response));
  call.on('error', (error: Error) => {
    for (const waiter of pending.splice(0)) waiter.reject(error);
  });
  call.on('end', () => {
    for (const waiter of pending.splice(0)) waiter.reject(new Error('stream ended before its answer'));
  });
  return {
    send: (message) =>
      new Promise<AnswerFields>((resolve, reject) => {
        pending.push({ resolve, reject });
        call.write(message);
      }),
    end: () => call.end(),
  };
}
