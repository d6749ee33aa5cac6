// Route matching, cluster_header resolution, load balancing and the retry state, following
// envoy/config/route/v3/route_components.proto, source/common/router/config_impl.cc
// (cluster_header: the cluster name is the header's value, resolved when the route is),
// source/common/router/retry_state_impl.cc and the ring hash / round robin load balancers.
import { createHash } from 'node:crypto';
import type { ClusterConfig, ResolvedConfig, RouteConfig } from './config.js';
import { durationMs } from './config.js';
import type { Headers } from './headers.js';
import { re2FullMatch } from '../deploy/route-match.js';

// ---- route matching -----------------------------------------------------------------------
function stringMatch(value: string, m: { exact?: string; safe_regex?: { regex: string }; prefix?: string; suffix?: string; contains?: string; ignore_case?: boolean }): boolean {
  // ignore_case has no effect on safe_regex (string.proto).
  if (m.safe_regex !== undefined) return re2FullMatch(m.safe_regex.regex, value);
  const v = m.ignore_case ? value.toLowerCase() : value;
  const c = (s: string) => (m.ignore_case ? s.toLowerCase() : s);
  if (m.exact !== undefined) return v === c(m.exact);
  if (m.prefix !== undefined) return v.startsWith(c(m.prefix));
  if (m.suffix !== undefined) return v.endsWith(c(m.suffix));
  if (m.contains !== undefined) return v.includes(c(m.contains));
  return true;
}

export function routeMatches(route: RouteConfig, headers: Headers): boolean {
  const fullPath = headers.get(':path') ?? '/';
  const path = fullPath.split('?')[0]!;
  const m = route.match;
  if (m.path !== undefined && path !== m.path) return false;
  if (m.prefix !== undefined && !path.startsWith(m.prefix)) return false;
  if (m.safe_regex !== undefined && !re2FullMatch(m.safe_regex.regex, path)) return false;
  if (m.upgrade !== undefined && (headers.get('upgrade') ?? '').toLowerCase() !== m.upgrade.toLowerCase()) return false;
  for (const h of m.headers ?? []) {
    const v = headers.getAll(h.name).join(',');
    const present = headers.has(h.name);
    let ok: boolean;
    if (h.present_match !== undefined) ok = present === h.present_match;
    else if (h.exact_match !== undefined) ok = present && v === h.exact_match;
    else if (h.string_match) ok = present && stringMatch(v, h.string_match);
    else ok = present;
    if (h.invert_match) ok = !ok;
    if (!ok) return false;
  }
  return true;
}

export interface ResolvedRoute {
  route: RouteConfig;
  /** cluster name ('' when cluster_header is absent or empty) */
  cluster: string;
}

/** Resolves the first matching route and its cluster (cluster_header read now, point 16). */
export function resolveRoute(cfg: ResolvedConfig, headers: Headers): ResolvedRoute | null {
  for (const route of cfg.routes) {
    if (!routeMatches(route, headers)) continue;
    const r = route.route;
    const cluster = r.cluster ?? headers.get(r.cluster_header!) ?? '';
    return { route, cluster };
  }
  return null;
}

// ---- load balancing -----------------------------------------------------------------------
export interface Host { address: string; port: number; key: string }

function hash64(s: string): bigint {
  return createHash('sha256').update(s).digest().readBigUInt64BE(0);
}

export class ClusterLb {
  readonly hosts: Host[];
  private rr = 0;
  private ring?: Array<{ h: bigint; host: Host }>;
  constructor(readonly cfg: ClusterConfig) {
    this.hosts = cfg.endpoints.map((e) => ({ address: e.address, port: e.port, key: `${e.address}:${e.port}` }));
    if (cfg.lb_policy === 'RING_HASH' && this.hosts.length > 0) {
      // ring_hash_lb: minimum_ring_size defaults to 1024 entries spread over the hosts
      const size = cfg.ring_hash_lb_config?.minimum_ring_size ?? 1024;
      const per = Math.ceil(size / this.hosts.length);
      const ring: Array<{ h: bigint; host: Host }> = [];
      for (const host of this.hosts) for (let i = 0; i < per; i++) ring.push({ h: hash64(`${host.key}_${i}`), host });
      ring.sort((a, b) => (a.h < b.h ? -1 : a.h > b.h ? 1 : 0));
      this.ring = ring;
    }
  }

