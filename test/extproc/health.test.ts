// gRPC health (grpc.health.v1), which the kubelet's gRPC probe asks through Envoy's readiness
// listener: the processor reports SERVING for the ext_proc service, keeps doing so while it
// drains after SIGTERM (it still serves every stream), and stops answering once it stopped.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath } from 'grpc-health-check';
import { describe, expect, it } from 'vitest';
import { startTestProcessor } from '../support/processor.js';

const health = grpc.loadPackageDefinition(protoLoader.loadSync(protoPath, { enums: String })) as unknown as {
  grpc: { health: { v1: { Health: new (address: string, credentials: grpc.ChannelCredentials) => grpc.Client & { check(request: { service: string }, options: { deadline: number }, callback: (error: grpc.ServiceError | null, response?: { status: string }) => void): void } } } };
};

function check(address: string, service: string): Promise<string> {
  const client = new health.grpc.health.v1.Health(address, grpc.credentials.createInsecure());
  return new Promise((resolve) => {
    client.check({ service }, { deadline: Date.now() + 2000 }, (error, response) => {
      client.close();
      resolve(error ? `error ${grpc.status[error.code]}` : response!.status);
    });
  });
}

describe('gRPC health', () => {
  it('SERVING for the ext_proc service and the server, also while draining; gone once stopped', async () => {
    const processor = await startTestProcessor({ shutdown: { grace: '5s', idle: '300ms' } });
    const address = processor.server.grpcAddress;
    expect(await check(address, 'envoy.service.ext_proc.v3.ExternalProcessor')).toBe('SERVING');
    expect(await check(address, '')).toBe('SERVING');
    expect(await check(address, 'no.such.Service')).toBe('error NOT_FOUND');
    const draining = processor.server.drain();
    expect(await check(address, 'envoy.service.ext_proc.v3.ExternalProcessor')).toBe('SERVING');
    expect((await draining).step).toBe('drained');
    expect(await check(address, 'envoy.service.ext_proc.v3.ExternalProcessor')).toMatch(/^error (UNAVAILABLE|DEADLINE_EXCEEDED)$/);
    processor.client.close();
  });
});
