// The gRPC listener: loopback by default, a Unix socket, TLS, and mutual TLS where Envoy
// must present a certificate. A client the listener must refuse gets no answer at all.
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { loadExternalProcessor } from '../../src/extproc/proto.js';
import type { WireProcessingRequest, WireProcessingResponse } from '../../src/extproc/wire-types.js';
import { createLogger } from '../../src/logging/logger.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { makeTestCertificates, type TestCertificates } from '../support/certificates.js';
import { headerMap } from '../support/processor.js';

let certificates: TestCertificates;
let server: RunningServer | undefined;
beforeAll(() => {
  certificates = makeTestCertificates();
});
afterAll(() => rmSync(certificates.directory, { recursive: true, force: true }));
afterEach(async () => {
  await server?.stop(500);
  server = undefined;
});

async function start(grpcConfig: ConfigInput['grpc']): Promise<RunningServer> {
  const config = parseConfig({ grpc: grpcConfig, http: { host: '127.0.0.1', port: 0 }, accounts: [{ name: 'a', cluster: 'cluster-a' }], logging: { level: 'silent' } });
  server = await startServer(config, { logger: createLogger('silent') });
  return server;
}

/** One request_headers exchange; resolves with the answer or rejects with the stream's error. */
function exchange(address: string, credentials: grpc.ChannelCredentials): Promise<WireProcessingResponse> {
  const { client: Client } = loadExternalProcessor();
  const client = new Client(address, credentials) as unknown as grpc.Client & { Process: () => grpc.ClientDuplexStream<WireProcessingRequest, WireProcessingResponse> };
  return new Promise<WireProcessingResponse>((resolve, reject) => {
    const call = client.Process();
    const timer = setTimeout(() => reject(new Error('no answer within 3 s')), 3000);
    call.on('data', (answer: WireProcessingResponse) => {
      clearTimeout(timer);
      resolve(answer);
      call.end();
    });
    call.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    call.write({ request_headers: { headers: headerMap({ ':method': 'POST', ':path': '/v1/responses', 'session-id': 's', authorization: 'Bearer k' }), end_of_stream: true } });
  }).finally(() => client.close());
}

describe('gRPC listener', () => {
  it('binds loopback by default', async () => {
    expect(parseConfig({ accounts: [{ name: 'a', cluster: 'c' }] }).grpc.host).toBe('127.0.0.1');
    const running = await start({ port: 0 });
    expect(running.grpcAddress).toMatch(/^127\.0\.0\.1:\d+$/);
    expect((await exchange(running.grpcAddress, grpc.credentials.createInsecure())).request_headers).toBeDefined();
  });

  it('serves on a Unix socket', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'codex-affinity-socket-'));
    try {
      const running = await start({ socket: join(directory, 'ext-proc.sock') });
      expect(running.grpcAddress).toBe(`unix:${join(directory, 'ext-proc.sock')}`);
      expect((await exchange(running.grpcAddress, grpc.credentials.createInsecure())).request_headers).toBeDefined();
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it('speaks TLS when configured, and refuses a plaintext client', async () => {
    const running = await start({ port: 0, tls: { certFile: certificates.serverCertFile, keyFile: certificates.serverKeyFile } });
    const ca = readFileSync(certificates.caFile);
    expect((await exchange(running.grpcAddress, grpc.credentials.createSsl(ca))).request_headers).toBeDefined();
    await expect(exchange(running.grpcAddress, grpc.credentials.createInsecure())).rejects.toThrow();
  });

  it('with a client CA (mutual TLS), refuses a client without a certificate and serves one with it', async () => {
    const running = await start({ port: 0, tls: { certFile: certificates.serverCertFile, keyFile: certificates.serverKeyFile, clientCaFile: certificates.caFile } });
    const ca = readFileSync(certificates.caFile);
    await expect(exchange(running.grpcAddress, grpc.credentials.createSsl(ca))).rejects.toThrow();
    const withCertificate = grpc.credentials.createSsl(ca, readFileSync(certificates.clientKeyFile), readFileSync(certificates.clientCertFile));
    expect((await exchange(running.grpcAddress, withCertificate)).request_headers).toBeDefined();
  });

  it('a missing certificate file stops the start with the key and path, not file contents', async () => {
    await expect(start({ port: 0, tls: { certFile: '/nonexistent/tls.crt', keyFile: certificates.serverKeyFile } })).rejects.toThrow('grpc.tls.certFile: cannot read /nonexistent/tls.crt: ENOENT');
  });
});
