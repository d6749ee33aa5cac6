// HTTP/1.1 upgrades (WebSocket), shared/envoy-ext-proc.md point 25.
// Envoy's HTTP/1 codec enters upgrade mode: the filter sees request_headers with
// end_of_stream false and the tunnel is the request "body", which never ends. With
// request_body_mode BUFFERED still in force after the headers answer, ext_proc holds the
// headers forever (envoyproxy/envoy#47081, open): the request never reaches the router and the
// HCM's stream_idle_timeout finally answers 408 "stream timeout" (details stream_idle_timeout).
// A headers answer with mode_override request_body_mode NONE (allow_mode_override) or a
// per-route override without request body lets the upgrade through; the upstream's 101 is then
// sent to the processor as response_headers and bytes are piped.
import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { ResolvedConfig, RouteConfig } from './config.js';
import type { Ctx } from './envoy.js';
import { downstreamRequestHeaders, localReplyHeaders, makeFilter } from './envoy.js';
import type { ExtProcFilter, LocalReply } from './filter.js';
import { fromRaw } from './headers.js';
import { ROUTER_CONSUMED, resolveRoute } from './router.js';
import { newRecord, type RequestRecord } from './stats.js';
import { upstreamRequestOptions, writeRawResponse } from './upstream-call.js';

/** HCM createUpgradeFilterChain: the route's upgrade_configs win, else the HCM's list. */
function upgradeAllowed(cfg: ResolvedConfig, route: RouteConfig | undefined, type: string): boolean {
  const perRoute = route?.route.upgrade_configs?.find((u) => u.upgrade_type.toLowerCase() === type);
  if (perRoute) return perRoute.enabled !== false;
  return cfg.upgrade_types.includes(type);
}

const reply = (status: number, body: string, details: string, source: LocalReply['source']): LocalReply => ({ status, body: Buffer.from(body), details, source });

