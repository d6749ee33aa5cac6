// End to end: a real Prometheus (Debian's package, on loopback, 1 s scrapes) scrapes the
// processor while Codex-shaped sessions run through the Envoy stand-in to fake accounts;
// then every query of every dashboard panel must return data, and the alert rules load.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../e2e/stack.js';
import { startPrometheus, type RunningPrometheus } from '../support/prometheus.js';
import { runCodexWorkload } from '../workload/index.js';

interface Dashboard {
  panels: Array<{ title: string; targets: Array<{ expr: string; legendFormat: string }> }>;
  templating: { list: Array<{ name: string; query: string }> };
}

const dashboard = JSON.parse(readFileSync(new URL('../../deploy/observability/dashboard.json', import.meta.url), 'utf8')) as Dashboard;
const SCRAPE_SECONDS = 1;
const RATE_WINDOW = '20s';

/** The dashboard's variables as Grafana fills them ($__rate_interval: a window holding several scrapes). */
function concrete(expression: string): string {
  const timeout = dashboard.templating.list.find((variable) => variable.name === 'message_timeout')!.query;
  return expression.replaceAll('$__rate_interval', RATE_WINDOW).replaceAll('$message_timeout', timeout);
}

const E2E_TIMEOUT = 120_000;
let stack: Stack | undefined;
let prometheus: RunningPrometheus | undefined;

beforeAll(async () => {
  stack = await startStack({
    topology: 'affinity',
    accounts: [
      { name: 'acct-a', domain: 'org-a' },
      { name: 'acct-b', domain: 'org-b' },
      { name: 'acct-c', domain: 'org-c' },
    ],
    // A small store with short session bindings: evictions, expiries and orphans happen for real.
    processor: { store: { kind: 'memory', maxEntries: 40, maxEntriesPerPrincipal: 40 }, bindings: { sessionTtl: '1s' } },
  });
  prometheus = await startPrometheus({ job: 'codex-affinity', targets: [`127.0.0.1:${stack.processor!.httpPort}`], scrapeIntervalSeconds: SCRAPE_SECONDS, ruleFiles: [fileURLToPath(new URL('../../deploy/observability/alerts.yaml', import.meta.url))] });
  stack.accounts[0]!.setRateLimit({ reject: { kind: 'usage_limit_reached', retryAfterSeconds: 60, count: 1 } });
  const started = Date.now();
  // Traffic for about 8 s of scrapes: two waves of the same sessions, the second after their bindings expired.
  for (let wave = 0; Date.now() - started < 8000; wave++) {
    await runCodexWorkload({ baseUrl: stack.url, sessions: 8, turns: 3, concurrency: 2, seed: 7 + (wave % 2) });
    await new Promise((resolve) => setTimeout(resolve, 1100));
  }
  await new Promise((resolve) => setTimeout(resolve, 2500 * SCRAPE_SECONDS));
}, E2E_TIMEOUT);

afterAll(async () => {
  await prometheus?.close();
  await stack?.close();
});

describe('dashboard and alerts against a real Prometheus', () => {
  it('Prometheus scraped the processor, and the target is up', async () => {
    expect(await prometheus!.scrapes('codex-affinity', 30)).toBeGreaterThanOrEqual(5);
    const up = await prometheus!.query('up{job="codex-affinity"}');
    expect(up.map((sample) => sample.value[1])).toEqual(['1']);
  });

  for (const panel of dashboard.panels) {
    it(`panel "${panel.title}": every query returns data`, async () => {
      for (const target of panel.targets) {
        const result = await prometheus!.query(concrete(target.expr));
        expect(result.length, `${target.expr} returned nothing`).toBeGreaterThan(0);
        expect(
          result.some((sample) => Number.isFinite(Number(sample.value[1]))),
          `${target.expr} returned only NaN`,
        ).toBe(true);
      }
    });
  }

  it('Prometheus loads every alert rule and evaluates it without error; the cooling account fires no pool alert while two others serve', async () => {
    const rules = await prometheus!.rules();
    expect(rules.map((rule) => rule.name).sort()).toEqual([
      'CodexAffinityCredentialFailures',
      'CodexAffinityEncryptedContentFailures',
      'CodexAffinityPhaseLatencyNearTimeout',
      'CodexAffinityPoolAllCoolingDown',
      'CodexAffinityPoolNoUsableAccount',
      'CodexAffinityProcessorUnavailable',
      'CodexAffinityStoreDegraded',
    ]);
    for (const rule of rules) expect([rule.name, rule.health, rule.lastError ?? '']).toEqual([rule.name, 'ok', '']);
    expect(rules.filter((rule) => rule.state !== 'inactive').map((rule) => rule.name)).toEqual([]);
  });

  it('the numbers mean what the panels say: a cooldown, a cache hit ratio, hard requests, evictions and expiries', async () => {
    const cooling = await prometheus!.query('max by (account) (codex_affinity_account_cooldown_seconds) > 0');
    expect(cooling.map((sample) => sample.metric.account)).toEqual(['acct-a']);
    const ratio = await prometheus!.query(concrete(dashboard.panels.find((panel) => panel.title.startsWith('Prompt-cache'))!.targets[0]!.expr));
    expect(ratio.some((sample) => Number(sample.value[1]) > 0 && Number(sample.value[1]) <= 1)).toBe(true);
    const hard = await prometheus!.query('sum(codex_affinity_requests_total{strength="hard"})');
    expect(Number(hard[0]!.value[1])).toBeGreaterThan(0);
    const evicted = await prometheus!.query('sum(codex_affinity_binding_evictions_total)');
    expect(Number(evicted[0]!.value[1])).toBeGreaterThan(0);
    const expired = await prometheus!.query('sum(codex_affinity_bindings_expired_total{kind="session"})');
    expect(Number(expired[0]!.value[1])).toBeGreaterThan(0);
    const p99 = await prometheus!.query(concrete('histogram_quantile(0.99, sum by (le, phase) (rate(codex_affinity_phase_seconds_bucket[$__rate_interval])))'));
    expect(p99.map((sample) => sample.metric.phase).sort()).toEqual(expect.arrayContaining(['request_body', 'request_headers', 'response_headers']));
  });
}, E2E_TIMEOUT);
