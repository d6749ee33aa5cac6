// The HTTP/1.1 front that plays Envoy: connection manager (header normalisation, x-envoy
// stripping, buffer limit, local replies), the ext_proc filter (downstream or upstream
// placement) and the router (route/cluster_header, retries, load balancing).
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { parseConfig, type EnvoyConfigInput, type ResolvedConfig, type RouteConfig } from './config.js';
import { ExtProcFilter, type LocalReply, type StepResult } from './filter.js';
import { HOP_BY_HOP, Headers, fromRaw } from './headers.js';
import { ClusterLb, ROUTER_CONSUMED, RetryState, resolveRoute, type Host, type ResolvedRoute } from './router.js';
import { Stats, newRecord, type AttemptRecord, type RequestRecord } from './stats.js';
import { responseHasNoBody, sendUpstream } from './upstream-call.js';
import { handleUpgrade } from './upgrade.js';
import { ClientPool } from './ext-proc-client.js';
import { durationMs } from './config.js';

export interface Envoy {
  url: string;
  port: number;
  /** one record per downstream request, in arrival order */
  log: RequestRecord[];
  /** Envoy-like counters (ext_proc filter stats + a few router/HCM ones) */
  stats: Stats;
  config: ResolvedConfig;
  close(): Promise<void>;
}

export interface Ctx {
  cfg: ResolvedConfig;
  stats: Stats;
  clusters: Map<string, ClusterLb>;
  sockets: Set<Duplex>;
  timers: Set<NodeJS.Timeout>;
  pool: ClientPool;
}

/** HCM request header normalisation (points 9, 11): pseudo-headers, Host -> :authority. */
export function downstreamRequestHeaders(req: http.IncomingMessage, isUpgrade: boolean): Headers {
  const raw = fromRaw(req.rawHeaders);
  const h = new Headers();
  h.add(':authority', raw.get('host') ?? '');
  h.add(':path', req.url ?? '/');
  h.add(':method', req.method ?? 'GET');
  h.add(':scheme', 'http');
  for (const [k, v] of raw.entries) {
    if (k === 'host') continue;
    if (HOP_BY_HOP.includes(k) && !(isUpgrade && (k === 'upgrade' || k === 'connection'))) continue;
    // ConnectionManagerUtility::cleanInternalHeaders: client-sent x-envoy-* control headers go.
    if (k.startsWith('x-envoy-')) continue;
    h.add(k, v);
  }
  if (!h.has('x-forwarded-proto')) h.add('x-forwarded-proto', 'http');
  if (!h.has('x-request-id')) h.add('x-request-id', randomUUID());
  return h;
}

export function perRouteConfig(route: RouteConfig | undefined) {
  const t = route?.typed_per_filter_config;
  return t?.ext_proc ?? t?.['envoy.filters.http.ext_proc'];
}

export function makeFilter(ctx: Ctx, rec: RequestRecord, route: RouteConfig | undefined, log: { sent: string[]; received: string[] }, isUpstream: boolean): ExtProcFilter {
  return new ExtProcFilter({
    config: ctx.cfg.ext_proc!,
    stats: ctx.stats,
    record: rec,
    log,
    perRoute: perRouteConfig(route),
    isUpstream,
    bufferLimit: ctx.cfg.per_connection_buffer_limit_bytes,
    pool: ctx.pool,
  });
}

/** Local reply (Utility::sendLocalReply): text/plain body, content-length. */
export function localReplyHeaders(r: LocalReply): Headers {
  const h = r.headers ? r.headers.clone() : new Headers();
  h.set(':status', String(r.status));
  if (r.body.length > 0) {
    h.set('content-length', String(r.body.length));
    if (!h.has('content-type')) h.set('content-type', 'text/plain');
  } else h.set('content-length', '0');
  return h;
}

function writeResponse(res: http.ServerResponse, headers: Headers, body?: Buffer): void {
  const status = Number(headers.get(':status') ?? 500);
  res.writeHead(status, headers.toFlat() as unknown as http.OutgoingHttpHeaders);
  if (body) res.end(body);
}

