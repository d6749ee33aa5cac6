// Checks that our hand-written ext_proc subset in proto/ is wire-compatible with the
// official Envoy protos shipped in @grpc/grpc-js-xds/deps: same names, numbers, types,
// labels and oneofs; byte-identical re-encoding both ways; and a gRPC service that
// @grpc/proto-loader loads the way the server does.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const OUR_PROTO_DIR = path.join(REPO, 'proto');
const DEPS = path.join(REPO, 'node_modules/@grpc/grpc-js-xds/deps');
const OFFICIAL_DIRS = ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => path.join(DEPS, d));
// protobufjs bundles any/struct/duration/wrappers/...; descriptor.proto (for validate) lives here.
const PROTOBUFJS_DIR = path.join(REPO, 'node_modules/protobufjs');
const OUR_FILES = [
  'envoy/service/ext_proc/v3/external_processor.proto',
  'envoy/config/core/v3/base.proto',
  'envoy/extensions/filters/http/ext_proc/v3/processing_mode.proto',
  'envoy/type/v3/http_status.proto',
];

/** Fields the official messages have and we deliberately leave out ("Message.field": reason). */
const OMITTED_OFFICIAL_FIELDS: Record<string, string> = {
  // Empty today: our subset declares every field the grpc-js-xds reference has for these
  // messages. (Newer upstream fields such as ProcessingRequest.protocol_config are absent
  // from the reference, so they cannot show up here.) Add "Message.field": "why" entries.
};

function loadRoot(dirs: string[], files: string[]): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    if (path.isAbsolute(target)) return target;
    for (const dir of dirs) {
      const candidate = path.join(dir, target);
      if (fs.existsSync(candidate)) return candidate;
    }
    return target; // google/protobuf/* bundled with protobufjs, resolved by name
  };
  root.loadSync(files, { keepCase: true });
  root.resolveAll();
  return root;
}

type Declared = protobuf.Type | protobuf.Enum | protobuf.Service;

/** Every message, enum and service under `ns`, recursively (nested ones too), minus google.protobuf. */
function declarations(ns: protobuf.NamespaceBase): Declared[] {
  const out: Declared[] = [];
  for (const obj of ns.nestedArray) {
    if (obj.fullName.startsWith('.google.protobuf')) continue;
    if (obj instanceof protobuf.Type || obj instanceof protobuf.Enum || obj instanceof protobuf.Service) out.push(obj);
    if (obj instanceof protobuf.Namespace) out.push(...declarations(obj)); // Type and Service extend Namespace
  }
  return out;
}

/** Everything about a field that affects the wire format or the generated API. */
function fieldSignature(f: protobuf.Field) {
  f.resolve();
  return {
    name: f.name,
    id: f.id,
    type: f.resolvedType ? f.resolvedType.fullName : f.type,
    label: f.map ? 'map' : f.repeated ? 'repeated' : f.required ? 'required' : 'optional',
    packed: f.repeated ? f.packed : undefined,
    keyType: f instanceof protobuf.MapField ? f.keyType : undefined,
    oneof: f.partOf?.name,
  };
}

/** Mismatches between a declaration of ours and the official one of the same full name ([] = ok). */
function compareDeclaration(ours: Declared, official: protobuf.ReflectionObject | null): string[] {
  const where = ours.fullName.slice(1);
  if (!official) return [`${where}: missing in the official protos`];
  if (ours.constructor !== official.constructor) return [`${where}: kind differs`];
  const errors: string[] = [];
  if (ours instanceof protobuf.Type) {
    const off = official as protobuf.Type;
    for (const f of ours.fieldsArray) {
      const theirs = off.fields[f.name] ?? off.fieldsById[f.id];
      if (!theirs) {
        errors.push(`${where}.${f.name}: no official field with this name or number ${f.id}`);
        continue;
      }
      const a = fieldSignature(f);
      const b = fieldSignature(theirs);
      for (const key of Object.keys(a) as (keyof typeof a)[]) {
        if (a[key] !== b[key]) errors.push(`${where}.${f.name}: ${key} is ${String(a[key])}, official ${String(b[key])}`);
      }
    }
  } else if (ours instanceof protobuf.Enum) {
    const off = official as protobuf.Enum;
    for (const [name, value] of Object.entries(ours.values)) {
      if (off.values[name] !== value) errors.push(`${where}.${name}: value ${value}, official ${String(off.values[name])}`);
    }
  } else {
    const off = official as protobuf.Service;
    for (const m of ours.methodsArray) {
      const theirs = off.methods[m.name];
      if (!theirs) {
        errors.push(`${where}.${m.name}: rpc missing in the official service`);
        continue;
      }
      m.resolve();
      theirs.resolve();
      const a = [m.resolvedRequestType?.fullName, m.resolvedResponseType?.fullName, !!m.requestStream, !!m.responseStream];
      const b = [theirs.resolvedRequestType?.fullName, theirs.resolvedResponseType?.fullName, !!theirs.requestStream, !!theirs.responseStream];
      if (JSON.stringify(a) !== JSON.stringify(b)) errors.push(`${where}.${m.name}: ${JSON.stringify(a)} vs official ${JSON.stringify(b)}`);
    }
  }
  return errors;
}

