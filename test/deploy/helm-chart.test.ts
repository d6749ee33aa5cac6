// Checks charts/codex-affinity without helm (none is available where the tests run; the
// chart's README says so and how to render it). What is checked: Chart.yaml and values.yaml
// parse; template actions are well formed and their blocks balance; every .Values path and
// every included template exists; the processor config the chart builds passes the
// processor's own parser; the Envoy and Kubernetes templates use only key paths of the
// validated plain files (deploy/envoy.yaml, deploy/kubernetes/), so a misspelt or misplaced
// field is caught; and the defaults agree with those plain files.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { parseConfig, parseConfigText } from '../../src/config/load.js';
import {
  actionsOf, blockErrors, definedTemplates, fieldsReadInRange, includedTemplates, keyPathsOfDocument, keyPathsOfTemplate, valuesPaths,
} from './template-lint.js';

type Json = any; // parsed YAML, walked freely in the assertions
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const CHART = path.join(REPO, 'charts/codex-affinity');
const readRepo = (rel: string) => fs.readFileSync(path.join(REPO, rel), 'utf8');
const readChart = (rel: string) => fs.readFileSync(path.join(CHART, rel), 'utf8');

const CHART_YAML: Json = parse(readChart('Chart.yaml'));
const VALUES: Json = parse(readChart('values.yaml'));
const TEMPLATE_FILES = fs.readdirSync(path.join(CHART, 'templates')).sort();
const TEMPLATES = new Map(TEMPLATE_FILES.map((f) => [f, readChart(`templates/${f}`)]));
const ACTIONS = new Map(TEMPLATE_FILES.map((f) => [f, actionsOf(f, TEMPLATES.get(f)!)]));
const allActions = () => [...ACTIONS.values()].flatMap((a) => a.actions);

/** The text between {{- define "name" -}} and its {{- end -}} (the last end of the file's define). */
function defineBody(file: string, name: string): string {
  const src = TEMPLATES.get(file)!;
  const start = src.indexOf(`{{- define "${name}" -}}`);
  expect(start, `${file} defines ${name}`).toBeGreaterThanOrEqual(0);
  const next = src.indexOf('{{- define "', start + 1);
  const body = src.slice(start, next < 0 ? undefined : next);
  return body.slice(body.indexOf('-}}') + 3, body.lastIndexOf('{{- end -}}'));
}

/** The value at a path of values.yaml, or a marker when a key is missing. */
const MISSING = Symbol('missing');
function valueAt(keys: string[]): unknown {
  let v: Json = VALUES;
  for (const k of keys) {
    if (v === null || typeof v !== 'object' || Array.isArray(v) || !(k in v)) return MISSING;
    v = v[k];
  }
  return v;
}