function sendLocal(res: http.ServerResponse, rec: RequestRecord, reply: LocalReply): void {
  rec.immediate = { status: reply.status, details: reply.details, source: reply.source };
  rec.details = reply.details;
  rec.status = reply.status;
  rec.done = true;
  if (!res.headersSent) writeResponse(res, localReplyHeaders(reply), reply.body);
  else res.destroy();
}

interface Collected { body: Buffer; chunks: Buffer[]; trailers: Headers }
export function collect(stream: http.IncomingMessage): Promise<Collected> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve({ body: Buffer.concat(chunks), chunks, trailers: fromRaw(stream.rawTrailers) }));
    stream.on('error', reject);
    stream.on('aborted', () => reject(new Error('aborted')));
  });
}

const localReply = (status: number, body: string, details: string, source: LocalReply['source'] = 'router'): LocalReply => ({
  status, body: Buffer.from(body), details, source,
});

type RouterOutcome =
  | { kind: 'upstream'; res: http.IncomingMessage; headers: Headers; filter?: ExtProcFilter }
  | { kind: 'local'; reply: LocalReply; processed: boolean };

/** The router filter: cluster lookup, host selection, retries (points 16, 21-24). */
async function routeRequest(ctx: Ctx, rec: RequestRecord, rr: ResolvedRoute | null, headers: Headers, body: Buffer | null): Promise<RouterOutcome> {
  if (!rr) return { kind: 'local', reply: localReply(404, '', 'route_not_found'), processed: false };
  const lb = ctx.clusters.get(rr.cluster);
  rec.cluster = rr.cluster || null;
  if (!lb) return { kind: 'local', reply: localReply(ctx.cfg.cluster_not_found_response_code, '', 'cluster_not_found'), processed: false };
  const retry = new RetryState(rr.route, headers);
  const up = headers.clone();
  for (const n of ROUTER_CONSUMED) up.remove(n);
  rec.upstream_request_headers = up.toObject();
  const hashName = rr.route.route.hash_policy?.[0]?.header.header_name;
  const hashKey = hashName ? headers.get(hashName) : undefined;
  const tried = new Set<string>();
  // Envoy's route timeout: 15 s by default, and 0s turns it off (route_components.proto).
  const configuredTimeout = durationMs(rr.route.route.timeout) ?? 15_000;
  const timeoutMs = configuredTimeout === 0 ? 2_147_483_647 : configuredTimeout;
  const upstreamPlacement = ctx.cfg.ext_proc?.filter_placement === 'upstream';
  for (;;) {
    // retry_host_predicate previous_hosts: re-pick (up to host_selection_retry_max_attempts)
    let host: Host | null = lb.choose(hashKey, 0);
    for (let i = 1; retry.previousHosts && host && tried.has(host.key) && i <= retry.hostSelectionMaxAttempts; i++) host = lb.choose(hashKey, i);
    if (!host) return { kind: 'local', reply: localReply(503, 'no healthy upstream', 'no_healthy_upstream'), processed: false };
    tried.add(host.key);
    const attempt: AttemptRecord = { host: host.key, status: null };
    rec.attempts.push(attempt);
    let status: number;
    let outcome: RouterOutcome;
    if (upstreamPlacement) {
      // point 24: an upstream ext_proc runs once per attempt, on its own stream
      attempt.processor = { sent: [], received: [] };
      const r = await upstreamAttempt(ctx, rec, rr.route, attempt, host, up.clone(), body, timeoutMs);
      if (r.kind === 'reset') {
        attempt.reset = r.reason;
        if (retry.wouldRetryOnReset(r.reason === 'timeout' ? 'reset' : r.reason) && retry.take((n) => ctx.stats.inc(n))) { await sleep(ctx, retry.backoffMs()); continue; }
        return { kind: 'local', reply: resetReply(r.reason), processed: false };
      }
      outcome = r.outcome;
      status = r.status;
    } else {
      const r = await sendUpstream(host, up, body, timeoutMs, (s) => track(ctx, s));
      if (r.kind === 'reset') {
        attempt.reset = r.reason;
        if (r.reason !== 'timeout' && retry.wouldRetryOnReset(r.reason) && retry.take((n) => ctx.stats.inc(n))) { await sleep(ctx, retry.backoffMs()); continue; }
        return { kind: 'local', reply: resetReply(r.reason), processed: false };
      }
      outcome = { kind: 'upstream', res: r.res, headers: r.headers };
      status = r.res.statusCode ?? 502;
    }
    attempt.status = status;
    if (retry.wouldRetryOnStatus(status) && retry.take((n) => ctx.stats.inc(n))) {
      if (outcome.kind === 'upstream') { outcome.res.resume(); outcome.filter?.finish(); }
      await sleep(ctx, retry.backoffMs());
      continue;
    }
    return outcome;
  }
}