const ours = loadRoot([OUR_PROTO_DIR], OUR_FILES);
const official = loadRoot([...OFFICIAL_DIRS, PROTOBUFJS_DIR], OUR_FILES);
const declared = declarations(ours);
const messages = declared.filter((d): d is protobuf.Type => d instanceof protobuf.Type);
const lookup = (root: protobuf.Root, name: string) => root.lookupType(`envoy.service.ext_proc.v3.${name}`);
const bytes = (s: string) => Buffer.from(s, 'utf8');
const struct = (fields: Record<string, string | number | boolean>) => ({
  // protobufjs' bundled google.protobuf.Struct keeps camelCase field names even with keepCase.
  fields: Object.fromEntries(Object.entries(fields).map(([k, v]) =>
    [k, typeof v === 'string' ? { stringValue: v } : typeof v === 'number' ? { numberValue: v } : { boolValue: v }])),
});
const header = (key: string, value: string) => ({ key, raw_value: bytes(value) });
const setHeader = (key: string, value: string, append_action = 'OVERWRITE_IF_EXISTS_OR_ADD') =>
  ({ header: header(key, value), append: { value: false }, append_action });

/** Realistic Envoy <-> processor messages, using only fields both protos declare. */
const SAMPLES: [string, 'ProcessingRequest' | 'ProcessingResponse', object][] = [
  ['request_headers', 'ProcessingRequest', {
    request_headers: {
      headers: { headers: [header(':method', 'POST'), header(':path', '/v1/responses'), header(':authority', 'api.openai.com'),
        header(':scheme', 'https'), header('content-type', 'application/json'), header('session-id', '0197a3c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d')] },
      end_of_stream: false,
    },
    metadata_context: { filter_metadata: { 'envoy.filters.http.jwt_authn': struct({ sub: 'user-42', exp: 1767225600 }) } },
    attributes: { 'envoy.filters.http.ext_proc': struct({ 'request.path': '/v1/responses', 'connection.mtls': false }) },
  }],
  ['request_body', 'ProcessingRequest', {
    request_body: { body: bytes('{"model":"gpt-5-codex","previous_response_id":"resp_abc123","input":[]}'), end_of_stream: true },
    observability_mode: false,
  }],
  ['request_headers response', 'ProcessingResponse', {
    request_headers: { response: { status: 'CONTINUE', header_mutation: { set_headers: [setHeader('x-codex-account', 'acct-7')] }, clear_route_cache: true } },
  }],
  ['request_body response', 'ProcessingResponse', {
    request_body: { response: {
      status: 'CONTINUE_AND_REPLACE',
      header_mutation: { set_headers: [setHeader('x-codex-account', 'acct-7'), setHeader('x-affinity', 'hit', 'ADD_IF_ABSENT')],
        remove_headers: ['content-length', 'x-untrusted'] },
      body_mutation: { body: bytes('{"model":"gpt-5-codex","store":true}') },
      clear_route_cache: true,
    } },
    dynamic_metadata: { fields: { 'codex.affinity': { structValue: struct({ account: 'acct-7', sticky: true }) } } },
    mode_override: { request_body_mode: 'BUFFERED', response_header_mode: 'SEND', response_body_mode: 'STREAMED', response_trailer_mode: 'SKIP' },
    override_message_timeout: { seconds: 5, nanos: 250_000_000 },
  }],
  ['immediate_response', 'ProcessingResponse', {
    immediate_response: {
      status: { code: 409 },
      headers: { set_headers: [setHeader('content-type', 'application/json'), setHeader('retry-after', '1')] },
      body: bytes('{"error":{"type":"session_conflict","message":"session is pinned to another account"}}'),
      grpc_status: { status: 9 },
      details: 'codex_affinity_session_conflict',
    },
  }],
];

