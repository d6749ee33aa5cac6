import * as grpc from '@grpc/grpc-js';
import { loadExternalProcessor } from '../src/extproc/proto.js';
import type { RequestKind, WireProcessingRequest, WireProcessingResponse } from '../src/extproc/wire-types.js';

/**
 * The floor: a grpc-js ext_proc server that answers every message with an
 * empty "continue" of the matching kind, doing nothing else.
 */
export async function startNoopProcessor(): Promise<{ address: string; stop(): Promise<void> }> {
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 64 * 1024 * 1024 });
  server.addService(loadExternalProcessor().service, {
    Process: (call: grpc.ServerDuplexStream<WireProcessingRequest, WireProcessingResponse>) => {
      call.on('data', (message: WireProcessingRequest) => {
        const kind = message.request as RequestKind;
        call.write(kind.endsWith('trailers') ? { [kind]: {} } : { [kind]: { response: {} } });
      });
      call.on('end', () => call.end());
      call.on('error', () => undefined);
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  return { address: `127.0.0.1:${port}`, stop: () => new Promise((resolve) => server.tryShutdown(() => resolve())) };
}
