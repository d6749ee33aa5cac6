// Validates deploy/envoy.yaml strictly against the official Envoy protos (grpc-js-xds deps):
// every key is a field (proto or JSON name), enums are names of the enum, scalars have the
// right kind, well-known types use their JSON forms, "@type" resolves to an official message,
// oneofs have at most one member (exactly one where validate.required), messages carry their
// validate-required fields, and deprecated fields/values are refused. Then checks the facts
// the processor relies on (DESIGN.md "Envoy side", shared/envoy-ext-proc.md).
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadOfficialRoot, lookupOfficialType } from '../support/official-protos.js';

const read = (rel: string) => fs.readFileSync(fileURLToPath(new URL(`../../${rel}`, import.meta.url)), 'utf8');
type Json = any; // parsed YAML, walked freely in the assertions
const ENVOY: Json = parse(read('deploy/envoy.yaml'));
const APP: Json = parse(read('deploy/example-config.yaml'));
const root = loadOfficialRoot(['envoy/config/bootstrap/v3/bootstrap.proto']);
const BOOTSTRAP = root.lookupType('envoy.config.bootstrap.v3.Bootstrap');

interface Report { errors: string[]; jsonNames: string[] }
const WRAPPERS = ['Double', 'Float', 'Int64', 'UInt64', 'Int32', 'UInt32', 'Bool', 'String', 'Bytes'].map((w) => `.google.protobuf.${w}Value`);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const kindOf = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
const jsonName = (f: protobuf.Field) => (f.options?.json_name as string | undefined) ?? f.name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
const join = (p: string, k: string) => (p ? `${p}.${k}` : k);
/** Types whose proto3 JSON form is not an object of their fields. */
const SPECIAL_JSON = new Set(['.google.protobuf.Duration', '.google.protobuf.Timestamp', '.google.protobuf.FieldMask', '.google.protobuf.Struct', '.google.protobuf.Value', '.google.protobuf.ListValue', ...WRAPPERS]);

function scalarError(v: unknown, type: string): string | null {
  const int = (lo: number, hi: number) => (typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi ? null : `expected ${type}, got ${kindOf(v)} ${JSON.stringify(v)}`);
  switch (type) {
    case 'string': return typeof v === 'string' ? null : `expected string, got ${kindOf(v)}`;
    case 'bool': return typeof v === 'boolean' ? null : `expected bool, got ${kindOf(v)}`;
    case 'bytes': return typeof v === 'string' && /^[A-Za-z0-9+/_-]*={0,2}$/.test(v) ? null : `expected base64 bytes, got ${kindOf(v)}`;
    case 'double': case 'float':
      return typeof v === 'number' || v === 'NaN' || v === 'Infinity' || v === '-Infinity' ? null : `expected ${type}, got ${kindOf(v)}`;
    case 'int32': case 'sint32': case 'sfixed32': return int(-(2 ** 31), 2 ** 31 - 1);
    case 'uint32': case 'fixed32': return int(0, 2 ** 32 - 1);
    case 'int64': case 'sint64': case 'sfixed64': case 'uint64': case 'fixed64': {
      const ok = (typeof v === 'number' && Number.isInteger(v)) || (typeof v === 'string' && /^-?\d+$/.test(v));
      return ok && !(type.startsWith('u') || type.startsWith('fixed') ? String(v).startsWith('-') : false) ? null : `expected ${type}, got ${kindOf(v)} ${JSON.stringify(v)}`;
    }
    default: return `unsupported scalar type ${type}`;
  }
}

function validateEnum(v: unknown, e: protobuf.Enum, path: string, r: Report) {
  if (e.fullName === '.google.protobuf.NullValue') { if (v !== null) r.errors.push(`${path}: expected null`); return; }
  const name = typeof v === 'string' ? v : typeof v === 'number' ? e.valuesById[v] : undefined;
  if (typeof v === 'string' && !(v in e.values)) r.errors.push(`${path}: unknown enum value ${JSON.stringify(v)} of ${e.fullName.slice(1)}`);
  else if (name === undefined) r.errors.push(`${path}: expected a name of enum ${e.fullName.slice(1)}, got ${kindOf(v)} ${JSON.stringify(v)}`);
  else if (e.valuesOptions?.[name]?.deprecated) r.errors.push(`${path}: deprecated enum value ${name}`);
}