function resetReply(reason: 'connect_failure' | 'reset' | 'timeout'): LocalReply {
  if (reason === 'timeout') return localReply(504, 'upstream request timeout', 'upstream_response_timeout');
  const why = reason === 'connect_failure' ? 'connection failure' : 'connection termination';
  const d = reason === 'connect_failure' ? 'connection_failure' : 'connection_termination';
  return localReply(503, `upstream connect error or disconnect/reset before headers. reset reason: ${why}`, `upstream_reset_before_response_started{${d}}`);
}

/** One attempt through an upstream-placed ext_proc filter. */
async function upstreamAttempt(ctx: Ctx, rec: RequestRecord, route: RouteConfig, attempt: AttemptRecord, host: Host, headers: Headers, body: Buffer | null, timeoutMs: number) {
  const f = makeFilter(ctx, rec, route, attempt.processor!, true);
  const asLocal = (r: StepResult & { kind: 'reply' }) => {
    f.finish();
    return { kind: 'ok' as const, status: r.reply.status, outcome: { kind: 'local' as const, reply: r.reply, processed: true } };
  };
  const hasBody = body !== null && body.length > 0;
  const h = await f.onHeaders('request', headers, !hasBody);
  if (h.kind === 'reply') return asLocal(h);
  let b = h.body ?? body;
  if (hasBody && !h.body) {
    const r = await processRequestBody(f, body!, []);
    if (r.kind === 'reply') return asLocal(r);
    b = r.body;
  }
  const r = await sendUpstream(host, headers, b, timeoutMs, (s) => track(ctx, s));
  if (r.kind === 'reset') { f.finish(); return r; }
  const rh = r.headers;
  const hr = await f.onHeaders('response', rh, responseHasNoBody(headers.get(':method') ?? 'GET', r.res));
  if (hr.kind === 'reply') { r.res.resume(); return asLocal(hr); }
  return { kind: 'ok' as const, status: Number(rh.get(':status')), outcome: { kind: 'upstream' as const, res: r.res, headers: rh, filter: f, replacedBody: hr.body } };
}

async function processRequestBody(f: ExtProcFilter, body: Buffer, chunks: Buffer[], trailers?: Headers): Promise<StepResult & { body: Buffer }> {
  const hasTrailers = !!trailers && trailers.entries.length > 0;
  const mode = f.bodyMode('request');
  if (mode === 'BUFFERED' || mode === 'BUFFERED_PARTIAL') return f.onBufferedBody('request', body, hasTrailers);
  if (mode === 'STREAMED') {
    const parts = chunks.length > 0 ? chunks : [body];
    const out: Buffer[] = [];
    for (let i = 0; i < parts.length; i++) {
      const r = await f.onStreamedChunk('request', parts[i]!, i === parts.length - 1 && !hasTrailers);
      if (r.kind === 'reply') return { ...r, body };
      out.push(r.chunk);
    }
    return { kind: 'continue', body: Buffer.concat(out) };
  }
  return { kind: 'continue', body };
}