describe('charts/codex-affinity: files', () => {
  it('Chart.yaml is a v2 application chart of this package\'s version; the expected templates exist', () => {
    expect(CHART_YAML).toMatchObject({ apiVersion: 'v2', name: 'codex-affinity', type: 'application' });
    expect(CHART_YAML.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(CHART_YAML.appVersion).toBe(JSON.parse(readRepo('package.json')).version);
    expect(TEMPLATE_FILES).toEqual(['NOTES.txt', '_envoy.tpl', '_helpers.tpl', 'configmap-dashboard.yaml', 'configmap-envoy.yaml', 'configmap-processor.yaml',
      'deployment.yaml', 'pdb.yaml', 'prometheusrule.yaml', 'service-metrics.yaml', 'service.yaml', 'serviceaccount.yaml', 'servicemonitor.yaml']);
  });

  it('the README says the chart is not rendered by helm in CI and how to render it', () => {
    const readme = readChart('README.md');
    expect(readme).toContain('Not rendered with helm in CI');
    expect(readme).toContain('helm template codex-affinity charts/codex-affinity');
  });
});

describe('charts/codex-affinity: template syntax', () => {
  it('actions are well formed and every if/range/with/define has its end', () => {
    const errors = [...ACTIONS.entries()].flatMap(([file, { actions, errors }]) => [...errors, ...blockErrors(file, actions)]);
    expect(errors).toEqual([]);
    expect(allActions().length).toBeGreaterThan(100);
  });

  it('the checker catches an unbalanced block, a stray delimiter and a missing trim space', () => {
    const bad = '{{- if .Values.a }}\n{{ range .Values.b }}x{{ end }}\n}} {{-else}}\n';
    const { actions, errors } = actionsOf('bad.yaml', bad);
    expect(errors).toEqual(['bad.yaml:3: "}}" without "{{"', 'bad.yaml:3: trim marker needs a space: {{-else}}']);
    expect(blockErrors('bad.yaml', actions)).toEqual(['bad.yaml:1: "if .Values.a" never ended']);
    expect(blockErrors('x', actionsOf('x', '{{ end }}{{ else }}').actions)).toEqual(['x:1: end without a block', 'x:1: else outside if/with/range']);
  });

  it('every .Values path a template reads exists in values.yaml', () => {
    const missing = [...ACTIONS.entries()].flatMap(([file, { actions }]) =>
      valuesPaths(actions).filter((p) => valueAt(p.path) === MISSING).map((p) => `${file}:${p.line}: .Values.${p.path.join('.')}`));
    expect(missing).toEqual([]);
    const read = new Set([...ACTIONS.values()].flatMap(({ actions }) => valuesPaths(actions).map((p) => p.path.join('.'))));
    for (const used of ['accounts', 'routing', 'store', 'shutdown', 'config', 'routing.clusterHeader', 'routing.inferencePaths', 'routing.retryGuard',
      'envoy.messageTimeout', 'envoy.maxMessageTimeout', 'replicas', 'image.envoy.tag', 'image.processor.tag']) expect(read, used).toContain(used);
  });

  it('numbers are printed through int (helm reads numbers as floats: 8388608 would print as 8.388608e+06)', () => {
    const bare = [...ACTIONS.entries()].flatMap(([file, { actions }]) => actions
      .filter((a) => /^\$?\.Values(\.\w+)+$/.test(a.text) && typeof valueAt(a.text.replace(/^\$?\.Values\./, '').split('.')) === 'number')
      .map((a) => `${file}:${a.line}: {{ ${a.text} }}`));
    expect(bare).toEqual([]);
  });

  it('every included template is defined, once', () => {
    const defined = [...ACTIONS.values()].flatMap(({ actions }) => definedTemplates(actions));
    expect(new Set(defined).size).toBe(defined.length);
    const included = new Set([...ACTIONS.values()].flatMap(({ actions }) => includedTemplates(actions)));
    for (const name of included) expect(defined, name).toContain(name);
    for (const name of defined) expect(included, `${name} is used`).toContain(name);
  });

  it('checksum annotations hash the two ConfigMap templates', () => {
    const deployment = TEMPLATES.get('deployment.yaml')!;
    for (const file of ['configmap-envoy.yaml', 'configmap-processor.yaml']) {
      expect(deployment).toContain(`{{ include (print $.Template.BasePath "/${file}") . | sha256sum }}`);
      expect(TEMPLATE_FILES).toContain(file);
    }
  });
});

describe('charts/codex-affinity: the processor config', () => {
  const body = defineBody('_helpers.tpl', 'codex-affinity.processorConfig');
  // Built from the values the way the template does: every key passes through unchanged,
  // accounts lose only `upstream`, grpc/http are fixed (loopback gRPC, admin on all addresses).
  const omitUpstream = ({ upstream: _upstream, ...account }: Json) => account;
  const built = {
    ...VALUES.config,
    grpc: { host: '127.0.0.1', port: VALUES.processor.grpcPort },
    http: { host: '0.0.0.0', port: VALUES.processor.httpPort },
    routing: VALUES.routing,
    store: VALUES.store,
    shutdown: VALUES.shutdown,
    accounts: VALUES.accounts.map(omitUpstream),
  };

  it('the template passes values through: exactly these keys, accounts without upstream', () => {
    expect([...body.matchAll(/set \$config "(\w+)"/g)].map((m) => m[1])).toEqual(['grpc', 'http', 'routing', 'store', 'shutdown', 'accounts']);
    for (const line of [
      '{{- $extra := .Values.config | default dict -}}',
      '{{- $accounts = append $accounts (omit . "upstream") -}}',
      '{{- $config := deepCopy $extra -}}',
      '{{- $_ := set $config "grpc" (dict "host" "127.0.0.1" "port" (int .Values.processor.grpcPort)) -}}',
      '{{- $_ := set $config "http" (dict "host" "0.0.0.0" "port" (int .Values.processor.httpPort)) -}}',
      '{{- $_ := set $config "routing" .Values.routing -}}',
      '{{- $_ := set $config "store" .Values.store -}}',
      '{{- $_ := set $config "shutdown" .Values.shutdown -}}',
      '{{- $_ := set $config "accounts" $accounts -}}',
      '{{- toYaml $config -}}',
    ]) expect(body).toContain(line);
    expect(TEMPLATES.get('configmap-processor.yaml')).toContain('config.yaml: |\n    {{- include "codex-affinity.processorConfig" . | nindent 4 }}');
  });

  it('the default values make a config the processor accepts, equal to deploy/kubernetes/config.yaml', () => {
    const config = parseConfigText(stringify(built));
    expect(config).toEqual(parseConfig(built));
    expect(config.accounts.map((a) => a.cluster)).toEqual(['openai-acct-a', 'openai-acct-b', 'codex-acct-c']);
    expect(config).toEqual(parseConfig(parse(readRepo('deploy/kubernetes/config.yaml'))));
  });

  it('a bad account key in values.yaml would be refused by the processor', () => {
    const bad = { ...built, accounts: [{ ...built.accounts[0], wieght: 2 }] };
    expect(() => parseConfig(bad)).toThrow('accounts[0].wieght: unknown key');
  });
});

describe('charts/codex-affinity: the Envoy config', () => {
  const ENVOY: Json = parse(readRepo('deploy/envoy.yaml'));
  const body = defineBody('_envoy.tpl', 'codex-affinity.envoyConfig');

  it('the key-path reader reads the plain files like the YAML parser does', () => {
    for (const file of ['deploy/envoy.yaml', 'deploy/kubernetes/deployment.yaml']) {
      expect([...keyPathsOfTemplate(readRepo(file))].sort(), file).toEqual([...keyPathsOfDocument(parse(readRepo(file)))].sort());
    }
  });

  it('has exactly the key paths of deploy/envoy.yaml (validated against the official protos)', () => {
    expect([...keyPathsOfTemplate(body)].sort()).toEqual([...keyPathsOfDocument(ENVOY)].sort());
  });

  it('renders one cluster per account from its upstream; the defaults are the clusters of deploy/envoy.yaml', () => {
    expect(fieldsReadInRange(allActions(), '.Values.accounts')).toEqual(new Set(['cluster', 'name', 'upstream', 'profile']));
    for (const line of [
      '- name: {{ .cluster | quote }}',
      'cluster_name: {{ .cluster | quote }}',
      'socket_address: { address: {{ $upstream.host }}, port_value: {{ int $upstream.port }} }',
      'sni: {{ $upstream.host }}',
      'matcher: { exact: {{ $upstream.host }} }',
    ]) expect(body).toContain(line);
    for (const account of VALUES.accounts) {
      expect(Object.keys(account.upstream).sort(), account.name).toEqual(['host', 'port', 'tls']);
      const cluster = ENVOY.static_resources.clusters.find((c: Json) => c.name === account.cluster);
      expect(cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address).toEqual({ address: account.upstream.host, port_value: account.upstream.port });
      expect(cluster.transport_socket !== undefined).toBe(account.upstream.tls);
    }
  });

  it('routes from the processor\'s routing values: header, inference paths, retry guard, metadata namespace', () => {
    expect(body).toContain('{{- $header := .Values.routing.clusterHeader -}}');
    expect(body.match(/cluster_header: \{\{ \$header \}\}/g)).toHaveLength(2);
    expect(body).toContain('{{- $namespace := .Values.routing.metadataNamespace -}}');
    expect(body).toContain('untyped: [{{ $namespace }}]');
    expect(body).toMatch(/\{\{- if \.Values\.routing\.retryGuard \}\}\n(.*\n)?\s+mutation_rules:\n\s+allow_envoy: true\n\s+\{\{- end \}\}/);
    expect(body).toContain('{{- range .Values.routing.inferencePaths -}}\n{{- $paths = append $paths (regexQuoteMeta .) -}}');
    expect(body).toContain('regex: {{ printf "^(%s)$" (join "|" $paths) | quote }}');
    // The default inference paths need no regex escaping, so the rendered regex is the plain
    // alternation; it matches what deploy/envoy.yaml's inference route matches.
    const paths: string[] = VALUES.routing.inferencePaths;
    expect(paths.every((p) => !/[\\.+*?()|[\]{}^$]/.test(p))).toBe(true);
    const rendered = new RegExp(`^(${paths.join('|')})$`);
    const plain = new RegExp(`^(?:${ENVOY.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes
      .find((r: Json) => r.name === 'inference').match.safe_regex.regex})$`);
    for (const p of [...paths, ...paths.map((p) => `${p}X`), ...paths.map((p) => `${p}/`), '/v1/models', '/v1/responses/resp_1']) {
      expect(rendered.test(p), p).toBe(plain.test(p));
    }
  });

  it('ext_proc timeouts and other Envoy values are well-formed, and the fixed default clusters exist', () => {
    for (const key of ['messageTimeout', 'maxMessageTimeout', 'streamIdleTimeout']) expect(VALUES.envoy[key], key).toMatch(/^\d+(\.\d{1,9})?s$/);
    expect(parseFloat(VALUES.envoy.maxMessageTimeout)).toBeGreaterThanOrEqual(parseFloat(VALUES.envoy.messageTimeout));
    const extProc = ENVOY.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0].typed_config;
    expect([VALUES.envoy.messageTimeout, VALUES.envoy.maxMessageTimeout]).toEqual([extProc.message_timeout, extProc.max_message_timeout]);
    expect(VALUES.envoy.bufferLimitBytes).toBe(ENVOY.static_resources.listeners[0].per_connection_buffer_limit_bytes);
    // "" picks the first account of the profile (templates/_helpers.tpl); the plain file's choice is the same.
    expect([VALUES.envoy.defaultCluster, VALUES.envoy.chatgptDefaultCluster]).toEqual(['', '']);
    const firstOf = (profile: string) => VALUES.accounts.find((a: Json) => (a.profile ?? 'openai') === profile).cluster;
    const routes: Json[] = ENVOY.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes;
    expect(routes.find((r) => r.name === 'default').route.cluster).toBe(firstOf('openai'));
    expect(routes.find((r) => r.name === 'default_chatgpt_codex').route.cluster).toBe(firstOf('chatgpt-codex'));
    expect(TEMPLATES.get('configmap-envoy.yaml')).toContain('envoy.yaml: |\n    {{- include "codex-affinity.envoyConfig" . | nindent 4 }}');
  });
});