function validateSingle(v: unknown, field: protobuf.Field, path: string, r: Report) {
  const t = field.resolve().resolvedType;
  if (v === null && !(t && ['.google.protobuf.Value', '.google.protobuf.NullValue'].includes(t.fullName))) r.errors.push(`${path}: null value`);
  else if (t instanceof protobuf.Enum) validateEnum(v, t, path, r);
  else if (t instanceof protobuf.Type) validateMessage(v, t, path, r);
  else { const err = scalarError(v, field.type); if (err) r.errors.push(`${path}: ${err}`); }
}

function validateAny(v: Record<string, unknown>, path: string, r: Report) {
  const url = v['@type'];
  const m = typeof url === 'string' ? /^type\.googleapis\.com\/([A-Za-z_][\w.]*)$/.exec(url) : null;
  const type = m ? lookupOfficialType(root, m[1]!) : null;
  if (!type) return void r.errors.push(`${join(path, '@type')}: unresolvable @type ${JSON.stringify(url)}`);
  const { '@type': _, ...rest } = v;
  if (!SPECIAL_JSON.has(type.fullName)) return validateMessage(rest, type, path, r);
  // Well-known types with a special JSON form sit in an Any as {"@type", "value"}.
  if (Object.keys(rest).join() !== 'value') return void r.errors.push(`${path}: an Any of ${type.fullName.slice(1)} needs exactly "@type" and "value"`);
  validateMessage(rest.value, type, join(path, 'value'), r);
}

function validateMessage(v: unknown, type: protobuf.Type, path: string, r: Report): void {
  const t = type.fullName;
  const want = (ok: boolean, what: string) => { if (!ok) r.errors.push(`${path}: expected ${what} for ${t.slice(1)}, got ${kindOf(v)} ${JSON.stringify(v)}`); };
  if (t === '.google.protobuf.Duration') return want(typeof v === 'string' && /^-?\d+(\.\d{1,9})?s$/.test(v), 'a duration string like "0.5s"');
  if (t === '.google.protobuf.Timestamp') return want(typeof v === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(v), 'an RFC 3339 timestamp');
  if (t === '.google.protobuf.FieldMask') return want(typeof v === 'string', 'a field mask string');
  if (t === '.google.protobuf.Struct') return want(isObject(v), 'an object');
  if (t === '.google.protobuf.ListValue') return want(Array.isArray(v), 'an array');
  if (t === '.google.protobuf.Value') return;
  if (WRAPPERS.includes(t)) { const err = scalarError(v, type.fields.value!.type); if (err) r.errors.push(`${path}: ${err} (${t.slice(1)})`); return; }
  if (!isObject(v)) return want(false, 'an object');
  if (t === '.google.protobuf.Any') return validateAny(v, path, r);
  const seen = new Map<string, string>();
  for (const [key, value] of Object.entries(v)) {
    let field: protobuf.Field | undefined = type.fields[key];
    if (!field) {
      field = type.fieldsArray.find((f) => jsonName(f) === key);
      if (field) r.jsonNames.push(`${join(path, key)}: JSON name of ${field.name}`);
    }
    if (!field) { r.errors.push(`${join(path, key)}: unknown field of ${t.slice(1)}`); continue; }
    const p = join(path, field.name);
    if (seen.has(field.name)) r.errors.push(`${p}: given twice (${seen.get(field.name)} and ${key})`);
    seen.set(field.name, key);
    if (field.options?.deprecated) r.errors.push(`${p}: deprecated field`);
    if (field.map) {
      if (!isObject(value)) r.errors.push(`${p}: expected a map object, got ${kindOf(value)}`);
      else for (const [k, item] of Object.entries(value)) {
        const keyType = (field as unknown as protobuf.MapField).keyType;
        const keyOk = keyType === 'string' || (keyType === 'bool' ? /^(true|false)$/.test(k) : /^-?\d+$/.test(k) && !scalarError(Number(k), keyType));
        if (!keyOk) r.errors.push(`${p}[${JSON.stringify(k)}]: bad ${keyType} map key`);
        validateSingle(item, field, `${p}[${JSON.stringify(k)}]`, r);
      }
    } else if (field.repeated) {
      if (!Array.isArray(value)) r.errors.push(`${p}: expected an array (repeated field), got ${kindOf(value)}`);
      else value.forEach((item, i) => validateSingle(item, field!, `${p}[${i}]`, r));
    } else validateSingle(value, field, p, r);
  }
  for (const oneof of type.oneofsArray) {
    const set = oneof.fieldsArray.map((f) => f.name).filter((n) => seen.has(n));
    if (set.length > 1) r.errors.push(`${path}: oneof ${oneof.name} has more than one member set (${set.join(', ')})`);
    if (set.length === 0 && oneof.options?.['(validate.required)']) r.errors.push(`${path}: oneof ${oneof.name} requires one of ${oneof.oneof.join(', ')}`);
  }
  for (const f of type.fieldsArray) {
    if (f.options?.['(validate.rules).message.required'] && !f.partOf && !seen.has(f.name)) r.errors.push(`${join(path, f.name)}: required field missing`);
  }
}

