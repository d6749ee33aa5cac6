// The chart ships deploy/observability/ through copies under files/ (helm reads nothing
// outside the chart): the copies must be equal, and the chart rendered by the real helm
// (examples/observability.yaml) must hold exactly the rule groups and the dashboard, with
// a ServiceMonitor that reaches the processor's /metrics.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { helm } from '../deploy/kube-tools.js';

type Json = any; // rendered Kubernetes objects, walked freely in the assertions
const repo = (path: string) => readFileSync(fileURLToPath(new URL(`../../${path}`, import.meta.url)), 'utf8');

function renderChart(args: string[]): Json[] {
  const result = helm(['template', 'codex-affinity', 'charts/codex-affinity', '--namespace', 'ai', ...args]);
  expect(result.status, result.stderr).toBe(0);
  return parseAllDocuments(result.stdout).map((document) => document.toJS()).filter((object) => object !== null);
}

const RENDERED = renderChart(['-f', 'charts/codex-affinity/examples/observability.yaml']);
const ofKind = (kind: string): Json[] => RENDERED.filter((object) => object.kind === kind);

describe('chart observability files', () => {
  it('files/ holds exact copies of deploy/observability/', () => {
    for (const file of ['alerts.yaml', 'dashboard.json']) {
      expect(repo(`charts/codex-affinity/files/${file}`), file).toBe(repo(`deploy/observability/${file}`));
    }
  });

  it('off by default: the default values render none of them', () => {
    const kinds = renderChart([]).map((object) => object.kind);
    expect(kinds).not.toContain('ServiceMonitor');
    expect(kinds).not.toContain('PrometheusRule');
  });

  it('the PrometheusRule carries the rule groups, unchanged', () => {
    const [rule] = ofKind('PrometheusRule');
    expect(rule.metadata.labels.release).toBe('kube-prometheus-stack');
    expect(rule.spec).toEqual(parse(repo('deploy/observability/alerts.yaml')));
  });

  it('the dashboard ConfigMap carries the dashboard JSON, unchanged, with the sidecar’s label', () => {
    const dashboard = ofKind('ConfigMap').find((map) => map.data?.['codex-affinity.json'] !== undefined);
    expect(dashboard.metadata.labels.grafana_dashboard).toBe('1');
    expect(JSON.parse(dashboard.data['codex-affinity.json'])).toEqual(JSON.parse(repo('deploy/observability/dashboard.json')));
  });

  it('the ServiceMonitor selects the metrics Service, on a port of it that targets the processor’s admin port, path /metrics', () => {
    const [monitor] = ofKind('ServiceMonitor');
    const selected = ofKind('Service').filter((service) => Object.entries(monitor.spec.selector.matchLabels).every(([key, value]) => service.metadata.labels?.[key] === value));
    expect(selected).toHaveLength(1);
    const [endpoint] = monitor.spec.endpoints;
    expect(endpoint.path).toBe('/metrics');
    const port = selected[0].spec.ports.find((entry: Json) => entry.name === endpoint.port);
    expect(port, `the Service has no port named ${endpoint.port}`).toBeDefined();
    const processor = ofKind('Deployment')[0].spec.template.spec.containers.find((container: Json) => container.name === 'codex-affinity');
    const target = processor.ports.find((entry: Json) => entry.name === port.targetPort);
    expect(target, `the processor has no port named ${port.targetPort}`).toBeDefined();
    const config = parse(ofKind('ConfigMap').find((map) => map.data?.['config.yaml'] !== undefined).data['config.yaml']);
    expect(target.containerPort).toBe(config.http.port);
  });
});
