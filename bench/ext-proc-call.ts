import type * as grpc from '@grpc/grpc-js';
import type { WireProcessingRequest, WireProcessingResponse } from '../src/extproc/wire-types.js';

export type ProcessClient = grpc.Client & { Process: () => grpc.ClientDuplexStream<WireProcessingRequest, WireProcessingResponse> };

/** One ext_proc stream driven as Envoy does: each message waits for its one answer. */
export function openProcessCall(client: ProcessClient): { send: (message: WireProcessingRequest) => Promise<WireProcessingResponse>; end: () => void } {
  const call = client.Process();
  const pending: Array<(response: WireProcessingResponse) => void> = [];
  call.on('data', (response: WireProcessingResponse) => pending.shift()?.(response));
  call.on('error', () => undefined);
  return {
    send: (message) =>
      new Promise<WireProcessingResponse>((resolve) => {
        pending.push(resolve);
        call.write(message);
      }),
    end: () => call.end(),
  };
}
