// A loopback pass-through in front of the stack that keeps what a real client sent: method,
// path, every header and the raw body, plus the answer's status and the fake account that
// answered. Streams both ways unbuffered (SSE answers flow as they come).
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface CapturedRequest {
  seq: number;
  method: string;
  path: string;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
  /** 0 until the answer's headers arrived (or when the stack never answered). */
  status: number;
  /** x-fake-account of the answer (fake-only header), null when none. */
  account: string | null;
  /** Response headers, lower-case names. */
  responseHeaders: Record<string, string>;
  /** The answer's body when it was not a stream (error bodies); null for SSE. */
  responseBody: string | null;
}

export interface Recorder {
  readonly url: string;
  readonly requests: CapturedRequest[];
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer']);

function flatten(headers: http.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  return out;
}

export async function startRecorder(target: string): Promise<Recorder> {
  const requests: CapturedRequest[] = [];
  const agent = new http.Agent({ keepAlive: true });
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const record: CapturedRequest = {
        seq: requests.length,
        method: req.method ?? 'GET',
        path: req.url ?? '/',
        headers: flatten(req.headers),
        body,
        status: 0,
        account: null,
        responseHeaders: {},
        responseBody: null,
      };
      requests.push(record);
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(record.headers)) if (!HOP_BY_HOP.has(name)) headers[name] = value;
      headers['content-length'] = String(body.length);
      const upstream = http.request(new URL(record.path, target), { method: record.method, headers, agent }, (answer) => {
        record.status = answer.statusCode ?? 0;
        record.responseHeaders = flatten(answer.headers);
        record.account = record.responseHeaders['x-fake-account'] ?? null;
        const out: Record<string, string> = {};
        for (const [name, value] of Object.entries(record.responseHeaders)) if (!HOP_BY_HOP.has(name)) out[name] = value;
        res.writeHead(record.status || 502, out);
        const isStream = (record.responseHeaders['content-type'] ?? '').includes('text/event-stream');
        const kept: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => {
          if (!isStream) kept.push(chunk);
          res.write(chunk);
        });
        answer.on('end', () => {
          if (!isStream) record.responseBody = Buffer.concat(kept).toString('utf8');
          res.end();
        });
        answer.on('aborted', () => res.destroy());
        answer.on('error', () => res.destroy());
      });
      upstream.on('error', () => res.destroy());
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        agent.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
