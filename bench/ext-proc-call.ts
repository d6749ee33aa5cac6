import type * as grpc from '@grpc/grpc-js';
import type { WireProcessingRequest, WireProcessingResponse } from '../src/extproc/wire-types.js';

export type ProcessClient = grpc.Client & { Process: () => grpc.ClientDuplexStream<WireProcessingRequest, WireProcessingResponse> };

/** One ext_proc stream driven as Envoy does: each message waits for its one answer. */
export function openProcessCall(client: ProcessClient): { send: (message: WireProcessingRequest) => Promise<WireProcessingResponse>; end: () => void } {
  const call = client.Process();
  const pending: Array<{ resolve: (response: WireProcessingResponse) => void; reject: (error: Error) => void }> = [];
  call.on('data', (response: WireProcessingResponse) => pending.shift()?.resolve(response));
  call.on('error', (error: Error) => {
    for (const waiter of pending.splice(0)) waiter.reject(error);
  });
  call.on('end', () => {
    for (const waiter of pending.splice(0)) waiter.reject(new Error('stream ended before its answer'));
  });
  return {
    send: (message) =>
      new Promise<WireProcessingResponse>((resolve, reject) => {
        pending.push({ resolve, reject });
        call.write(message);
      }),
    end: () => call.end(),
  };
}
