// The bench's stand-in for Envoy speaks gRPC over node:http2 itself. It must read every
// answer of a real grpc-js server, in order, whatever the DATA frames' cut, and fail an
// exchange the server ends or refuses instead of waiting.
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBenchClient, type ProcessClient } from '../../bench/ext-proc-call.js';
import { startFloorProcessor } from '../../bench/floor-processors.js';
import { loadExternalProcessor } from '../../src/extproc/proto.js';
import type { WireProcessingRequest, WireProcessingResponse } from '../../src/extproc/wire-types.js';

const headers = { request_headers: { headers: { headers: [{ key: ':path', raw_value: Buffer.from('/v1/responses') }] }, end_of_stream: false } };

let echo: { address: string; stop(): Promise<void> };
let client: ProcessClient;
beforeAll(async () => {
  echo = await startFloorProcessor('echo');
  client = createBenchClient(echo.address);
});
afterAll(async () => {
  client.close();
  await echo.stop();
});

/** A server that answers the first message, then ends the call with `status`. */
async function failingServer(status: grpc.status): Promise<{ address: string; server: grpc.Server }> {
  const server = new grpc.Server();
  server.addService(loadExternalProcessor().service, {
    Process: (call: grpc.ServerDuplexStream<WireProcessingRequest, WireProcessingResponse>) => {
      let answered = false;
      call.on('data', () => {
        if (!answered) {
          answered = true;
          call.write({ request_headers: { response: {} } });
        } else call.emit('error', { code: status, details: 'refused' });
      });
      call.on('error', () => undefined);
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))));
  return { address: `127.0.0.1:${port}`, server };
}

describe('the bench client', () => {
  it('reads each answer of a stream in order, a 1 MB body mutation cut into many DATA frames included', async () => {
    const body = Buffer.alloc(1_000_000, 'x');
    for (let round = 0; round < 2; round++) {
      // The second round sends the body's frame from the cache: the same bytes, the same answer.
      const call = client.open();
      expect([...(await call.send(headers)).fields]).toEqual([1]);
      expect([...(await call.send({ request_body: { body, end_of_stream: true } })).fields]).toEqual([3]);
      expect([...(await call.send({ response_headers: { headers: { headers: [] }, end_of_stream: false } })).fields]).toEqual([2]);
      expect([...(await call.send({ response_body: { body: Buffer.from('data: x\n\n'), end_of_stream: true } })).fields]).toEqual([4]);
      call.end();
    }
  });

  it('keeps many streams of one connection apart', async () => {
    const answers = await Promise.all(
      Array.from({ length: 50 }, async (_, index) => {
        const call = client.open();
        await call.send(headers);
        const answer = await call.send({ request_body: { body: Buffer.alloc(1000 + index * 997, index), end_of_stream: true } });
        call.end();
        return [...answer.fields];
      }),
    );
    expect(answers).toEqual(Array.from({ length: 50 }, () => [3]));
  });

  it('fails the awaited answer when the server ends the call with an error, and every later send', async () => {
    const failing = await failingServer(grpc.status.RESOURCE_EXHAUSTED);
    const refused = createBenchClient(failing.address);
    try {
      const call = refused.open();
      expect([...(await call.send(headers)).fields]).toEqual([1]);
      await expect(call.send({ request_body: { body: Buffer.from('{}'), end_of_stream: true } })).rejects.toThrow(/grpc-status 8/);
      await expect(call.send({ request_body: { body: Buffer.from('{}'), end_of_stream: true } })).rejects.toThrow();
    } finally {
      refused.close();
      failing.server.forceShutdown();
    }
  });

  it('fails an answer awaited when the exchange is cancelled, as the bench does after its timeout', async () => {
    const silent = new grpc.Server();
    silent.addService(loadExternalProcessor().service, { Process: (call: grpc.ServerDuplexStream<WireProcessingRequest, WireProcessingResponse>) => call.on('error', () => undefined) });
    const port = await new Promise<number>((resolve, reject) => silent.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))));
    const waiting = createBenchClient(`127.0.0.1:${port}`);
    try {
      const call = waiting.open();
      const answer = call.send(headers);
      setTimeout(() => call.cancel('no answer in time'), 50);
      await expect(answer).rejects.toThrow('no answer in time');
    } finally {
      waiting.close();
      silent.forceShutdown();
    }
  });
});