function validateBootstrap(doc: unknown): Report {
  const r: Report = { errors: [], jsonNames: [] };
  validateMessage(doc, BOOTSTRAP, '', r);
  return r;
}

// ---- lookups into deploy/envoy.yaml ---------------------------------------------------
const EXT_PROC = 'type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor';
const hcm: Json = ENVOY.static_resources.listeners[0].filter_chains[0].filters
  .find((f: Json) => f.name === 'envoy.filters.network.http_connection_manager').typed_config;
const httpFilters: Json[] = hcm.http_filters;
const extProcFilter: Json = httpFilters.find((f) => f.typed_config?.['@type'] === EXT_PROC);
const extProc: Json = extProcFilter.typed_config;
const routes: Json[] = hcm.route_config.virtual_hosts.flatMap((vh: Json) => vh.routes);
const mainRoute: Json = routes.find((r) => r.match.prefix === '/');
const upgradeRoute: Json = routes.find((r) => r.match.headers?.some((h: Json) => h.name === 'upgrade' && h.string_match?.exact === 'websocket'));
const clusters: Json[] = ENVOY.static_resources.clusters;
const clusterNamed = (name: string) => clusters.find((c) => c.name === name);
const clone = () => structuredClone(ENVOY);
const pathOfExtProc = `static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[${httpFilters.indexOf(extProcFilter)}].typed_config`;
const seconds = (d: string) => Number(d.replace(/s$/, ''));

