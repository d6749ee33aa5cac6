// The HTTP/2 receive windows the processor announces to Envoy: what a stream and a
// connection may carry before the processor acknowledges it. Read from the client's side
// of a real connection, as Envoy sees them, so a grpc-js upgrade that drops the hook fails here.
import * as grpc from '@grpc/grpc-js';
import { readFileSync, rmSync } from 'node:fs';
import { connect, type ClientHttp2Session, type SecureClientSessionOptions } from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { HTTP2_WINDOW_BYTES, type ConfigInput } from '../../src/config/schema.js';
import { widenReceiveWindows } from '../../src/extproc/receive-window.js';
import { createLogger } from '../../src/logging/logger.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { makeTestCertificates } from '../support/certificates.js';

let server: RunningServer | undefined;
let client: ClientHttp2Session | undefined;
afterEach(async () => {
  client?.destroy();
  client = undefined;
  await server?.stop(500);
  server = undefined;
});

const NODE_DEFAULT_WINDOW = 65_535;

async function start(grpcConfig: ConfigInput['grpc'] = {}): Promise<string> {
  const config = parseConfig({ grpc: { host: '127.0.0.1', port: 0, ...grpcConfig }, http: { host: '127.0.0.1', port: 0 }, accounts: [{ name: 'a', cluster: 'cluster-a' }], logging: { level: 'silent' } });
  server = await startServer(config, { logger: createLogger('silent') });
  return server.grpcAddress;
}

/** The windows a client of `address` may fill: per stream (the server's SETTINGS) and for the connection. */
async function announcedWindows(address: string, expectedStreamBytes: number, tls?: SecureClientSessionOptions): Promise<{ streamBytes: number; connectionBytes: number }> {
  const session = tls ? connect(`https://${address}`, tls) : connect(`http://${address}`);
  client = session;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no SETTINGS with a window of ${expectedStreamBytes} within 3 s (last: ${session.remoteSettings?.initialWindowSize})`)), 3000);
    const check = () => {
      if (session.remoteSettings?.initialWindowSize !== expectedStreamBytes) return;
      clearTimeout(timer);
      resolve();
    };
    session.on('remoteSettings', check);
    session.on('error', reject);
  });
  // A ping's answer comes after every frame the server sent before it, its WINDOW_UPDATE included.
  await new Promise<void>((resolve, reject) => session.ping((error) => (error ? reject(error) : resolve())));
  return { streamBytes: session.remoteSettings.initialWindowSize!, connectionBytes: session.state.remoteWindowSize! };
}

describe('HTTP/2 receive windows', () => {
  it('announces 1 MiB per stream and 16 MiB per connection by default, not Node’s 64 KiB', async () => {
    const address = await start();
    const windows = await announcedWindows(address, HTTP2_WINDOW_BYTES.stream);
    expect(windows).toEqual({ streamBytes: 1024 * 1024, connectionBytes: 16 * 1024 * 1024 });
    expect(windows.streamBytes).toBeGreaterThan(NODE_DEFAULT_WINDOW);
  });

  it('announces the configured windows', async () => {
    const address = await start({ streamWindowBytes: 200_000, connectionWindowBytes: 3_000_000 });
    expect(await announcedWindows(address, 200_000)).toEqual({ streamBytes: 200_000, connectionBytes: 3_000_000 });
  });

  it('announces them on a TLS listener too (the same HTTP/2 server factory, a secure server)', async () => {
    const certificates = makeTestCertificates();
    try {
      const configured = await start({ streamWindowBytes: 300_000, tls: { certFile: certificates.serverCertFile, keyFile: certificates.serverKeyFile } });
      expect(await announcedWindows(configured, 300_000, { ca: readFileSync(certificates.caFile) })).toEqual({ streamBytes: 300_000, connectionBytes: 16 * 1024 * 1024 });
    } finally {
      rmSync(certificates.directory, { recursive: true, force: true });
    }
  });

  it('refuses windows HTTP/2 does not allow, naming the setting', () => {
    const parse = (grpc: ConfigInput['grpc']) => () => parseConfig({ grpc, accounts: [{ name: 'a', cluster: 'cluster-a' }] });
    expect(parse({ streamWindowBytes: 65_534 })).toThrow(/grpc\.streamWindowBytes/);
    expect(parse({ connectionWindowBytes: 2 ** 31 })).toThrow(/grpc\.connectionWindowBytes/);
    expect(parse({ streamWindowBytes: 1.5e6 + 0.5 })).toThrow(/grpc\.streamWindowBytes/);
  });

  it('says so when grpc-js has no HTTP/2 server factory to wrap', () => {
    const withoutFactory = Object.create(null) as grpc.Server;
    expect(widenReceiveWindows(withoutFactory, { streamBytes: 1 << 20, connectionBytes: 1 << 24 })).toBe(false);
    expect(widenReceiveWindows(new grpc.Server(), { streamBytes: 1 << 20, connectionBytes: 1 << 24 })).toBe(true);
  });
});