export async function handleUpgrade(ctx: Ctx, log: RequestRecord[], req: http.IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  const rec = newRecord(req.method ?? 'GET', req.url ?? '/');
  rec.upgrade = true;
  log.push(rec);
  const headers = downstreamRequestHeaders(req, true);
  const type = (headers.get('upgrade') ?? '').toLowerCase();
  let rr = resolveRoute(ctx.cfg, headers);
  rec.initial_cluster = rr ? rr.cluster : null;
  let f: ExtProcFilter | undefined;

  // local reply on the raw socket; router/HCM replies still pass the filter's encode path
  const sendLocal = async (r: LocalReply) => {
    let h = localReplyHeaders(r);
    let final = r;
    if (f && r.source !== 'ext_proc') {
      const e = await f.onHeaders('response', h, r.body.length === 0);
      if (e.kind === 'reply') { final = e.reply; h = localReplyHeaders(e.reply); }
    }
    rec.immediate = { status: final.status, details: final.details, source: final.source };
    rec.details = final.details;
    rec.status = final.status;
    rec.done = true;
    writeRawResponse(socket, final.status, h, final.body);
    f?.finish();
  };

  if (!upgradeAllowed(ctx.cfg, rr?.route, type)) return sendLocal(reply(403, '', 'upgrade_failed', 'hcm'));
  const ext = ctx.cfg.ext_proc;
  if (ext && ext.filter_placement === 'downstream') {
    f = makeFilter(ctx, rec, rr?.route, rec.processor, false);
    const h = await f.onHeaders('request', headers, false);
    if (h.kind === 'reply') return sendLocal(h.reply);
    if (f.buffersBody('request')) {
      // The hang: headers held until a body end that never comes; only the idle timeout ends it.
      const closed = await new Promise<boolean>((resolve) => {
        const t = setTimeout(() => { ctx.timers.delete(t); resolve(false); }, ctx.cfg.stream_idle_timeout_ms);
        ctx.timers.add(t);
        socket.once('close', () => { clearTimeout(t); ctx.timers.delete(t); resolve(true); });
      });
      if (closed) { rec.done = true; f.finish(); return; }
      ctx.stats.inc('downstream_rq_idle_timeout');
      return sendLocal(reply(408, 'stream timeout', 'stream_idle_timeout', 'hcm'));
    }
    const cp = f.checkpoint();
    if (cp?.kind === 'reply') return sendLocal(cp.reply);
    if (f.routeCacheCleared) {
      rr = resolveRoute(ctx.cfg, headers);
      rec.route_cleared = true;
    }
  }
  if (!rr) return sendLocal(reply(404, '', 'route_not_found', 'router'));
  rec.cluster = rr.cluster || null;
  const lb = ctx.clusters.get(rr.cluster);
  if (!lb) return sendLocal(reply(ctx.cfg.cluster_not_found_response_code, '', 'cluster_not_found', 'router'));
  const hashName = rr.route.route.hash_policy?.[0]?.header.header_name;
  const host = lb.choose(hashName ? headers.get(hashName) : undefined, 0);
  if (!host) return sendLocal(reply(503, 'no healthy upstream', 'no_healthy_upstream', 'router'));
  const attempt = { host: host.key, status: null as number | null };
  rec.attempts.push(attempt);
  const up = headers.clone();
  for (const n of ROUTER_CONSUMED) up.remove(n);
  rec.upstream_request_headers = up.toObject();

  const upReq = http.request(upstreamRequestOptions(host, up));
  upReq.on('socket', (s) => { ctx.sockets.add(s); s.once('close', () => ctx.sockets.delete(s)); });
  upReq.on('error', () => {
    attempt.status = null;
    void sendLocal(reply(503, 'upstream connect error or disconnect/reset before headers. reset reason: connection failure', 'upstream_reset_before_response_started{connection_failure}', 'router'));
  });
  upReq.on('response', async (res) => {
    // upstream refused the upgrade: an ordinary response
    attempt.status = res.statusCode ?? 502;
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    const rh = fromRaw(res.rawHeaders);
    rh.add(':status', String(attempt.status));
    rh.remove('transfer-encoding');
    rh.set('content-length', String(Buffer.concat(chunks).length));
    if (f) {
      const e = await f.onHeaders('response', rh, chunks.length === 0);
      if (e.kind === 'reply') return sendLocal(e.reply);
    }
    rec.status = attempt.status;
    rec.done = true;
    writeRawResponse(socket, attempt.status, rh, Buffer.concat(chunks));
    f?.finish();
  });
  upReq.on('upgrade', async (res, upSock: Duplex, upHead: Buffer) => {
    ctx.sockets.add(upSock);
    upSock.once('close', () => { ctx.sockets.delete(upSock); socket.destroy(); });
    socket.once('close', () => upSock.destroy());
    attempt.status = 101;
    const rh = fromRaw(res.rawHeaders);
    rh.add(':status', '101');
    if (f) {
      const e = await f.onHeaders('response', rh, false);
      if (e.kind === 'reply') { upSock.destroy(); return sendLocal(e.reply); }
    }
    rec.status = 101;
    const lines = ['HTTP/1.1 101 Switching Protocols'];
    for (const [k, v] of rh.entries) if (!k.startsWith(':')) lines.push(`${k}: ${v}`);
    socket.write(Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'));
    if (upHead.length > 0) void deliver(f, 'response', upHead, socket);
    if (head.length > 0) void deliver(f, 'request', head, upSock);
    tunnel(f, 'request', socket, upSock);
    tunnel(f, 'response', upSock, socket);
    rec.done = true;
  });
  upReq.end();
}

/** Tunnel bytes are body data of the stream: NONE passes, STREAMED is processed per chunk, BUFFERED holds. */
function tunnel(f: ExtProcFilter | undefined, dir: 'request' | 'response', from: Duplex, to: Duplex): void {
  const mode = f?.bodyMode(dir) ?? 'NONE';
  if (mode === 'NONE') { from.pipe(to); return; }
  if (mode !== 'STREAMED') { from.resume(); return; } // BUFFERED*: held until an end that never comes
  let chain = Promise.resolve();
  from.on('data', (c: Buffer) => { chain = chain.then(() => deliver(f, dir, c, to)); });
}

async function deliver(f: ExtProcFilter | undefined, dir: 'request' | 'response', chunk: Buffer, to: Duplex): Promise<void> {
  const mode = f?.bodyMode(dir) ?? 'NONE';
  if (mode === 'NONE' || !f) { to.write(chunk); return; }
  if (mode !== 'STREAMED') return;
  const r = await f.onStreamedChunk(dir, chunk, false);
  if (r.kind === 'reply') { to.destroy(); return; }
  if (r.chunk.length > 0 && !to.destroyed) to.write(r.chunk);
}

