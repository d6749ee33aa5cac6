import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { CountingHistogram } from './counting-histogram.js';

/** From 0.1 ms to past Envoy's default 200 ms message timeout. */
export const PHASE_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.5, 1];

export const PHASES = ['request_headers', 'request_body', 'response_headers', 'response_body', 'request_trailers', 'response_trailers'] as const;

/**
 * Why a session left its account (routing/move-reason.ts). Its account could not keep it:
 * `not_configured`, `drained`, `cooling_down`, `credential_failed`, `unhealthy`, `capability`,
 * `preference`; an operator flushed it: `flushed`; balancing re-chose it (balance/reconsider.ts):
 * `idle`, `usage`, `latency`, `errors`; the pool's stickiness is `soft-off`: `operator`.
 */
export const MOVE_REASONS = [
  'not_configured',
  'drained',
  'cooling_down',
  'credential_failed',
  'unhealthy',
  'capability',
  'flushed',
  'preference',
  'idle',
  'usage',
  'latency',
  'errors',
  'operator',
] as const;

export const REJECTION_CODES = [
  'account_domain_unavailable',
  'capability_unavailable',
  'no_accounts',
  'pool_not_found',
  'processor_unavailable',
  'processor_overloaded',
] as const;

/**
 * Series of bounded label sets start at zero, so a rate over them is 0 rather
 * than absent before the first event (dashboards and alerts read 0, not "no data").
 */
function initialise(metrics: Metrics): void {
  for (const reason of MOVE_REASONS) metrics.bindingMoves.inc({ reason }, 0);
  for (const code of REJECTION_CODES) metrics.rejections.inc({ code }, 0);
  for (const outcome of ['applied', 'refused']) metrics.configReloads.inc({ outcome }, 0);
  for (const outcome of ['placed', 'proved', 'excluded']) metrics.orphans.inc({ outcome }, 0);
  for (const kind of ['session', 'anchor']) metrics.proofs.inc({ kind }, 0);
  metrics.storeDegraded.set(0);
}

/**
 * Counts that change on every stream, kept as plain numbers: the gauges that show
 * them read them when scraped, instead of a gauge update per message. (Requests in
 * flight are the account state's own count, exported with the account gauges.)
 */
export class LiveCounts {
  openStreams = 0;
  readonly streamsByPhase = new Map<string, number>();

  /** A stream moved from one phase to the next (undefined: it opened, or it ended). */
  phaseChanged(previous: string | undefined, next: string | undefined): void {
    if (previous !== undefined) this.streamsByPhase.set(previous, (this.streamsByPhase.get(previous) ?? 0) - 1);
    if (next !== undefined) this.streamsByPhase.set(next, (this.streamsByPhase.get(next) ?? 0) + 1);
  }
}