const TO_OBJECT = { longs: String, enums: String, bytes: String, defaults: false, oneofs: true } as const;
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** Dotted paths of every key set in a sample, so a misspelt field (silently dropped by fromObject) fails. */
function keyPaths(value: unknown, prefix = ''): string[] {
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return [];
  return Object.entries(value).flatMap(([k, v]) => [`${prefix}${k}`, ...keyPaths(v, `${prefix}${k}.`)]);
}

/** Encode `object` with `from`, decode with `to`, re-encode with `to`; returns both byte arrays and both views. */
function crossEncode(from: protobuf.Type, to: protobuf.Type, object: object) {
  const sent = from.encode(from.fromObject(object)).finish();
  const decoded = to.decode(sent);
  const reencoded = to.encode(decoded).finish();
  return { sent, reencoded, theirView: from.toObject(from.decode(sent), TO_OBJECT), ourView: to.toObject(decoded, TO_OBJECT) };
}

describe('proto/ subset vs official Envoy ext_proc v3 protos', () => {
  it('declares the expected messages, enums and service', () => {
    expect(messages.length).toBeGreaterThanOrEqual(19);
    expect(declared.map((d) => d.fullName)).toEqual(expect.arrayContaining([
      '.envoy.service.ext_proc.v3.ExternalProcessor', '.envoy.service.ext_proc.v3.CommonResponse.ResponseStatus',
      '.envoy.config.core.v3.HeaderValueOption.HeaderAppendAction', '.envoy.type.v3.StatusCode',
    ]));
  });

  it.each(declared.map((d) => [d.fullName.slice(1), d] as const))('%s matches the official definition', (name, decl) => {
    expect(compareDeclaration(decl, official.lookup(name))).toEqual([]);
  });

  it('every official field we omit is allowlisted with a reason, and the allowlist is not stale', () => {
    const omitted = messages.flatMap((t) =>
      official.lookupType(t.fullName).fieldsArray.filter((f) => !t.fields[f.name]).map((f) => `${t.fullName.slice(1)}.${f.name}`));
    expect(omitted.sort()).toEqual(Object.keys(OMITTED_OFFICIAL_FIELDS).sort());
    for (const reason of Object.values(OMITTED_OFFICIAL_FIELDS)) expect(reason.trim()).not.toBe('');
  });

  describe('the comparison really detects mismatches', () => {
    const brokenJson: Record<string, unknown> = { nested: { envoy: { nested: { service: { nested: { ext_proc: { nested: { v3: { nested: {
      HttpBody: { fields: { body: { type: 'bytes', id: 1 }, end_of_stream: { type: 'bool', id: 3 } } },
      HttpTrailers: { fields: { trailers: { type: 'string', id: 1, rule: 'repeated' } } },
      BodyMutation: { fields: { body: { type: 'bytes', id: 1 }, clear_body: { type: 'bool', id: 2 } } },
      HttpHeaders: { fields: { attributes: { keyType: 'int32', type: 'string', id: 2 }, extra: { type: 'bool', id: 99 } } },
      GrpcStatus: { fields: { status: { type: 'int32', id: 1 } } },
      CommonResponse: { nested: { ResponseStatus: { values: { CONTINUE: 0, CONTINUE_AND_REPLACE: 2, BOGUS: 7 } } } },
      ExternalProcessor: { methods: { Process: { requestType: 'HttpBody', responseType: 'HttpBody', responseStream: true } } },
    } } } } } } } } } };
    const broken = protobuf.Root.fromJSON(brokenJson as protobuf.INamespace).resolveAll();
    const check = (name: string) => compareDeclaration(broken.lookup(name) as Declared, official.lookup(name)).join('\n');
    const base = 'envoy.service.ext_proc.v3';

    it('wrong field number', () => expect(check(`${base}.HttpBody`)).toMatch(/HttpBody\.end_of_stream: id is 3, official 2/));
    it('wrong type and label', () => {
      expect(check(`${base}.HttpTrailers`)).toMatch(/trailers: type is string, official \.envoy\.config\.core\.v3\.HeaderMap/);
      expect(check(`${base}.HttpTrailers`)).toMatch(/trailers: label is repeated, official optional/);
      expect(check(`${base}.GrpcStatus`)).toMatch(/status: type is int32, official uint32/);
    });
    it('missing oneof membership', () => expect(check(`${base}.BodyMutation`)).toMatch(/clear_body: oneof is undefined, official mutation/));
    it('wrong map types and unknown fields', () => {
      expect(check(`${base}.HttpHeaders`)).toMatch(/attributes: type is string, official \.google\.protobuf\.Struct/);
      expect(check(`${base}.HttpHeaders`)).toMatch(/attributes: keyType is int32, official string/);
      expect(check(`${base}.HttpHeaders`)).toMatch(/extra: no official field/);
    });
    it('wrong and unknown enum values', () => {
      expect(check(`${base}.CommonResponse.ResponseStatus`)).toMatch(/CONTINUE_AND_REPLACE: value 2, official 1/);
      expect(check(`${base}.CommonResponse.ResponseStatus`)).toMatch(/BOGUS: value 7, official undefined/);
    });
    it('wrong rpc types and streaming', () => expect(check(`${base}.ExternalProcessor`)).toMatch(/Process: .*HttpBody.*false,true\] vs official/));
  });

  describe.each(SAMPLES)('byte-identical round trip: %s (%s)', (_label, typeName, object) => {
    it('official -> ours -> bytes', () => {
      const r = crossEncode(lookup(official, typeName), lookup(ours, typeName), object);
      expect(keyPaths(r.theirView)).toEqual(expect.arrayContaining(keyPaths(object)));
      expect(hex(r.reencoded)).toBe(hex(r.sent));
      expect(r.ourView).toEqual(r.theirView);
    });
    it('ours -> official -> bytes, and both encoders agree', () => {
      const r = crossEncode(lookup(ours, typeName), lookup(official, typeName), object);
      expect(hex(r.reencoded)).toBe(hex(r.sent));
      expect(r.ourView).toEqual(r.theirView);
      const off = lookup(official, typeName);
      expect(hex(r.sent)).toBe(hex(off.encode(off.fromObject(object)).finish()));
    });
  });
});

