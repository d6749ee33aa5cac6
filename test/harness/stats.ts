// Observability for tests: counters named after Envoy's ext_proc filter stats
// (source/extensions/filters/http/ext_proc/ext_proc.h ALL_EXT_PROC_FILTER_STATS) plus a few
// router ones, and one record per downstream request (like an access-log entry).
export const STAT_NAMES = [
  'streams_started',
  'stream_msgs_sent',
  'stream_msgs_received',
  'spurious_msgs_received',
  'streams_closed',
  'streams_failed',
  'failure_mode_allowed',
  'message_timeouts',
  'rejected_header_mutations',
  'override_message_timeout_received',
  'override_message_timeout_ignored',
  'clear_route_cache_ignored',
  'clear_route_cache_disabled',
  'clear_route_cache_upstream_ignored',
  'upstream_rq_retry',
  'upstream_rq_retry_limit_exceeded',
  'downstream_rq_idle_timeout',
  'downstream_rq_too_large',
] as const;
export type StatName = (typeof STAT_NAMES)[number];

export class Stats {
  readonly counters: Record<StatName, number>;
  constructor() {
    this.counters = Object.fromEntries(STAT_NAMES.map((n) => [n, 0])) as Record<StatName, number>;
  }
  inc(name: StatName, by = 1): void {
    this.counters[name] += by;
  }
  get(name: StatName): number {
    return this.counters[name];
  }
  reset(): void {
    for (const n of STAT_NAMES) this.counters[n] = 0;
  }
}

export interface AttemptRecord {
  host: string | null;
  status: number | null;
  /** 'connect_failure' | 'reset' | 'timeout' when no response headers came back */
  reset?: string;
  /** upstream placement: processor messages of this attempt's own stream */
  processor?: { sent: string[]; received: string[] };
}

export interface RequestRecord {
  method: string;
  path: string;
  /** cluster the router used (after any route-cache clear); null when none was resolved */
  cluster: string | null;
  /** cluster resolved before the processor answered */
  initial_cluster: string | null;
  route_cleared: boolean;
  attempts: AttemptRecord[];
  /** final status sent downstream */
  status: number | null;
  /** set when the response was a local reply (ImmediateResponse or Envoy-generated) */
  immediate?: { status: number; details: string; source: 'ext_proc' | 'router' | 'hcm' };
  /** response code details, like %RESPONSE_CODE_DETAILS% */
  details?: string;
  dynamic_metadata: Record<string, Record<string, unknown>>;
  processor: { sent: string[]; received: string[] };
  /** headers as forwarded to the upstream on the last attempt (after mutations) */
  upstream_request_headers?: Record<string, string | string[]>;
  upgrade?: boolean;
  done: boolean;
}

export function newRecord(method: string, path: string): RequestRecord {
  return {
    method,
    path,
    cluster: null,
    initial_cluster: null,
    route_cleared: false,
    attempts: [],
    status: null,
    dynamic_metadata: {},
    processor: { sent: [], received: [] },
    done: false,
  };
}
