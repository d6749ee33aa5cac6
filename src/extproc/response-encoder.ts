import { accessSync, constants } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import protobuf from 'protobufjs';
import { protoRoot } from './proto.js';
import type {
  WireCommonResponse,
  WireHeaderMutation,
  WireHeaderValueOption,
  WireImmediateResponse,
  WireProcessingMode,
  WireProcessingResponse,
  WireStruct,
} from './wire-types.js';

function loadRoot(): protobuf.Root {
  const include = protoRoot();
  const root = new protobuf.Root();
  const fallback = root.resolvePath.bind(root);
  root.resolvePath = (origin, target) => {
    if (isAbsolute(target)) return target;
    const candidate = join(include, target);
    try {
      accessSync(candidate, constants.R_OK);
      return candidate;
    } catch {
      // google/protobuf/*.proto come with protobufjs.
      return fallback(origin, target);
    }
  };
  root.loadSync('envoy/service/ext_proc/v3/external_processor.proto', { keepCase: true });
  root.resolveAll();
  return root;
}

const VARINT = 0;
const LENGTH_DELIMITED = 2;

function varintSize(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  if (value < 0x10000000) return 4;
  return 5;
}

function stringSize(value: string): number {
  const length = Buffer.byteLength(value, 'utf8');
  return varintSize(length) + length;
}

function bytesSize(value: Uint8Array): number {
  return varintSize(value.length) + value.length;
}

/** A message of `size` bytes as a field (tag, length, body). */
function nestedSize(tag: number, size: number): number {
  return varintSize(tag) + varintSize(size) + size;
}

/** Writes into one buffer of the exact size, computed first. */
class Output {
  offset = 0;
  constructor(readonly buffer: Buffer) {}

  varint(value: number): void {
    let rest = value >>> 0;
    while (rest >= 0x80) {
      this.buffer[this.offset++] = (rest & 0x7f) | 0x80;
      rest >>>= 7;
    }
    this.buffer[this.offset++] = rest;
  }

  string(tag: number, value: string): void {
    this.varint(tag);
    this.varint(Buffer.byteLength(value, 'utf8'));
    this.offset += this.buffer.write(value, this.offset, 'utf8');
  }

  bytes(tag: number, value: Uint8Array): void {
    this.varint(tag);
    this.varint(value.length);
    this.buffer.set(value, this.offset);
    this.offset += value.length;
  }

  nested(tag: number, size: number): void {
    this.varint(tag);
    this.varint(size);
  }
}

type Tags = Record<string, number>;

/** Each field's tag (number and wire type), from the loaded proto: none is typed in here. */
function tagsOf(type: protobuf.Type): Tags {
  const tags: Tags = {};
  for (const field of type.fieldsArray) {
    const scalarVarint = field.resolvedType instanceof protobuf.Enum || ['bool', 'int32', 'uint32', 'int64', 'uint64'].includes(field.type);
    tags[field.name] = (field.id << 3) | (scalarVarint ? VARINT : LENGTH_DELIMITED);
  }
  return tags;
}

function enumValues(root: protobuf.Root, name: string): Readonly<Record<string, number>> {
  return root.lookupEnum(name).values;
}

/**
 * Encodes the ProcessingResponse objects the adapter builds (wire-types.ts): the
 * exact size first, then one buffer written in field order, with field numbers and
 * enum values read from the proto files. proto-loader's serializer (fromObject,
 * then protobufjs' encode) costs several times as much for the same bytes, on
 * every answer. Dynamic metadata, one of few values per routed request, is
 * encoded once per Struct object (the adapter hands out one per value); a frozen
 * answer (the adapter's "continue" of each kind) is encoded once.
 */
