// Validates Kubernetes objects offline against the Kubernetes OpenAPI schemas, in two ways,
// both generated from those schemas by the kubernetes-models packages (kubernetes-models for
// the built-in kinds; from the projects' CRD schemas: @kubernetes-models/prometheus-operator
// for ServiceMonitor and PrometheusRule, @kubernetes-models/istio for EnvoyFilter,
// @kubernetes-models/envoy-gateway and @kubernetes-models/gateway-api for Envoy Gateway):
//  1. each object's JSON-schema validator (types, formats, enums, required fields);
//  2. the TypeScript compiler, checking each object as a literal of the kind's generated
//     interface: this refuses unknown or misplaced fields, which the JSON-schema validators
//     let through (the OpenAPI schemas do not forbid additional properties), the way
//     `kubectl apply --validate=strict` does against a live API server.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

type Json = any; // parsed YAML of any kind

const REPO = fileURLToPath(new URL('../../', import.meta.url));

/** The module and interface of a kind's model, by apiVersion and kind. */
function modelOf(apiVersion: string, kind: string): { module: string; type: string } {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  const crds: Record<string, string> = {
    'monitoring.coreos.com': '@kubernetes-models/prometheus-operator',
    'networking.istio.io': '@kubernetes-models/istio',
    'gateway.envoyproxy.io': '@kubernetes-models/envoy-gateway',
    'gateway.networking.k8s.io': '@kubernetes-models/gateway-api',
  };
  if (group! in crds) return { module: `${crds[group!]}/${group}/${version}/${kind}`, type: `I${kind}` };
  return { module: group === '' ? `kubernetes-models/${version}/${kind}` : `kubernetes-models/${group}/${version}/${kind}`, type: `I${kind}` };
}

export interface NamedObject { readonly source: string; readonly object: Json }

/** Problems found by the kinds' JSON-schema validators, as "source kind/name: message". */
export async function schemaErrors(objects: readonly NamedObject[]): Promise<string[]> {
  const errors: string[] = [];
  for (const { source, object } of objects) {
    const label = `${source} ${object.kind}/${object.metadata?.name}`;
    const { module } = modelOf(object.apiVersion, object.kind);
    let model: Json;
    try {
      model = await import(module);
    } catch {
      errors.push(`${label}: no model for ${object.apiVersion} ${object.kind}`);
      continue;
    }
    try {
      new model[object.kind](object).validate();
    } catch (error) {
      errors.push(`${label}: ${(error as Error).message}`);
    }
  }
  return errors;
}

/** Problems found by type-checking each object against its kind's interface (unknown fields, wrong types). */
export function typeErrors(objects: readonly NamedObject[]): string[] {
  const file = path.join(REPO, 'test/deploy/__rendered_manifests__.ts');
  const lines: string[] = [];
  const labels: string[] = [];
  objects.forEach(({ source, object }, index) => {
    const { module, type } = modelOf(object.apiVersion, object.kind);
    labels.push(`${source} ${object.kind}/${object.metadata?.name}`);
    lines.push(`export const object${index}: import(${JSON.stringify(module)}).${type} = ${JSON.stringify(object)};`);
  });
  const text = lines.join('\n');
  const options: ts.CompilerOptions = {
    module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022,
    strict: true, noEmit: true, skipLibCheck: true, types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, language, ...rest) => (path.resolve(name) === file ? ts.createSourceFile(name, text, language) : getSourceFile(name, language, ...rest));
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => path.resolve(name) === file || fileExists(name);
  const program = ts.createProgram([file], options, host);
  const source = program.getSourceFile(file)!;
  return ts.getPreEmitDiagnostics(program, source).map((diagnostic) => {
    const line = diagnostic.start === undefined ? 0 : source.getLineAndCharacterOfPosition(diagnostic.start).line;
    return `${labels[line] ?? '?'}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n').split('\n').slice(0, 3).join(' / ')}`;
  });
}
