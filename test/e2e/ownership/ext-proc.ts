// Straight at the processor's ext_proc stream: a bare client, and an upstream's answer.
import * as grpc from '@grpc/grpc-js';
import { loadExternalProcessor } from '../../../src/extproc/proto.js';
import type { WireProcessingResponse } from '../../../src/extproc/wire-types.js';
import type { ScriptedStream, TestProcessor } from '../../support/processor.js';

/** A bare ext_proc client of a running processor, usable with ScriptedStream. */
export function extProcClient(address: string): { processor: TestProcessor; close(): void } {
  const { client: Client } = loadExternalProcessor();
  const client = new Client(address, grpc.credentials.createInsecure()) as unknown as TestProcessor['client'];
  return { processor: { client } as unknown as TestProcessor, close: () => client.close() };
}

/** Answers a stream's response phase as an upstream would: headers, then the body if the processor asks for it. */
export async function answerUpstream(stream: ScriptedStream, headers: Record<string, string>, body?: string): Promise<void> {
  const answer: WireProcessingResponse = await stream.responseHeaders(headers, body === undefined);
  const mode = answer.mode_override?.response_body_mode;
  if (body !== undefined && (mode === 'BUFFERED' || mode === 'STREAMED' || mode === 'BUFFERED_PARTIAL')) await stream.responseBody(body, true);
}
