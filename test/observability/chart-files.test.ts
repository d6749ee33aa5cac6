// The chart ships deploy/observability/ through copies under files/ (helm reads nothing
// outside the chart): the copies must be equal, and the templates must embed them so that
// the rendered objects hold exactly the rule groups and the dashboard. helm is not on the
// test machines: the templates' embedding (nindent under a key) is reproduced here.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const repo = (path: string) => readFileSync(fileURLToPath(new URL(`../../${path}`, import.meta.url)), 'utf8');
const nindent = (text: string, spaces: number) => `\n${text.split('\n').map((line) => (line === '' ? line : ' '.repeat(spaces) + line)).join('\n')}`;
/** A template's body inside its {{- if ... }} ... {{- end }}, with the .Files.Get action replaced by `embedded`. */
function render(template: string, embedded: Record<string, string>): unknown {
  let body = repo(`charts/codex-affinity/templates/${template}`).replace(/^\{\{- if [^}]+\}\}\n/, '').replace(/\{\{- end \}\}\n?$/, '');
  const files: Array<{ file: string; spaces: number }> = [];
  body = body.replace(/\{\{- \.Files\.Get "([^"]+)" \| nindent (\d+) \}\}/g, (_, file: string, spaces: string) => `@@FILE${files.push({ file, spaces: Number(spaces) }) - 1}@@`);
  // Labels and names: the chart's helpers, replaced by fixed text (their own tests are test/deploy/).
  body = body.replace(/^\s*\{\{-.*\}\}\s*$/gm, '').replace(/\{\{[^}]+\}\}/g, 'x');
  // "{{-" trims the whitespace before it, up to the end of the previous key.
  body = body.replace(/\s*@@FILE(\d+)@@/g, (_, index: string) => nindent(embedded[files[Number(index)]!.file]!, files[Number(index)]!.spaces));
  return parse(body);
}

describe('chart observability files', () => {
  it('files/ holds exact copies of deploy/observability/', () => {
    for (const file of ['alerts.yaml', 'dashboard.json']) {
      expect(repo(`charts/codex-affinity/files/${file}`), file).toBe(repo(`deploy/observability/${file}`));
    }
  });

  it('the PrometheusRule carries the rule groups, unchanged', () => {
    const alerts = repo('charts/codex-affinity/files/alerts.yaml');
    const rendered = render('prometheusrule.yaml', { 'files/alerts.yaml': alerts }) as { kind: string; spec: unknown };
    expect(rendered.kind).toBe('PrometheusRule');
    expect(rendered.spec).toEqual(parse(alerts));
  });

  it('the dashboard ConfigMap carries the dashboard JSON, unchanged', () => {
    const dashboard = repo('charts/codex-affinity/files/dashboard.json');
    const rendered = render('configmap-dashboard.yaml', { 'files/dashboard.json': dashboard }) as { kind: string; data: Record<string, string> };
    expect(rendered.kind).toBe('ConfigMap');
    expect(JSON.parse(rendered.data['codex-affinity.json']!)).toEqual(JSON.parse(dashboard));
  });

  it('the ServiceMonitor scrapes /metrics on the admin port of the metrics Service, which targets the processor\'s admin port', () => {
    const monitor = repo('charts/codex-affinity/templates/servicemonitor.yaml');
    const service = repo('charts/codex-affinity/templates/service-metrics.yaml');
    const deployment = repo('charts/codex-affinity/templates/deployment.yaml');
    expect(monitor).toContain('kind: ServiceMonitor');
    expect(monitor).toMatch(/- port: admin\n\s+path: \/metrics/);
    expect(service).toMatch(/- name: admin\n\s+port: \{\{ int \.Values\.processor\.httpPort \}\}\n\s+targetPort: admin/);
    expect(deployment).toMatch(/- name: admin\n\s+containerPort: \{\{ int \.Values\.processor\.httpPort \}\}/);
    expect(monitor).toContain('app.kubernetes.io/component: metrics');
    expect(service).toContain('app.kubernetes.io/component: metrics');
  });
});