export function createResponseEncoder(): (value: WireProcessingResponse) => Buffer {
  const root = loadRoot();
  const type = (name: string) => root.lookupType(name);
  const PROCESSING = tagsOf(type('envoy.service.ext_proc.v3.ProcessingResponse'));
  const HEADERS = tagsOf(type('envoy.service.ext_proc.v3.HeadersResponse'));
  const BODY = tagsOf(type('envoy.service.ext_proc.v3.BodyResponse'));
  const TRAILERS = tagsOf(type('envoy.service.ext_proc.v3.TrailersResponse'));
  const COMMON = tagsOf(type('envoy.service.ext_proc.v3.CommonResponse'));
  const MUTATION = tagsOf(type('envoy.service.ext_proc.v3.HeaderMutation'));
  const BODY_MUTATION = tagsOf(type('envoy.service.ext_proc.v3.BodyMutation'));
  const IMMEDIATE = tagsOf(type('envoy.service.ext_proc.v3.ImmediateResponse'));
  const HTTP_STATUS = tagsOf(type('envoy.type.v3.HttpStatus'));
  const OPTION = tagsOf(type('envoy.config.core.v3.HeaderValueOption'));
  const HEADER_VALUE = tagsOf(type('envoy.config.core.v3.HeaderValue'));
  const BOOL_VALUE = tagsOf(type('google.protobuf.BoolValue'));
  const MODE = tagsOf(type('envoy.extensions.filters.http.ext_proc.v3.ProcessingMode'));
  const RESPONSE_STATUS = enumValues(root, 'envoy.service.ext_proc.v3.CommonResponse.ResponseStatus');
  const APPEND_ACTION = enumValues(root, 'envoy.config.core.v3.HeaderValueOption.HeaderAppendAction');
  const HEADER_MODE = enumValues(root, 'envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.HeaderSendMode');
  const BODY_MODE = enumValues(root, 'envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode');
  const struct = type('google.protobuf.Struct');
  const MODE_FIELDS = [
    ['request_header_mode', HEADER_MODE],
    ['response_header_mode', HEADER_MODE],
    ['request_body_mode', BODY_MODE],
    ['response_body_mode', BODY_MODE],
    ['request_trailer_mode', HEADER_MODE],
    ['response_trailer_mode', HEADER_MODE],
  ] as const;

  const enumValue = (values: Readonly<Record<string, number>>, name: string): number => {
    const value = values[name];
    if (value === undefined) throw new Error(`Failed to serialize message: unknown enum value ${name}`);
    return value;
  };

  // ---- sizes --------------------------------------------------------------
  const headerValueSize = (header: WireHeaderValueOption['header']): number =>
    (header.key !== undefined ? varintSize(HEADER_VALUE.key!) + stringSize(header.key) : 0) +
    (header.raw_value !== undefined ? varintSize(HEADER_VALUE.raw_value!) + bytesSize(header.raw_value) : 0);
  const optionSize = (option: WireHeaderValueOption): number => {
    let size = 0;
    if (option.header !== undefined) size += nestedSize(OPTION.header!, headerValueSize(option.header));
    if (option.append !== undefined) size += nestedSize(OPTION.append!, option.append.value !== undefined ? varintSize(BOOL_VALUE.value!) + 1 : 0);
    if (option.append_action !== undefined) size += varintSize(OPTION.append_action!) + varintSize(enumValue(APPEND_ACTION, option.append_action));
    return size;
  };
  const mutationSize = (mutation: WireHeaderMutation): number => {
    let size = 0;
    for (const option of mutation.set_headers ?? []) size += nestedSize(MUTATION.set_headers!, optionSize(option));
    for (const name of mutation.remove_headers ?? []) size += varintSize(MUTATION.remove_headers!) + stringSize(name);
    return size;
  };
  const bodyMutationSize = (mutation: NonNullable<WireCommonResponse['body_mutation']>): number =>
    (mutation.body !== undefined ? varintSize(BODY_MUTATION.body!) + bytesSize(mutation.body) : 0) +
    (mutation.clear_body !== undefined ? varintSize(BODY_MUTATION.clear_body!) + 1 : 0);
  const commonSize = (common: WireCommonResponse): number =>
    (common.status !== undefined ? varintSize(COMMON.status!) + varintSize(enumValue(RESPONSE_STATUS, common.status)) : 0) +
    (common.header_mutation !== undefined ? nestedSize(COMMON.header_mutation!, mutationSize(common.header_mutation)) : 0) +
    (common.body_mutation !== undefined ? nestedSize(COMMON.body_mutation!, bodyMutationSize(common.body_mutation)) : 0) +
    (common.clear_route_cache !== undefined ? varintSize(COMMON.clear_route_cache!) + 1 : 0);
  const immediateSize = (immediate: WireImmediateResponse): number =>
    (immediate.status !== undefined ? nestedSize(IMMEDIATE.status!, immediate.status.code !== undefined ? varintSize(HTTP_STATUS.code!) + varintSize(immediate.status.code) : 0) : 0) +
    (immediate.headers !== undefined ? nestedSize(IMMEDIATE.headers!, mutationSize(immediate.headers)) : 0) +
    (immediate.body !== undefined ? varintSize(IMMEDIATE.body!) + bytesSize(immediate.body) : 0) +
    (immediate.details !== undefined ? varintSize(IMMEDIATE.details!) + stringSize(immediate.details) : 0);
  const modeSize = (mode: WireProcessingMode): number => {
    let size = 0;
    for (const [field, values] of MODE_FIELDS) {
      const name = mode[field];
      if (name !== undefined) size += varintSize(MODE[field]!) + varintSize(enumValue(values, name));
    }
    return size;
  };

  // ---- writes (field order as sized) -----------------------------------------
  const writeMutation = (out: Output, mutation: WireHeaderMutation): void => {
    for (const option of mutation.set_headers ?? []) {
      out.nested(MUTATION.set_headers!, optionSize(option));
      if (option.header !== undefined) {
        out.nested(OPTION.header!, headerValueSize(option.header));
        if (option.header.key !== undefined) out.string(HEADER_VALUE.key!, option.header.key);
        if (option.header.raw_value !== undefined) out.bytes(HEADER_VALUE.raw_value!, option.header.raw_value);
      }
      if (option.append !== undefined) {
        out.nested(OPTION.append!, option.append.value !== undefined ? varintSize(BOOL_VALUE.value!) + 1 : 0);
        if (option.append.value !== undefined) {
          out.varint(BOOL_VALUE.value!);
          out.varint(option.append.value ? 1 : 0);
        }
      }
      if (option.append_action !== undefined) {
        out.varint(OPTION.append_action!);
        out.varint(enumValue(APPEND_ACTION, option.append_action));
      }
    }
    for (const name of mutation.remove_headers ?? []) out.string(MUTATION.remove_headers!, name);
  };
  const writeCommon = (out: Output, common: WireCommonResponse): void => {
    if (common.status !== undefined) {
      out.varint(COMMON.status!);
      out.varint(enumValue(RESPONSE_STATUS, common.status));
    }
    if (common.header_mutation !== undefined) {
      out.nested(COMMON.header_mutation!, mutationSize(common.header_mutation));
      writeMutation(out, common.header_mutation);
    }
    if (common.body_mutation !== undefined) {
      out.nested(COMMON.body_mutation!, bodyMutationSize(common.body_mutation));
      if (common.body_mutation.body !== undefined) out.bytes(BODY_MUTATION.body!, common.body_mutation.body);
      if (common.body_mutation.clear_body !== undefined) {
        out.varint(BODY_MUTATION.clear_body!);
        out.varint(common.body_mutation.clear_body ? 1 : 0);
      }
    }
    if (common.clear_route_cache !== undefined) {
      out.varint(COMMON.clear_route_cache!);
      out.varint(common.clear_route_cache ? 1 : 0);
    }
  };
  const writeImmediate = (out: Output, immediate: WireImmediateResponse): void => {
    if (immediate.status !== undefined) {
      out.nested(IMMEDIATE.status!, immediate.status.code !== undefined ? varintSize(HTTP_STATUS.code!) + varintSize(immediate.status.code) : 0);
      if (immediate.status.code !== undefined) {
        out.varint(HTTP_STATUS.code!);
        out.varint(immediate.status.code);
      }
    }
    if (immediate.headers !== undefined) {
      out.nested(IMMEDIATE.headers!, mutationSize(immediate.headers));
      writeMutation(out, immediate.headers);
    }
    if (immediate.body !== undefined) out.bytes(IMMEDIATE.body!, immediate.body);
    if (immediate.details !== undefined) out.string(IMMEDIATE.details!, immediate.details);
  };
  const writeMode = (out: Output, mode: WireProcessingMode): void => {
    for (const [field, values] of MODE_FIELDS) {
      const name = mode[field];
      if (name === undefined) continue;
      out.varint(MODE[field]!);
      out.varint(enumValue(values, name));
    }
  };

  // By object: the adapter hands out one Struct object per metadata value (adapter.ts).
  const encodedMetadata = new WeakMap<WireStruct, Uint8Array>();
  const metadataBytes = (value: WireStruct): Uint8Array => {
    let bytes = encodedMetadata.get(value);
    if (bytes === undefined) {
      bytes = struct.encode(struct.fromObject(value)).finish();
      encodedMetadata.set(value, bytes);
    }
    return bytes;
  };

  const PHASES = ['request_headers', 'response_headers', 'request_body', 'response_body'] as const;
  /** HeadersResponse.response or BodyResponse.response. */
  const responseTag = (phase: (typeof PHASES)[number]): number => (phase === 'request_body' || phase === 'response_body' ? BODY.response! : HEADERS.response!);
  const TRAILER_PHASES = ['request_trailers', 'response_trailers'] as const;

  const encode = (value: WireProcessingResponse): Buffer => {
    // Sizes first, in the order the fields are written below.
    let size = 0;
    const phaseSizes: number[] = [];
    for (const phase of PHASES) {
      const phaseResponse = value[phase];
      if (phaseResponse === undefined) continue;
      const inner = phaseResponse.response !== undefined ? nestedSize(responseTag(phase), commonSize(phaseResponse.response)) : 0;
      phaseSizes.push(inner);
      size += nestedSize(PROCESSING[phase]!, inner);
    }
    for (const phase of TRAILER_PHASES) {
      const trailers = value[phase];
      if (trailers === undefined) continue;
      const inner = trailers.header_mutation !== undefined ? nestedSize(TRAILERS.header_mutation!, mutationSize(trailers.header_mutation)) : 0;
      phaseSizes.push(inner);
      size += nestedSize(PROCESSING[phase]!, inner);
    }
    const immediate = value.immediate_response !== undefined ? immediateSize(value.immediate_response) : 0;
    if (value.immediate_response !== undefined) size += nestedSize(PROCESSING.immediate_response!, immediate);
    const metadata = value.dynamic_metadata !== undefined ? metadataBytes(value.dynamic_metadata) : undefined;
    if (metadata !== undefined) size += varintSize(PROCESSING.dynamic_metadata!) + bytesSize(metadata);
    const mode = value.mode_override !== undefined ? modeSize(value.mode_override) : 0;
    if (value.mode_override !== undefined) size += nestedSize(PROCESSING.mode_override!, mode);

    const out = new Output(Buffer.allocUnsafe(size));
    let sized = 0;
    for (const phase of PHASES) {
      const phaseResponse = value[phase];
      if (phaseResponse === undefined) continue;
      out.nested(PROCESSING[phase]!, phaseSizes[sized++]!);
      if (phaseResponse.response !== undefined) {
        out.nested(responseTag(phase), commonSize(phaseResponse.response));
        writeCommon(out, phaseResponse.response);
      }
    }
    for (const phase of TRAILER_PHASES) {
      const trailers = value[phase];
      if (trailers === undefined) continue;
      out.nested(PROCESSING[phase]!, phaseSizes[sized++]!);
      if (trailers.header_mutation !== undefined) {
        out.nested(TRAILERS.header_mutation!, mutationSize(trailers.header_mutation));
        writeMutation(out, trailers.header_mutation);
      }
    }
    if (value.immediate_response !== undefined) {
      out.nested(PROCESSING.immediate_response!, immediate);
      writeImmediate(out, value.immediate_response);
    }
    if (metadata !== undefined) out.bytes(PROCESSING.dynamic_metadata!, metadata);
    if (value.mode_override !== undefined) {
      out.nested(PROCESSING.mode_override!, mode);
      writeMode(out, value.mode_override);
    }
    if (out.offset !== size) throw new Error(`Failed to serialize message: wrote ${out.offset} of ${size} bytes`);
    return out.buffer;
  };

  // A frozen answer cannot change: its bytes are kept.
  const encodedFrozen = new WeakMap<WireProcessingResponse, Buffer>();
  return (value) => {
    if (Array.isArray(value)) throw new Error('Failed to serialize message: expected a ProcessingResponse object, got an array');
    if (Object.isFrozen(value)) {
      let bytes = encodedFrozen.get(value);
      if (bytes === undefined) encodedFrozen.set(value, (bytes = encode(value)));
      return bytes;
    }
    return encode(value);
  };
}