  /**
   * Picks a host. `hashKey` is the hash_policy value (RING_HASH); `attempt` is the host
   * selection retry count (RingHashLoadBalancer walks the ring by `attempt` entries).
   */
  choose(hashKey: string | undefined, attempt: number): Host | null {
    if (this.hosts.length === 0) return null;
    const policy = this.cfg.lb_policy ?? 'ROUND_ROBIN';
    if (policy === 'RANDOM') return this.hosts[Math.floor(Math.random() * this.hosts.length)]!;
    if (policy === 'RING_HASH' && this.ring) {
      if (hashKey === undefined) return this.hosts[Math.floor(Math.random() * this.hosts.length)]!;
      const h = hash64(hashKey);
      let i = this.ring.findIndex((e) => e.h >= h);
      if (i < 0) i = 0;
      return this.ring[(i + attempt) % this.ring.length]!.host;
    }
    const host = this.hosts[this.rr % this.hosts.length]!;
    this.rr++;
    return host;
  }
}

// ---- retry state (retry_state_impl.cc) ----------------------------------------------------
export class RetryState {
  private readonly on = new Set<string>();
  private readonly codes = new Set<number>();
  remaining: number;
  readonly previousHosts: boolean;
  readonly hostSelectionMaxAttempts: number;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private n = 0;

  constructor(route: RouteConfig, headers: Headers) {
    const p = route.route.retry_policy;
    for (const s of (p?.retry_on ?? '').split(',')) if (s.trim()) this.on.add(s.trim());
    // x-envoy-retry-on is OR-ed with the route's retry_on (point 23)
    for (const s of (headers.get('x-envoy-retry-on') ?? '').split(',')) if (s.trim()) this.on.add(s.trim());
    for (const c of p?.retriable_status_codes ?? []) this.codes.add(c);
    for (const s of (headers.get('x-envoy-retriable-status-codes') ?? '').split(',')) if (/^\d+$/.test(s.trim())) this.codes.add(Number(s.trim()));
    // num_retries defaults to 1; x-envoy-max-retries overrides it (point 23)
    this.remaining = p?.num_retries ?? 1;
    const mr = headers.get('x-envoy-max-retries');
    if (mr !== undefined && /^\d+$/.test(mr.trim())) this.remaining = Number(mr.trim());
    this.previousHosts = (p?.retry_host_predicate ?? []).some((x) => {
      const name = typeof x === 'string' ? x : x.name;
      return name === 'previous_hosts' || name === 'envoy.retry_host_predicates.previous_hosts';
    });
    this.hostSelectionMaxAttempts = p?.host_selection_retry_max_attempts ?? 1;
    this.baseMs = durationMs(p?.retry_back_off?.base_interval) ?? 25;
    this.maxMs = durationMs(p?.retry_back_off?.max_interval) ?? this.baseMs * 10;
  }

  get enabled(): boolean {
    return this.on.size > 0;
  }

  wouldRetryOnStatus(status: number): boolean {
    if (this.on.has('5xx') && status >= 500) return true;
    if (this.on.has('gateway-error') && (status === 502 || status === 503 || status === 504)) return true;
    if (this.on.has('retriable-4xx') && status === 409) return true;
    if (this.on.has('retriable-status-codes') && this.codes.has(status)) return true;
    return false;
  }

  wouldRetryOnReset(reason: 'connect_failure' | 'reset'): boolean {
    if (this.on.has('reset') || this.on.has('5xx') || this.on.has('gateway-error')) return true;
    return reason === 'connect_failure' && this.on.has('connect-failure');
  }

  /** Consumes one retry if allowed; counts upstream_rq_retry / _limit_exceeded. */
  take(onStat: (n: 'upstream_rq_retry' | 'upstream_rq_retry_limit_exceeded') => void): boolean {
    if (this.remaining <= 0) {
      onStat('upstream_rq_retry_limit_exceeded');
      return false;
    }
    this.remaining--;
    onStat('upstream_rq_retry');
    return true;
  }

  /** Jittered exponential back-off (JitteredExponentialBackOffStrategy). */
  backoffMs(): number {
    this.n++;
    const ceiling = Math.min(this.baseMs * 2 ** (this.n - 1), this.maxMs);
    return Math.floor(Math.random() * ceiling);
  }
}

/** Headers the router consumes and does not forward upstream. */
export const ROUTER_CONSUMED = ['x-envoy-retry-on', 'x-envoy-max-retries', 'x-envoy-retriable-status-codes', 'x-envoy-upstream-rq-timeout-ms'];
