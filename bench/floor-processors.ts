import * as grpc from '@grpc/grpc-js';
import { HTTP2_WINDOW_BYTES } from '../src/config/schema.js';
import { loadExternalProcessor } from '../src/extproc/proto.js';
import { widenReceiveWindows } from '../src/extproc/receive-window.js';
import type { RequestKind, WireProcessingRequest, WireProcessingResponse } from '../src/extproc/wire-types.js';

/**
 * The floors a processor is compared with, both grpc-js ext_proc servers doing
 * no work of their own:
 * - `noop` answers every message with an empty "continue" of the matching kind;
 * - `echo` does the same but answers each request body with a body mutation of
 *   the same size (the body it received, and its content-length), which is what
 *   a rewrite costs on the wire before any rewriting.
 */
export type FloorKind = 'noop' | 'echo';

function answer(kind: FloorKind, message: WireProcessingRequest): WireProcessingResponse {
  const request = message.request as RequestKind;
  if (request.endsWith('trailers')) return { [request]: {} };
  const body = message.request_body?.body;
  if (kind === 'echo' && request === 'request_body' && body !== undefined) {
    return {
      request_body: {
        response: {
          header_mutation: { set_headers: [{ header: { key: 'content-length', raw_value: Buffer.from(String(body.length)) } }] },
          body_mutation: { body },
        },
      },
    };
  }
  return { [request]: { response: {} } };
}

export async function startFloorProcessor(kind: FloorKind): Promise<{ address: string; stop(): Promise<void> }> {
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 64 * 1024 * 1024, 'grpc.max_send_message_length': 64 * 1024 * 1024 });
  // The same HTTP/2 receive windows as the processor's defaults: the floors differ from it only in doing nothing.
  if (!widenReceiveWindows(server, { streamBytes: HTTP2_WINDOW_BYTES.stream, connectionBytes: HTTP2_WINDOW_BYTES.connection })) throw new Error('grpc-js: receive windows cannot be set');
  server.addService(loadExternalProcessor().service, {
    Process: (call: grpc.ServerDuplexStream<WireProcessingRequest, WireProcessingResponse>) => {
      call.on('data', (message: WireProcessingRequest) => call.write(answer(kind, message)));
      call.on('end', () => call.end());
      call.on('error', () => undefined);
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  return { address: `127.0.0.1:${port}`, stop: () => new Promise((resolve) => server.tryShutdown(() => resolve())) };
}