function track(ctx: Ctx, s: Duplex): void {
  ctx.sockets.add(s);
  s.once('close', () => ctx.sockets.delete(s));
}
function sleep(ctx: Ctx, ms: number): Promise<void> {
  return new Promise((r) => {
    const t = setTimeout(() => { ctx.timers.delete(t); r(); }, ms);
    ctx.timers.add(t);
  });
}

/** The encode path: response headers / body / trailers through the filter, then downstream. */
async function respond(res: http.ServerResponse, rec: RequestRecord, method: string, f: ExtProcFilter | undefined, out: RouterOutcome): Promise<void> {
  let headers: Headers;
  let source: http.IncomingMessage | Buffer;
  let eos: boolean;
  let replaced: Buffer | undefined;
  if (out.kind === 'local') {
    if (!out.processed) rec.immediate = { status: out.reply.status, details: out.reply.details, source: out.reply.source };
    rec.details = out.reply.details;
    headers = localReplyHeaders(out.reply);
    source = out.reply.body;
    eos = out.reply.body.length === 0;
    if (out.processed) return sendLocal(res, rec, out.reply);
  } else {
    headers = out.headers;
    source = out.res;
    eos = responseHasNoBody(method, out.res);
    if (out.filter) { f = out.filter; replaced = (out as any).replacedBody; }
  }
  const upstreamFilterDone = out.kind === 'upstream' && !!out.filter;
  if (f && !upstreamFilterDone) {
    const r = await f.onHeaders('response', headers, eos);
    if (r.kind === 'reply') { if (!Buffer.isBuffer(source)) source.resume(); return sendLocal(res, rec, r.reply); }
    replaced = r.body;
  }
  const cp = f?.checkpoint();
  if (cp && cp.kind === 'reply') return sendLocal(res, rec, cp.reply);
  rec.status = Number(headers.get(':status'));
  const mode = f?.bodyMode('response') ?? 'NONE';
  if (replaced) {
    if (!Buffer.isBuffer(source)) source.resume();
    rec.done = true;
    return writeResponse(res, headers, replaced);
  }
  if (eos) {
    if (!Buffer.isBuffer(source)) source.resume();
    rec.done = true;
    return writeResponse(res, headers, Buffer.alloc(0));
  }
  if (mode === 'BUFFERED' || mode === 'BUFFERED_PARTIAL') {
    const c = Buffer.isBuffer(source) ? { body: source, trailers: new Headers() } : await collect(source);
    const r = await f!.onBufferedBody('response', c.body, c.trailers.entries.length > 0);
    if (r.kind === 'reply') return sendLocal(res, rec, r.reply);
    const tr = await f!.onTrailers('response', c.trailers);
    if (tr.kind === 'reply') return sendLocal(res, rec, tr.reply);
    rec.done = true;
    return writeResponse(res, headers, r.body);
  }
  // NONE or STREAMED: headers go downstream now, then each chunk (STREAMED: processed in order)
  writeResponse(res, headers);
  const chunks: AsyncIterable<Buffer> = Buffer.isBuffer(source) ? [source] as unknown as AsyncIterable<Buffer> : source;
  for await (const chunk of chunks) {
    if (mode === 'STREAMED' && f) {
      const r = await f.onStreamedChunk('response', chunk, false);
      if (r.kind === 'reply') { rec.immediate = { status: r.reply.status, details: r.reply.details, source: 'ext_proc' }; res.destroy(); return; }
      if (r.chunk.length > 0) res.write(r.chunk);
    } else res.write(chunk);
  }
  if (mode === 'STREAMED' && f) {
    // the codec signals end of stream separately: Envoy sends an empty chunk with end_of_stream
    const r = await f.onStreamedChunk('response', Buffer.alloc(0), true);
    if (r.kind === 'reply') { res.destroy(); return; }
    if (r.chunk.length > 0) res.write(r.chunk);
  }
  if (!Buffer.isBuffer(source) && source.rawTrailers.length > 0 && f) {
    const t = fromRaw(source.rawTrailers);
    await f.onTrailers('response', t);
    res.addTrailers(t.toFlat().reduce<Array<[string, string]>>((a, v, i, arr) => (i % 2 === 0 ? [...a, [v, arr[i + 1]!]] : a), []));
  }
  rec.done = true;
  res.end();
}

