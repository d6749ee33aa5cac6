// A strict validator of Envoy v3 bootstrap documents (parsed YAML/JSON) against the official
// Envoy protos (grpc-js-xds deps): every key is a field (proto or JSON name), enums are names of
// the enum, scalars have the right kind, well-known types use their JSON forms, "@type" resolves
// to an official message, oneofs have at most one member (exactly one where validate.required),
// messages carry their validate-required fields, and deprecated fields/values are refused.
// Used by test/deploy/envoy-config.test.ts (deploy/envoy.yaml) and
// test/deploy/kubernetes.test.ts (the Envoy config of deploy/kubernetes/).
import protobuf from 'protobufjs';
import { loadOfficialRoot, lookupOfficialType } from '../support/official-protos.js';

const root = loadOfficialRoot(['envoy/config/bootstrap/v3/bootstrap.proto']);
const BOOTSTRAP = root.lookupType('envoy.config.bootstrap.v3.Bootstrap');

export interface Report { errors: string[]; jsonNames: string[] }
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

/** Validates a parsed document against any message of the official Envoy API (e.g. envoy.config.cluster.v3.Cluster). */
export function validateAs(typeName: string, doc: unknown): Report {
  const type = lookupOfficialType(root, typeName);
  if (!type) throw new Error(`no official Envoy message ${typeName}`);
  const r: Report = { errors: [], jsonNames: [] };
  validateMessage(doc, type, '', r);
  return r;
}

/** Validates a parsed Envoy bootstrap document against envoy.config.bootstrap.v3.Bootstrap. */
export function validateBootstrap(doc: unknown): Report {
  const r: Report = { errors: [], jsonNames: [] };
  validateMessage(doc, BOOTSTRAP, '', r);
  return r;
}