describe('charts/codex-affinity: the Kubernetes objects', () => {
  const plain = (file: string): Json => parseAllDocuments(readRepo(`deploy/kubernetes/${file}`))[0]!.toJS();
  // Keys the chart adds to the plain manifests (the usual chart knobs).
  const CHART_ONLY = new Set([
    'metadata.annotations', 'spec.template.metadata.annotations.checksum/envoy-config', 'spec.template.metadata.annotations.checksum/processor-config',
    'spec.template.spec.imagePullSecrets', 'spec.template.spec.containers.imagePullPolicy', 'spec.template.spec.nodeSelector',
    'spec.template.spec.tolerations', 'spec.template.spec.affinity',
  ]);

  it('each template uses only key paths of its plain manifest in deploy/kubernetes/', () => {
    for (const [template, file] of [['deployment.yaml', 'deployment.yaml'], ['service.yaml', 'service.yaml'], ['pdb.yaml', 'pdb.yaml'], ['serviceaccount.yaml', 'serviceaccount.yaml']]) {
      const known = keyPathsOfDocument(plain(file!));
      const unknown = [...keyPathsOfTemplate(TEMPLATES.get(template!)!)].filter((p) => !known.has(p) && !CHART_ONLY.has(p));
      expect(unknown, template).toEqual([]);
      expect(TEMPLATES.get(template!), template).toContain(`kind: ${plain(file!).kind}`);
    }
  });

  it('the defaults are the plain manifests\' settings: probes, ports, images, security, resources, shutdown timing', () => {
    const pod = plain('deployment.yaml').spec.template.spec;
    const [envoy, processor] = pod.containers;
    const deployment = TEMPLATES.get('deployment.yaml')!;
    for (const line of ['httpGet: { path: /readyz, port: admin }', 'httpGet: { path: /healthz, port: admin }', 'containerPort: {{ int .Values.processor.httpPort }}',
      'args: [serve, --config, /etc/codex-affinity/config.yaml]', 'prometheus.io/port: {{ int .Values.processor.httpPort | quote }}',
      'sleep: { seconds: {{ int .Values.processor.preStopSleepSeconds }} }', 'POST /drain_listeners?graceful HTTP/1.1']) expect(deployment).toContain(line);
    expect(VALUES.processor.httpPort).toBe(processor.ports[0].containerPort);
    expect(VALUES.envoy.port).toBe(envoy.ports[0].containerPort);
    expect(`${VALUES.image.envoy.repository}:${VALUES.image.envoy.tag}`).toBe(envoy.image);
    expect(`${VALUES.image.processor.repository}:${VALUES.image.processor.tag}`).toBe(processor.image);
    expect(VALUES.podSecurityContext).toEqual(pod.securityContext);
    for (const c of pod.containers) expect(VALUES.containerSecurityContext).toEqual(c.securityContext);
    expect([VALUES.envoy.resources, VALUES.processor.resources]).toEqual([envoy.resources, processor.resources]);
    expect(VALUES.terminationGracePeriodSeconds).toBe(pod.terminationGracePeriodSeconds);
    expect(VALUES.processor.preStopSleepSeconds).toBe(processor.lifecycle.preStop.sleep.seconds);
    expect(String(VALUES.envoy.drainSeconds)).toBe(envoy.args[envoy.args.indexOf('--drain-time-s') + 1]);
    expect(VALUES.replicas).toBe(1);
    expect(VALUES.store.kind).toBe('memory');
    const grace = parseConfig({ shutdown: VALUES.shutdown, accounts: [{ name: 'a', cluster: 'c' }] }).shutdown.grace;
    expect(VALUES.terminationGracePeriodSeconds * 1000).toBeGreaterThan(VALUES.processor.preStopSleepSeconds * 1000 + grace);
    expect(VALUES.processor.preStopSleepSeconds).toBeGreaterThan(VALUES.envoy.drainSeconds);
  });

  it('refuses what would break affinity or the shutdown order', () => {
    const deployment = TEMPLATES.get('deployment.yaml')!;
    expect(deployment).toContain('{{- if and (gt (int .Values.replicas) 1) (eq .Values.store.kind "memory") }}\n{{- fail ');
    expect(deployment).toContain('{{- if le (int .Values.processor.preStopSleepSeconds) (int .Values.envoy.drainSeconds) }}\n{{- fail ');
  });
});