async function handleRequest(ctx: Ctx, log: RequestRecord[], req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const method = req.method ?? 'GET';
  const rec = newRecord(method, req.url ?? '/');
  log.push(rec);
  const headers = downstreamRequestHeaders(req, false);
  const cl = req.headers['content-length'];
  const endOfStream = req.headers['transfer-encoding'] === undefined && (cl === undefined || cl === '0');
  const bodyP = collect(req);
  bodyP.catch(() => {});
  let rr = resolveRoute(ctx.cfg, headers);
  rec.initial_cluster = rr ? rr.cluster : null;
  const ext = ctx.cfg.ext_proc;
  const f = ext && ext.filter_placement === 'downstream' ? makeFilter(ctx, rec, rr?.route, rec.processor, false) : undefined;
  try {
    let body: Buffer | null = null;
    if (f) {
      const h = await f.onHeaders('request', headers, endOfStream);
      if (h.kind === 'reply') return sendLocal(res, rec, h.reply);
      if (!endOfStream) {
        const c = await bodyP;
        // point 7: a BUFFERED body over the buffer limit gets 413 from Envoy
        if (f.bodyMode('request') === 'BUFFERED' && c.body.length > ctx.cfg.per_connection_buffer_limit_bytes) {
          ctx.stats.inc('downstream_rq_too_large');
          return sendLocal(res, rec, localReply(413, 'Payload Too Large', 'request_payload_too_large', 'hcm'));
        }
        if (h.body) body = h.body;
        else {
          const r = await processRequestBody(f, c.body, c.chunks, c.trailers);
          if (r.kind === 'reply') return sendLocal(res, rec, r.reply);
          body = r.body;
          const t = await f.onTrailers('request', c.trailers);
          if (t.kind === 'reply') return sendLocal(res, rec, t.reply);
        }
      } else if (h.body) body = h.body;
      const cp = f.checkpoint();
      if (cp?.kind === 'reply') return sendLocal(res, rec, cp.reply);
      if (f.routeCacheCleared) {
        rr = resolveRoute(ctx.cfg, headers);
        rec.route_cleared = true;
      }
    } else if (!endOfStream) body = (await bodyP).body;
    const out = await routeRequest(ctx, rec, rr, headers, body);
    try {
      await respond(res, rec, method, f, out);
    } finally {
      if (out.kind === 'upstream') out.filter?.finish();
    }
  } catch (err) {
    if (!res.headersSent) sendLocal(res, rec, localReply(500, String(err), 'harness_error', 'hcm'));
    else res.destroy();
  } finally {
    rec.done = true;
    f?.finish();
  }
}

export async function startEnvoy(input: EnvoyConfigInput | string): Promise<Envoy> {
  const cfg = parseConfig(input);
  const stats = new Stats();
  const log: RequestRecord[] = [];
  const ctx: Ctx = { cfg, stats, clusters: new Map(cfg.clusters.map((c) => [c.name, new ClusterLb(c)])), sockets: new Set(), timers: new Set(), pool: new ClientPool() };
  const server = http.createServer((req, res) => void handleRequest(ctx, log, req, res));
  server.on('upgrade', (req, socket: Duplex, head: Buffer) => {
    track(ctx, socket);
    void handleUpgrade(ctx, log, req, socket, head);
  });
  server.on('connection', (s) => track(ctx, s));
  await new Promise<void>((resolve) => server.listen(cfg.port, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    log,
    stats,
    config: cfg,
    async close() {
      for (const t of ctx.timers) clearTimeout(t);
      for (const s of ctx.sockets) s.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      ctx.pool.close();
    },
  };
}
