// One upstream HTTP/1.1 attempt (the router's UpstreamRequest) and helpers to write
// responses on raw sockets (for upgrade requests). Loopback only.
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { HOP_BY_HOP, Headers, fromRaw } from './headers.js';
import type { Host } from './router.js';

export type UpstreamResult =
  | { kind: 'response'; res: http.IncomingMessage; headers: Headers }
  | { kind: 'reset'; reason: 'connect_failure' | 'reset' | 'timeout' };

/** Request line + headers for the upstream: pseudo-headers become the request line / Host. */
export function upstreamRequestOptions(host: Host, headers: Headers): http.RequestOptions {
  const flat: string[] = [];
  const authority = headers.get(':authority');
  if (authority !== undefined) flat.push('host', authority);
  flat.push(...headers.toFlat());
  return {
    host: host.address,
    port: host.port,
    method: headers.get(':method') ?? 'GET',
    path: headers.get(':path') ?? '/',
    headers: flat as unknown as http.OutgoingHttpHeaders,
    agent: false,
    setHost: false,
  };
}

export function responseHeadersFrom(res: http.IncomingMessage): Headers {
  const h = fromRaw(res.rawHeaders);
  for (const n of HOP_BY_HOP) h.remove(n);
  h.add(':status', String(res.statusCode ?? 502));
  return h;
}

/** True when the response has no body (encodeHeaders end_stream). */
export function responseHasNoBody(method: string, res: http.IncomingMessage): boolean {
  const s = res.statusCode ?? 0;
  if (method === 'HEAD' || s === 204 || s === 304 || (s >= 100 && s < 200)) return true;
  return res.headers['content-length'] === '0';
}

export function sendUpstream(host: Host, headers: Headers, body: Buffer | null, timeoutMs: number, track: (s: Duplex) => void): Promise<UpstreamResult> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (r: UpstreamResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(r);
    };
    const req = http.request(upstreamRequestOptions(host, headers));
    req.on('socket', (s) => track(s));
    req.on('response', (res) => finish({ kind: 'response', res, headers: responseHeadersFrom(res) }));
    req.on('error', (err: NodeJS.ErrnoException) => {
      finish({ kind: 'reset', reason: err.code === 'ECONNREFUSED' ? 'connect_failure' : 'reset' });
    });
    const timer = setTimeout(() => {
      finish({ kind: 'reset', reason: 'timeout' });
      req.destroy();
    }, timeoutMs);
    if (body && body.length > 0) req.end(body);
    else req.end();
  });
}

export function writeRawResponse(socket: Duplex, status: number, headers: Headers, body: Buffer): void {
  if (socket.destroyed) return;
  const lines = [`HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}`];
  for (const [k, v] of headers.entries) if (!k.startsWith(':')) lines.push(`${k}: ${v}`);
  socket.end(Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'), body]));
}
