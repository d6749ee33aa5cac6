// The /metrics exposition: valid for Prometheus (promtool check metrics), latency per phase
// measured, account and pool state present, and no client value (session id, credential,
// path with ids) in any label.
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { afterEach, describe, expect, it } from 'vitest';
import { Metrics, PHASE_BUCKETS } from '../../src/metrics/metrics.js';
import { codexRequest, ScriptedStream, startTestProcessor, type TestProcessor } from '../support/processor.js';
import { promtool, type MetricFamily } from '../support/promtool.js';

let processor: TestProcessor | undefined;
afterEach(async () => {
  await processor?.close();
  processor = undefined;
});

async function scrape(target: TestProcessor): Promise<{ text: string; families: MetricFamily[] }> {
  const text = await (await fetch(`http://127.0.0.1:${target.server.httpPort}/metrics`)).text();
  return { text, families: parsePrometheusTextFormat(text) as MetricFamily[] };
}

const family = (families: MetricFamily[], name: string) => families.find((entry) => entry.name === name);

async function turn(target: TestProcessor, session: string, principal: string, status = '200', extra: Record<string, string> = {}): Promise<void> {
  const request = codexRequest({ session, turn: 1, principal });
  const stream = new ScriptedStream(target);
  await stream.requestHeaders(request.headers);
  await stream.requestBody(request.body);
  await stream.responseHeaders({ ':status': status, 'content-type': 'application/json', ...extra });
  await stream.end();
}

describe('metrics exposition', () => {
  it('passes promtool check metrics after real traffic, with every phase timed and no client value in a label', async () => {
    processor = await startTestProcessor();
    const secrets = ['sess-SECRET-4b1f', 'sk-CLIENT-KEY-77aa'];
    await turn(processor, secrets[0]!, secrets[1]!);
    await turn(processor, 'sess-two', 'other-client', '429', { 'retry-after': '30' });
    const { text, families } = await scrape(processor);
    const checked = promtool(['check', 'metrics'], text);
    expect(checked.output).toBe('');
    expect(checked.status).toBe(0);
    for (const secret of secrets) expect(text).not.toContain(secret);
    expect(text).not.toMatch(/sess-two/);

    expect(family(families, 'codex_affinity_phase_seconds')!.type).toBe('HISTOGRAM');
    // The text parser drops histogram labels: read the count series from the text itself.
    const timed = (phase: string) => Number(text.match(new RegExp(`^codex_affinity_phase_seconds_count\\{phase="${phase}"\\} (\\d+)$`, 'm'))?.[1]);
    expect(timed('request_headers')).toBe(2);
    expect(timed('request_body')).toBe(2);
    expect(timed('response_headers')).toBe(2);

    const cooldown = family(families, 'codex_affinity_account_cooldown_seconds')!;
    const cooling = cooldown.metrics.filter((metric) => Number(metric.value) > 0);
    expect(cooling).toHaveLength(1);
    expect(Number(cooling[0]!.value)).toBeCloseTo(30, 0);
    expect(cooldown.metrics.map((metric) => metric.labels!.account).sort()).toEqual(['acct-a', 'acct-b', 'acct-c']);
    const usable = family(families, 'codex_affinity_pool_usable_accounts')!.metrics;
    expect(usable).toEqual([{ labels: { pool: 'default' }, value: '2' }]);
    expect(family(families, 'codex_affinity_pool_cooling_accounts')!.metrics[0]!.value).toBe('1');
    const info = family(families, 'codex_affinity_account_info')!.metrics.map((metric) => metric.labels);
    expect(info.filter((labels) => labels!.state === 'cooling_down')).toHaveLength(1);
  });

  it('no stream is left counted in a phase, open or in flight once streams end', async () => {
    processor = await startTestProcessor();
    const request = codexRequest({ session: 's-open', turn: 1 });
    const open = new ScriptedStream(processor);
    await open.requestHeaders(request.headers);
    let byPhase = family((await scrape(processor)).families, 'codex_affinity_open_streams_by_phase')!.metrics;
    expect(byPhase.find((metric) => metric.labels!.phase === 'request_headers')!.value).toBe('1');
    await open.requestBody(request.body);
    byPhase = family((await scrape(processor)).families, 'codex_affinity_open_streams_by_phase')!.metrics;
    expect(byPhase.find((metric) => metric.labels!.phase === 'request_headers')!.value).toBe('0');
    expect(byPhase.find((metric) => metric.labels!.phase === 'request_body')!.value).toBe('1');
    // Routed and not finished: counted in flight on its account, and as one open stream.
    const routed = await scrape(processor);
    // One series per configured account: the routed one counts its request, the others none.
    const inFlight = family(routed.families, 'codex_affinity_in_flight_requests')!.metrics;
    expect(inFlight.map((metric) => metric.labels!.account).sort()).toEqual(['acct-a', 'acct-b', 'acct-c']);
    expect(inFlight.map((metric) => metric.value).sort()).toEqual(['0', '0', '1']);
    expect(family(routed.families, 'codex_affinity_open_streams')!.metrics[0]!.value).toBe('1');
    open.cancel();
    await expect.poll(async () => family((await scrape(processor!)).families, 'codex_affinity_open_streams_by_phase')!.metrics.every((metric) => metric.value === '0')).toBe(true);
    const after = await scrape(processor);
    expect(family(after.families, 'codex_affinity_in_flight_requests')!.metrics.map((metric) => metric.value)).toEqual(['0', '0', '0']);
    expect(family(after.families, 'codex_affinity_open_streams')!.metrics[0]!.value).toBe('0');
  });

  it('with the Node process metrics serve adds, the exposition still passes promtool check metrics', async () => {
    const metrics = new Metrics({ defaultMetrics: true });
    const text = await metrics.registry.metrics();
    expect(text).toContain('codex_affinity_nodejs_active_handles{');
    const checked = promtool(['check', 'metrics'], text);
    expect(checked.output).toBe('');
    expect(checked.status).toBe(0);
  });

  it('phase buckets resolve 0.1 ms and reach past the 200 ms message timeout', () => {
    expect(PHASE_BUCKETS[0]).toBe(0.0001);
    expect(PHASE_BUCKETS).toContain(0.2);
    expect(PHASE_BUCKETS.at(-1)).toBeGreaterThan(0.2);
  });
});
