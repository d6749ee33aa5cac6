// A loopback HTTP proxy that forwards nothing: clients get HTTP(S)_PROXY / ALL_PROXY pointing
// here (NO_PROXY for loopback), so any call a client tries to make outside 127.0.0.1 (update
// checks, plugin sync, telemetry) is refused at once and recorded for the test to assert on.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface EgressTrap {
  readonly url: string;
  /** "CONNECT host:443" or "GET http://host/path" for every attempt. */
  readonly attempts: string[];
  /** Environment that sends a client's outside traffic here. */
  readonly env: Record<string, string>;
  close(): Promise<void>;
}

export async function startEgressTrap(): Promise<EgressTrap> {
  const attempts: string[] = [];
  const server = http.createServer((req, res) => {
    attempts.push(`${req.method} ${req.url}`);
    res.writeHead(403, { 'content-type': 'text/plain' });
    res.end('egress refused by the test\n');
  });
  server.on('connect', (req, socket) => {
    attempts.push(`CONNECT ${req.url}`);
    socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const noProxy = '127.0.0.1,localhost,::1';
  return {
    url,
    attempts,
    env: {
      HTTP_PROXY: url,
      HTTPS_PROXY: url,
      ALL_PROXY: url,
      http_proxy: url,
      https_proxy: url,
      all_proxy: url,
      NO_PROXY: noProxy,
      no_proxy: noProxy,
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
