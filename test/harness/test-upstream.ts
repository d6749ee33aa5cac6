// A tiny loopback upstream for the harness's own tests: records requests, can fail the first
// N requests with a status or by resetting the socket, can stream a chunked body, and accepts
// WebSocket-style upgrades (answers 101 and echoes bytes).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
}
export interface UpstreamReply {
  status?: number;
  headers?: Record<string, string>;
  body?: string;
  /** sent as separate chunks (chunked transfer encoding) with a small pause in between */
  chunks?: string[];
}
export interface TestUpstreamOptions {
  name?: string;
  failTimes?: number;
  failWith?: number | 'reset';
  reply?: (req: RecordedRequest, n: number) => UpstreamReply;
}
export interface TestUpstream {
  name: string;
  port: number;
  requests: RecordedRequest[];
  upgrades: RecordedRequest[];
  close(): Promise<void>;
}

export async function startTestUpstream(opts: TestUpstreamOptions = {}): Promise<TestUpstream> {
  const requests: RecordedRequest[] = [];
  const upgrades: RecordedRequest[] = [];
  const sockets = new Set<Duplex>();
  let n = 0;
  const name = opts.name ?? 'upstream';
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const rec: RecordedRequest = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, body: Buffer.concat(chunks).toString() };
      requests.push(rec);
      const i = n++;
      if (i < (opts.failTimes ?? 0)) {
        if (opts.failWith === 'reset') { req.socket.destroy(); return; }
        res.writeHead(typeof opts.failWith === 'number' ? opts.failWith : 503, { 'content-type': 'text/plain', 'x-upstream': name });
        res.end(`fail ${i}`);
        return;
      }
      const r = opts.reply?.(rec, i) ?? { body: `hello from ${name}` };
      const headers = { 'x-upstream': name, ...(r.headers ?? {}) };
      if (r.chunks) {
        res.writeHead(r.status ?? 200, headers);
        for (const c of r.chunks) {
          res.write(c);
          await new Promise((ok) => setTimeout(ok, 10));
        }
        res.end();
      } else {
        res.writeHead(r.status ?? 200, headers);
        res.end(r.body ?? '');
      }
    });
  });
  server.on('connection', (s) => { sockets.add(s); s.once('close', () => sockets.delete(s)); });
  server.on('upgrade', (req, socket: Duplex, head: Buffer) => {
    sockets.add(socket);
    upgrades.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, body: '' });
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n' +
        `sec-websocket-accept: fake-accept\r\nx-upstream: ${name}\r\nx-codex-turn-state: ts-1\r\n\r\n`,
    );
    if (head.length > 0) socket.write(head);
    socket.on('data', (d: Buffer) => socket.write(Buffer.concat([Buffer.from('echo:'), d])));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    name,
    port: (server.address() as AddressInfo).port,
    requests,
    upgrades,
    close: async () => {
      for (const s of sockets) s.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