/**
 * Every metric of one processor instance, in a registry of its own (no global
 * registry, so tests and several instances run side by side). Labels carry
 * account names, sources and outcomes only, never client values.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly requests: Counter<'pool' | 'strength' | 'source' | 'outcome' | 'account'>;
  readonly rejections: Counter<'code'>;
  readonly storedReferenceRefusals: Counter<'reason'>;
  readonly passThrough: Counter<'reason'>;
  readonly anchorConflicts: Counter<'source'>;
  readonly bindingsWritten: Counter<'kind' | 'mode'>;
  readonly bindingRaces: Counter;
  readonly upstreamResponses: Counter<'account' | 'status_class'>;
  readonly cooldowns: Counter<'account'>;
  readonly inputTokens: Counter<'account'>;
  readonly cachedTokens: Counter<'account'>;
  readonly bodyScanFailures: Counter<'reason'>;
  readonly phaseErrors: Counter<'phase'>;
  readonly invalidHeaders: Counter;
  readonly rewrites: Counter<'account' | 'rule'>;
  readonly heals: Counter<'outcome'>;
  readonly upstreamErrors: Counter<'account' | 'error_class'>;
  readonly bodyRejections: Counter<'code'>;
  /** Read by the open-stream gauges when scraped. */
  readonly live = new LiveCounts();
  readonly streams: Gauge;
  readonly orphans: Counter<'outcome'>;
  readonly proofs: Counter<'kind'>;
  readonly exclusions: Counter<'scope'>;
  readonly evictions: Counter<'kind' | 'strength' | 'partition'>;
  readonly storeSeconds: CountingHistogram<'operation'>;
  readonly storeErrors: Counter<'operation' | 'reason'>;
  readonly storeDegraded: Gauge;
  readonly nearCache: Counter<'result'>;
  readonly reconciliations: Counter<'outcome'>;
  readonly phaseSeconds: CountingHistogram<'phase'>;
  readonly streamsByPhase: Gauge<'phase'>;
  readonly bindingMoves: Counter<'pool' | 'reason' | 'account'>;
  readonly movesHeld: Counter<'pool' | 'reason' | 'account'>;
  readonly bindingsExpired: Counter<'kind'>;
  readonly configGeneration: Gauge;
  readonly configReloads: Counter<'outcome'>;
  readonly operatorActions: Counter<'action'>;
  readonly accountHeadersSeconds: Gauge<'account'>;
  readonly accountFirstEventSeconds: Gauge<'account'>;
  readonly accountErrorRate: Gauge<'account'>;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    const prefix = 'codex_affinity_';
    this.requests = new Counter({
      name: `${prefix}requests_total`,
      help: 'Inference requests routed, by strength, sticky-key source and outcome.',
      labelNames: ['pool', 'strength', 'source', 'outcome', 'account'],
      registers,
    });
    this.rejections = new Counter({ name: `${prefix}rejections_total`, help: 'Requests answered by the processor itself.', labelNames: ['code'], registers });
    this.storedReferenceRefusals = new Counter({
      name: `${prefix}stored_reference_refusals_total`,
      help: 'Stored references refused with a 404: another principal stored them (foreign), or none this principal stored (unknown).',
      labelNames: ['reason'],
      registers,
    });
    this.passThrough = new Counter({ name: `${prefix}pass_through_total`, help: 'Requests passed through untouched.', labelNames: ['reason'], registers });
    this.anchorConflicts = new Counter({
      name: `${prefix}anchor_conflicts_total`,
      help: 'Turn-state token or response id pointing at another account than the session binding (the anchor wins).',
      labelNames: ['source'],
      registers,
    });
    this.bindingsWritten = new Counter({ name: `${prefix}bindings_written_total`, help: 'Bindings written, by kind and mode.', labelNames: ['kind', 'mode'], registers });
    this.bindingRaces = new Counter({ name: `${prefix}binding_races_total`, help: 'New sessions that lost a first-writer-wins race and followed the winner.', registers });
    this.upstreamResponses = new Counter({ name: `${prefix}upstream_responses_total`, help: 'Upstream responses seen, by account and status class.', labelNames: ['account', 'status_class'], registers });
    this.cooldowns = new Counter({ name: `${prefix}cooldowns_total`, help: 'Accounts put in cooldown (429 / usage limit).', labelNames: ['account'], registers });
    this.inputTokens = new Counter({ name: `${prefix}input_tokens_total`, help: 'Input tokens reported by upstream usage.', labelNames: ['account'], registers });
    this.cachedTokens = new Counter({ name: `${prefix}cached_tokens_total`, help: 'Cached input tokens reported by upstream usage.', labelNames: ['account'], registers });
    this.bodyScanFailures = new Counter({ name: `${prefix}body_scan_failures_total`, help: 'Request bodies routed by headers only.', labelNames: ['reason'], registers });
    this.phaseErrors = new Counter({ name: `${prefix}phase_errors_total`, help: 'Processor errors answered with continue.', labelNames: ['phase'], registers });
    this.invalidHeaders = new Counter({ name: `${prefix}invalid_headers_dropped_total`, help: 'Header mutations dropped for invalid names or values.', registers });
    this.rewrites = new Counter({ name: `${prefix}rewrites_total`, help: 'Profile rewrites applied on the way to an account, by rule.', labelNames: ['account', 'rule'], registers });
    this.upstreamErrors = new Counter({ name: `${prefix}upstream_errors_total`, help: 'Classified upstream errors (error bodies and SSE error events).', labelNames: ['account', 'error_class'], registers });
    this.heals = new Counter({ name: `${prefix}heals_total`, help: 'Hard sessions whose domain was gone, healed (rebound) or not.', labelNames: ['outcome'], registers });
    this.bodyRejections = new Counter({ name: `${prefix}body_rejections_total`, help: 'Requests refused for their body (too large).', labelNames: ['code'], registers });
    const live = this.live;
    this.streams = new Gauge({
      name: `${prefix}open_streams`,
      help: 'Open ext_proc streams.',
      registers,
      collect() {
        this.set(live.openStreams);
      },
    });
    this.orphans = new Counter({
      name: `${prefix}orphans_total`,
      help: 'Hard requests whose owner the store did not know: placed, then proved by a 2xx or excluded after an unreadable-state answer.',
      labelNames: ['outcome'],
      registers,
    });
    this.proofs = new Counter({ name: `${prefix}proofs_total`, help: 'Bindings made hard (session) or learned (anchor) because a 2xx proved the account reads the state.', labelNames: ['kind'], registers });
    this.exclusions = new Counter({ name: `${prefix}exclusions_total`, help: 'Domains or accounts excluded for a session after refusing its orphaned request.', labelNames: ['scope'], registers });
    this.evictions = new Counter({
      name: `${prefix}binding_evictions_total`,
      help: 'Entries evicted from a bounded store to make room, by kind, strength and whose partition asked for the room (own or other).',
      labelNames: ['kind', 'strength', 'partition'],
      registers,
    });
    this.storeSeconds = new CountingHistogram({
      name: `${prefix}store_seconds`,
      help: 'Binding store call latency, by operation.',
      labelName: 'operation',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2],
      registers,
    });
    this.storeErrors = new Counter({ name: `${prefix}store_errors_total`, help: 'Binding store calls that failed or overran their deadline.', labelNames: ['operation', 'reason'], registers });
    this.storeDegraded = new Gauge({ name: `${prefix}store_degraded`, help: '1 while the binding store fails: routing by placement alone.', registers });
    this.nearCache = new Counter({ name: `${prefix}near_cache_lookups_total`, help: 'Binding lookups answered by the near cache in front of Redis (hit) or by Redis (miss).', labelNames: ['result'], registers });
    this.reconciliations = new Counter({
      name: `${prefix}store_reconciliations_total`,
      help: 'Sessions decided while the store was degraded, compared with what the store held once it answered (the store wins).',
      labelNames: ['outcome'],
      registers,
    });
    this.phaseSeconds = new CountingHistogram({
      name: `${prefix}phase_seconds`,
      help: 'Time the processor took to answer one ext_proc message, by phase (Envoy waits at most its message_timeout, 200 ms by default).',
      labelName: 'phase',
      buckets: PHASE_BUCKETS,
      registers,
    });
    this.streamsByPhase = new Gauge({
      name: `${prefix}open_streams_by_phase`,
      help: 'Open ext_proc streams, by the last phase they received.',
      labelNames: ['phase'],
      registers,
      collect() {
        for (const phase of PHASES) this.set({ phase }, live.streamsByPhase.get(phase) ?? 0);
      },
    });
    this.bindingMoves = new Counter({
      name: `${prefix}binding_moves_total`,
      help: 'Soft session bindings moved to another account (labelled with the pool and the account left), by why the account was left (routing/move-reason.ts).',
      labelNames: ['pool', 'reason', 'account'],
      registers,
    });
    this.movesHeld = new Counter({
      name: `${prefix}moves_held_total`,
      help: 'Requests of sessions that would have left their account for this reason, but whose state (encrypted content outside its idle window, stored objects, turn-state) keeps them there.',
      labelNames: ['pool', 'reason', 'account'],
      registers,
    });
    this.bindingsExpired = new Counter({ name: `${prefix}bindings_expired_total`, help: 'Bindings the in-memory store removed at the end of their TTL, by kind (Redis expires its own keys unseen).', labelNames: ['kind'], registers });
    this.configGeneration = new Gauge({ name: `${prefix}config_generation`, help: 'Generation of the configuration in force: 1 at start, one more per applied reload.', registers });
    this.configReloads = new Counter({ name: `${prefix}config_reloads_total`, help: 'Configuration reloads, applied or refused.', labelNames: ['outcome'], registers });
    this.operatorActions = new Counter({ name: `${prefix}operator_actions_total`, help: 'Admin API actions taken (drain, undrain, cooldown, reset, flush).', labelNames: ['action'], registers });
    this.accountHeadersSeconds = new Gauge({ name: `${prefix}account_headers_seconds`, help: 'Decaying mean time from routing to the upstream response headers, by account (this replica).', labelNames: ['account'], registers });
    this.accountFirstEventSeconds = new Gauge({ name: `${prefix}account_first_event_seconds`, help: 'Decaying mean time from routing to the first SSE event, by account (this replica).', labelNames: ['account'], registers });
    this.accountErrorRate = new Gauge({ name: `${prefix}account_error_rate`, help: 'Decaying share of answers that were server errors, by account (this replica).', labelNames: ['account'], registers });
    this.configGeneration.set(1);
    initialise(this);
    if (options.defaultMetrics) {
      collectDefaultMetrics({ register: this.registry, prefix });
      // Gauges named like counters fail `promtool check metrics`; their per-type
      // companions (nodejs_active_handles{type}, ...) carry the same numbers.
      for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
        this.registry.removeSingleMetric(`${prefix}${name}`);
      }
    }
  }
}
