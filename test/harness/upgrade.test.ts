// WebSocket upgrades (shared/envoy-ext-proc.md point 25; envoyproxy/envoy#47081, #47048, PR #47060).
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, startStack } from './fixtures.js';
import { header, respond } from './scripted-processor.js';

afterEach(closeAll);

/** Sends a raw HTTP/1.1 upgrade request; resolves with the response head (and a socket to talk on). */
function upgrade(url: string, headers: Record<string, string>, timeoutMs = 3000): Promise<{ status: number; head: string; socket: net.Socket; rest: Buffer }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(u.port), u.hostname);
    const t = setTimeout(() => { socket.destroy(); reject(new Error('upgrade timeout')); }, timeoutMs);
    let buf = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      clearTimeout(t);
      socket.removeAllListeners('data');
      const head = buf.subarray(0, end).toString('latin1');
      resolve({ status: Number(head.split(' ')[1]), head, socket, rest: buf.subarray(end + 4) });
    });
    socket.on('error', (e) => { clearTimeout(t); reject(e); });
    const lines = ['GET /v1/responses HTTP/1.1', 'host: api.local', 'connection: Upgrade', 'upgrade: websocket', 'sec-websocket-key: abc==', 'sec-websocket-version: 13'];
    for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
    socket.write(lines.join('\r\n') + '\r\n\r\n');
  });
}
const readSome = (s: net.Socket) => new Promise<string>((r) => s.once('data', (d: Buffer) => r(d.toString())));

const wsRoute = { match: { prefix: '/' }, route: { cluster_header: 'x-cluster', upgrade_configs: [{ upgrade_type: 'websocket' }] } };

describe('HTTP/1.1 upgrade through ext_proc', () => {
  it('request_headers arrives with end_of_stream false; with BUFFERED still in force the upgrade hangs until stream_idle_timeout (408)', async () => {
    const { envoy, proc, ups } = await startStack({ routes: [wsRoute], extra: { stream_idle_timeout_ms: 300 } });
    const t0 = Date.now();
    const r = await upgrade(envoy.url, { 'x-cluster': 'acct-a' });
    expect(r.status).toBe(408);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(280);
    expect(r.head.toLowerCase()).toContain('content-length: 14'); // "stream timeout"
    r.socket.destroy();
    const first = proc.streams[0]!.received[0]!;
    expect(first.request).toBe('request_headers');
    expect(first.request_headers!.end_of_stream).toBe(false);
    expect(header(first.request_headers!.headers, 'upgrade')).toBe('websocket');
    expect(proc.kinds()[0]).not.toContain('request_body');
    expect(ups['acct-a']!.upgrades).toHaveLength(0);
    expect(envoy.log[0]!.details).toBe('stream_idle_timeout');
    expect(envoy.stats.get('message_timeouts')).toBe(0); // the per-message timer is not what fires
  });

  it('mode_override request_body_mode NONE in the headers answer lets the upgrade through; response_headers carries :status 101', async () => {
    const { envoy, proc, ups } = await startStack({
      routes: [wsRoute],
      ext_proc: { allow_mode_override: true },
      extra: { stream_idle_timeout_ms: 2000 },
      script: {
        request_headers: () =>
          respond('request_headers', { set: { 'x-cluster': 'acct-b' }, clearRouteCache: true }, { mode_override: { request_body_mode: 'NONE', response_body_mode: 'NONE' } }),
      },
    });
    const r = await upgrade(envoy.url, {});
    expect(r.status).toBe(101);
    expect(r.head.toLowerCase()).toContain('sec-websocket-accept: fake-accept');
    r.socket.write('ping');
    expect(await readSome(r.socket)).toBe('echo:ping');
    r.socket.destroy();
    expect(ups['acct-b']!.upgrades).toHaveLength(1);
    expect(envoy.log[0]!.cluster).toBe('acct-b');
    const rh = proc.streams[0]!.received.find((m) => m.request === 'response_headers')!;
    expect(header(rh.response_headers!.headers, ':status')).toBe('101');
    expect(header(rh.response_headers!.headers, 'x-codex-turn-state')).toBe('ts-1');
  });

  it('mode_override is not honoured without allow_mode_override: still hangs', async () => {
    const { envoy, ups } = await startStack({
      routes: [wsRoute],
      extra: { stream_idle_timeout_ms: 200 },
      script: { request_headers: () => respond('request_headers', {}, { mode_override: { request_body_mode: 'NONE' } }) },
    });
    const r = await upgrade(envoy.url, { 'x-cluster': 'acct-a' });
    expect(r.status).toBe(408);
    r.socket.destroy();
    expect(ups['acct-a']!.upgrades).toHaveLength(0);
  });

  it('a route whose per-route ext_proc override turns the request body off proxies the upgrade', async () => {
    const { envoy, proc, ups } = await startStack({
      routes: [
        { ...wsRoute, match: { prefix: '/', upgrade: 'websocket' }, typed_per_filter_config: { ext_proc: { overrides: { processing_mode: { request_header_mode: 'SEND', response_header_mode: 'SEND', request_body_mode: 'NONE' } } } } },
        { match: { prefix: '/' }, route: { cluster_header: 'x-cluster' } },
      ],
      extra: { stream_idle_timeout_ms: 2000 },
    });
    const r = await upgrade(envoy.url, { 'x-cluster': 'acct-a' });
    expect(r.status).toBe(101);
    r.socket.destroy();
    expect(ups['acct-a']!.upgrades).toHaveLength(1);
    expect(proc.kinds()[0]).toEqual(['request_headers', 'response_headers']);
  });

  it('an upgrade not enabled by the HCM or the route is refused with 403 before any filter', async () => {
    const { envoy, proc } = await startStack({ routes: [{ match: { prefix: '/' }, route: { cluster_header: 'x-cluster' } }] });
    const r = await upgrade(envoy.url, { 'x-cluster': 'acct-a' });
    expect(r.status).toBe(403);
    r.socket.destroy();
    expect(proc.streams).toHaveLength(0);
    expect(envoy.log[0]!.details).toBe('upgrade_failed');
  });
});