describe('@grpc/proto-loader view of proto/ (as the server loads it)', () => {
  const definition = protoLoader.loadSync(OUR_FILES[0]!, {
    keepCase: true, longs: String, enums: String, defaults: false, oneofs: true, includeDirs: [OUR_PROTO_DIR],
  });
  const pkg = grpc.loadPackageDefinition(definition) as any;
  const Service = pkg.envoy?.service?.ext_proc?.v3?.ExternalProcessor as grpc.ServiceClientConstructor | undefined;

  it('exposes ExternalProcessor.Process as a bidi stream', () => {
    expect(typeof Service).toBe('function');
    const process = Service!.service.Process!;
    expect(process.path).toBe('/envoy.service.ext_proc.v3.ExternalProcessor/Process');
    expect(process.requestStream).toBe(true);
    expect(process.responseStream).toBe(true);
  });

  it('deserializes official request bytes and serializes responses the official type can read', () => {
    const process = Service!.service.Process!;
    const off = lookup(official, 'ProcessingRequest');
    const req = process.requestDeserialize(Buffer.from(off.encode(off.fromObject(SAMPLES[0]![2])).finish())) as any;
    expect(req.request).toBe('request_headers');
    expect(req.request_headers.end_of_stream).toBe(false);
    expect(Buffer.from(req.request_headers.headers.headers[5].raw_value).toString()).toBe('0197a3c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d');
    const immediate = SAMPLES[4]![2];
    const wire = process.responseSerialize(immediate);
    const back = lookup(official, 'ProcessingResponse').toObject(lookup(official, 'ProcessingResponse').decode(wire), TO_OBJECT);
    expect(back.immediate_response.status.code).toBe('Conflict');
    expect(back.immediate_response.details).toBe('codex_affinity_session_conflict');
  });
});
