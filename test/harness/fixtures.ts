// Shared setup for the harness's own tests: a scripted processor, loopback upstreams (one
// cluster per upstream by default, routed by the `x-cluster` header) and the harness.
import http from 'node:http';
import { startEnvoy, type Envoy } from './envoy.js';
import type { EnvoyConfigInput } from './config.js';
import { startScriptedProcessor, type Script, type ScriptedProcessor } from './scripted-processor.js';
import { startTestUpstream, type TestUpstream, type TestUpstreamOptions } from './test-upstream.js';

type ExtProcInput = NonNullable<EnvoyConfigInput['ext_proc']>;
type RouteInput = EnvoyConfigInput['route_config']['routes'][number];
type ClusterInput = EnvoyConfigInput['clusters'][number];

export interface StackOptions {
  script?: Script;
  /** cluster name -> upstream options; each becomes a one-host cluster */
  upstreams?: Record<string, TestUpstreamOptions>;
  /** ext_proc settings merged over the defaults; null = no ext_proc filter */
  ext_proc?: Partial<ExtProcInput> | null;
  routes?: RouteInput[];
  clusters?: (ups: Record<string, TestUpstream>) => ClusterInput[];
  extra?: Partial<EnvoyConfigInput>;
}
export interface Stack {
  envoy: Envoy;
  proc: ScriptedProcessor;
  ups: Record<string, TestUpstream>;
}

const open: Array<() => Promise<void>> = [];
export async function closeAll(): Promise<void> {
  while (open.length) await open.pop()!().catch(() => {});
}

export async function startStack(o: StackOptions = {}): Promise<Stack> {
  const proc = await startScriptedProcessor(o.script ?? {});
  open.push(() => proc.close());
  const ups: Record<string, TestUpstream> = {};
  for (const [name, uo] of Object.entries(o.upstreams ?? { 'acct-a': {}, 'acct-b': {} })) {
    ups[name] = await startTestUpstream({ name, ...uo });
    open.push(() => ups[name]!.close());
  }
  const clusters = o.clusters?.(ups) ?? Object.entries(ups).map(([name, u]) => ({ name, endpoints: [{ address: '127.0.0.1', port: u.port }] }));
  const cfg: EnvoyConfigInput = {
    ...(o.ext_proc === null
      ? {}
      : {
          ext_proc: {
            grpc_service: { target: proc.target },
            processing_mode: { request_header_mode: 'SEND', response_header_mode: 'SEND', request_body_mode: 'BUFFERED', response_body_mode: 'NONE' },
            message_timeout_ms: 200,
            ...o.ext_proc,
          },
        }),
    route_config: { routes: o.routes ?? [{ match: { prefix: '/' }, route: { cluster_header: 'x-cluster' } }] },
    clusters,
    ...o.extra,
  };
  const envoy = await startEnvoy(cfg);
  open.push(() => envoy.close());
  return { envoy, proc, ups };
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
}
/** Plain HTTP/1.1 client (no agent, no extra headers), bounded in time. */
export function request(url: string, o: { method?: string; path?: string; headers?: Record<string, string>; body?: string | Buffer; timeoutMs?: number } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const body = o.body === undefined ? undefined : Buffer.from(o.body);
    const req = http.request({
      host: u.hostname,
      port: u.port,
      method: o.method ?? (body ? 'POST' : 'GET'),
      path: o.path ?? '/',
      agent: false,
      headers: { ...(body ? { 'content-length': String(body.length) } : {}), ...o.headers },
    });
    const t = setTimeout(() => { req.destroy(); reject(new Error('client timeout')); }, o.timeoutMs ?? 5000);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => { clearTimeout(t); resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks).toString('latin1') }); });
      res.on('error', reject);
    });
    req.on('error', (e) => { clearTimeout(t); reject(e); });
    req.end(body);
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
