import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import type { WireProcessingResponse } from '../../src/extproc/wire-types.js';
import { codexRequest, metadataOf, routedCluster, ScriptedStream, setHeaders, sseStream, type TestProcessor } from '../support/processor.js';

function sentBody(routed: WireProcessingResponse): Turn['sentBody'] {
  const body = routed.request_body?.response?.body_mutation?.body;
  return body ? (JSON.parse(Buffer.from(body).toString()) as Turn['sentBody']) : undefined;
}

/** A monotonic clock the test moves: latency as the processor measures it. */
export interface ElapsedClock {
  now: number;
}

export interface Turn {
  readonly account: string;
  readonly outcome: string;
  /** The decision's move_reason (dynamic metadata), when the session left its account. */
  readonly moveReason: string | undefined;
  readonly strength: string;
  readonly cluster: string | undefined;
  /** Id of the response the account answered with (undefined for an error). */
  readonly responseId: string | undefined;
  /** The body as sent upstream when the processor changed it. */
  readonly sentBody: { input?: Array<{ type?: string; encrypted_content?: string }> } | undefined;
  /** Headers the processor added to the response for the client. */
  readonly clientHeaders: ReadonlyMap<string, string>;
}

export interface UpstreamBehaviour {
  /** Usage-window percent each account reports in its response headers. */
  readonly usedPercent?: Readonly<Record<string, number>>;
  /** Milliseconds each account takes to its first SSE event (default 300). */
  readonly firstEvent?: Readonly<Record<string, number>>;
  /** Accounts that answer 500. */
  readonly failing?: ReadonlySet<string>;
}

let responses = 0;

/**
 * One request through the processor and an SSE answer from the account it was
 * routed to, which behaves as told: its usage header, its time to first event
 * (moved on the elapsed clock), or a 500.
 */
export async function turn(
  processor: TestProcessor,
  elapsed: ElapsedClock,
  request: { headers: Record<string, string>; body: object },
  behaviour: UpstreamBehaviour = {},
  /** Id of the reasoning item the answer carries (its encrypted content is learned for the domain). */
  reasoningId?: string,
): Promise<Turn> {
  const stream = new ScriptedStream(processor);
  await stream.requestHeaders(request.headers);
  const routed = await stream.requestBody(request.body);
  const metadata = metadataOf(routed);
  const account = String(metadata.account);
  elapsed.now += 50;
  const used = behaviour.usedPercent?.[account];
  const usageHeaders: Record<string, string> = used !== undefined ? { 'x-codex-primary-used-percent': String(used) } : {};
  let responseId: string | undefined;
  let clientHeaders = new Map<string, string>();
  if (behaviour.failing?.has(account)) {
    clientHeaders = setHeaders(await stream.responseHeaders({ ':status': '500', 'content-type': 'application/json', ...usageHeaders }, true));
  } else {
    const answer = await stream.responseHeaders({ ':status': '200', 'content-type': 'text/event-stream', ...usageHeaders });
    clientHeaders = setHeaders(answer);
    elapsed.now += behaviour.firstEvent?.[account] ?? 300;
    responses++;
    responseId = `resp_${responses}`;
    if (answer.mode_override?.response_body_mode === 'STREAMED') await stream.responseBody(sseStream(responseId, reasoningId ?? `rs_${responses}`), true);
  }
  await stream.end();
  return { account, outcome: String(metadata.outcome), moveReason: metadata.move_reason === undefined ? undefined : String(metadata.move_reason), strength: String(metadata.strength), cluster: routedCluster(routed), responseId, sentBody: sentBody(routed), clientHeaders };
}

/** An SDK-style soft session's request: a session key, no encrypted content, no stored state. */
export function softRequest(session: string, options: { extendedRetention?: boolean; principal?: string } = {}) {
  const request = codexRequest({ session, turn: 1, ...(options.principal ? { principal: options.principal } : {}) });
  return options.extendedRetention ? { ...request, body: { ...request.body, prompt_cache_retention: '24h' } } : request;
}

/** Samples of one metric family from the processor's /metrics text, read by a Prometheus text parser. */
export async function metricSamples(processor: TestProcessor, name: string): Promise<Array<{ labels: Record<string, string>; value: number }>> {
  const text = await processor.server.context.metrics.registry.metrics();
  const families = parsePrometheusTextFormat(text) as Array<{ name: string; metrics: Array<{ labels?: Record<string, string>; value?: string }> }>;
  const family = families.find((entry) => entry.name === name);
  return (family?.metrics ?? []).map((metric) => ({ labels: metric.labels ?? {}, value: Number(metric.value) }));
}

/** Sum of a metric's samples whose labels include `labels`. */
export async function metricSum(processor: TestProcessor, name: string, labels: Record<string, string> = {}): Promise<number> {
  const samples = await metricSamples(processor, name);
  return samples.filter((sample) => Object.entries(labels).every(([key, value]) => sample.labels[key] === value)).reduce((sum, sample) => sum + sample.value, 0);
}