describe('deploy/envoy.yaml against the official Envoy v3 protos', () => {
  it('is a valid Bootstrap: no unknown keys, bad enums, bad scalars, bad @type or oneof clashes', () => {
    const r = validateBootstrap(ENVOY);
    expect(r.errors).toEqual([]);
    expect(r.jsonNames).toEqual([]); // we write proto (snake_case) names only
  });

  describe('the validator catches', () => {
    const errorsAfter = (mutate: (doc: Json) => void) => { const doc = clone(); mutate(doc); return validateBootstrap(doc).errors; };
    const extProcOf = (doc: Json) => doc.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[httpFilters.indexOf(extProcFilter)].typed_config;

    it('an unknown key', () => {
      expect(errorsAfter((d) => { extProcOf(d).allow_mode_overide = true; })).toEqual([`${pathOfExtProc}.allow_mode_overide: unknown field of envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor`]);
    });
    it('a misspelt enum value', () => {
      expect(errorsAfter((d) => { extProcOf(d).processing_mode.request_body_mode = 'BUFFER'; })).toEqual([
        `${pathOfExtProc}.processing_mode.request_body_mode: unknown enum value "BUFFER" of envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode`]);
    });
    it('a wrong scalar type, a bad Duration and a bad wrapper value', () => {
      const errors = errorsAfter((d) => {
        extProcOf(d).allow_mode_override = 'true';
        extProcOf(d).message_timeout = 500;
        d.static_resources.listeners[0].per_connection_buffer_limit_bytes = -1;
      });
      expect(errors).toEqual([
        'static_resources.listeners[0].per_connection_buffer_limit_bytes: expected uint32, got number -1 (google.protobuf.UInt32Value)',
        `${pathOfExtProc}.allow_mode_override: expected bool, got string`,
        `${pathOfExtProc}.message_timeout: expected a duration string like "0.5s" for google.protobuf.Duration, got number 500`,
      ]);
    });
    it('a bad @type, and checks the fields of a good one', () => {
      expect(errorsAfter((d) => { extProcOf(d)['@type'] = `${EXT_PROC}s`; })).toEqual([`${pathOfExtProc}.@type: unresolvable @type "${EXT_PROC}s"`]);
      expect(errorsAfter((d) => { extProcOf(d)['@type'] = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router'; }))
        .toContain(`${pathOfExtProc}.grpc_service: unknown field of envoy.extensions.filters.http.router.v3.Router`);
    });
    it('two members of one oneof, and a required oneof left empty', () => {
      expect(errorsAfter((d) => { d.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint_name = 'x'; }))
        .toEqual(['static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0]: oneof host_identifier has more than one member set (endpoint, endpoint_name)']);
      const main = routes.indexOf(mainRoute);
      expect(errorsAfter((d) => { delete d.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[main].route.cluster_header; }))
        .toEqual([`static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[${main}].route: oneof cluster_specifier requires one of cluster, cluster_header, weighted_clusters, cluster_specifier_plugin, inline_cluster_specifier_plugin`]);
    });
    it('a repeated field given as a scalar, a deprecated field and a missing required field', () => {
      const errors = errorsAfter((d) => {
        extProcOf(d).metadata_options.receiving_namespaces.untyped = 'codex_affinity';
        const h = d.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[routes.indexOf(upgradeRoute)].match.headers[0];
        h.exact_match = h.string_match.exact;
        delete h.string_match;
        delete extProcOf(d).grpc_service;
      });
      expect(errors).toContain(`${pathOfExtProc}.metadata_options.receiving_namespaces.untyped: expected an array (repeated field), got string`);
      expect(errors).toContain(`static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[${routes.indexOf(upgradeRoute)}].match.headers[0].exact_match: deprecated field`);
      expect(errors).toHaveLength(3);
      expect(errors).toContain(`${pathOfExtProc}.grpc_service: required field missing`);
    });
    it('accepts JSON (camelCase) names like Envoy does, but reports them', () => {
      const doc = clone();
      const cfg = extProcOf(doc);
      cfg.allowModeOverride = cfg.allow_mode_override;
      delete cfg.allow_mode_override;
      expect(validateBootstrap(doc)).toEqual({ errors: [], jsonNames: [`${pathOfExtProc}.allowModeOverride: JSON name of allow_mode_override`] });
      cfg.allow_mode_override = true;
      expect(validateBootstrap(doc).errors).toEqual([`${pathOfExtProc}.allow_mode_override: given twice (allowModeOverride and allow_mode_override)`]);
    });
  });
});

describe('deploy/envoy.yaml gives the processor what it relies on', () => {
  it('ext_proc: the processing modes of DESIGN.md, mode override, fail closed, x-envoy mutations, metadata namespace', () => {
    expect(extProc.processing_mode).toEqual({
      request_header_mode: 'SEND', response_header_mode: 'SEND', request_body_mode: 'BUFFERED',
      response_body_mode: 'NONE', request_trailer_mode: 'SKIP', response_trailer_mode: 'SKIP',
    });
    expect(extProc.allow_mode_override).toBe(true);
    expect(extProc.failure_mode_allow).toBe(false);
    expect(extProc.mutation_rules.allow_envoy).toBe(true);
    expect(extProc.metadata_options.receiving_namespaces.untyped).toContain(APP.routing?.metadataNamespace ?? 'codex_affinity');
    expect(seconds(extProc.message_timeout)).toBeGreaterThan(0.2);
    expect(seconds(extProc.max_message_timeout)).toBeGreaterThanOrEqual(seconds(extProc.message_timeout));
    expect(httpFilters.at(-1)!.name).toBe('envoy.filters.http.router');
    expect(httpFilters.indexOf(extProcFilter)).toBeLessThan(httpFilters.length - 1);
  });

  it('the ext_proc gRPC cluster exists, points at the processor port and speaks HTTP/2', () => {
    const c = clusterNamed(extProc.grpc_service.envoy_grpc.cluster_name);
    expect(c).toBeDefined();
    const addr = c.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
    expect(addr.port_value).toBe(APP.grpc.port);
    const opts = c.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'];
    expect(opts['@type']).toBe('type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions');
    expect(opts.explicit_http_config).toHaveProperty('http2_protocol_options');
  });

  it('the main route takes the cluster from the processor header, 503 when unknown, one guarded retry, no timeout', () => {
    expect(mainRoute.route.cluster_header).toBe(APP.routing.clusterHeader);
    expect(mainRoute.route.cluster_not_found_response_code).toBe('SERVICE_UNAVAILABLE');
    expect(mainRoute.route.timeout).toBe('0s');
    expect(mainRoute.route.retry_policy).toEqual({ retry_on: 'connect-failure,reset,retriable-status-codes', retriable_status_codes: [502, 503], num_retries: 1 });
    expect(routes.indexOf(mainRoute)).toBe(routes.length - 1);
  });

  it('WebSocket upgrades to the Responses paths use their own route with the request body off', () => {
    expect(routes.indexOf(upgradeRoute)).toBeLessThan(routes.indexOf(mainRoute));
    expect(upgradeRoute.route.cluster_header).toBe(APP.routing.clusterHeader);
    expect(upgradeRoute.route.upgrade_configs).toEqual([{ upgrade_type: 'websocket' }]);
    const perRoute = upgradeRoute.typed_per_filter_config[extProcFilter.name];
    expect(perRoute['@type']).toBe('type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute');
    expect(perRoute.overrides.processing_mode).toMatchObject({ request_body_mode: 'NONE', request_header_mode: 'SEND', response_header_mode: 'SEND' });
    const re = new RegExp(upgradeRoute.match.safe_regex.regex); // simple enough to mean the same in RE2
    for (const p of ['/v1/responses', '/responses', '/backend-api/codex/responses']) expect(p).toMatch(re);
    for (const p of ['/v1/chat/completions', '/v1/responses/compact', '/v1/responsesx']) expect(p).not.toMatch(re);
    expect(hcm.upgrade_configs).toBeUndefined(); // upgrades are enabled on that route only
  });

  it('every account cluster of deploy/example-config.yaml exists, over verified TLS to its host', () => {
    const wanted: string[] = APP.accounts.map((a: Json) => a.cluster);
    expect(wanted).toEqual(['openai-acct-a', 'openai-acct-b', 'codex-acct-c']);
    for (const name of wanted) {
      const c = clusterNamed(name);
      expect(c, name).toBeDefined();
      expect(c.load_assignment.cluster_name).toBe(name);
      const host = c.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
      expect(host.port_value).toBe(443);
      const tls = c.transport_socket.typed_config;
      expect(tls['@type']).toBe('type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext');
      expect(tls.sni).toBe(host.address);
      expect(tls.common_tls_context.validation_context.match_typed_subject_alt_names).toEqual([{ san_type: 'DNS', matcher: { exact: host.address } }]);
    }
  });

  it('buffers Codex-sized bodies and logs the codex_affinity metadata', () => {
    expect(ENVOY.static_resources.listeners[0].per_connection_buffer_limit_bytes).toBeGreaterThanOrEqual(8 * 1024 * 1024);
    const format = JSON.stringify(hcm.access_log[0].typed_config.log_format);
    for (const key of ['account', 'domain', 'strength', 'source', 'outcome']) expect(format).toContain(`%DYNAMIC_METADATA(codex_affinity:${key})%`);
    expect(format).toContain('%UPSTREAM_CLUSTER%');
    expect(format).toContain('%RESPONSE_CODE%');
  });
});
