import { accessSync, constants } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import protobuf from 'protobufjs';
import { protoRoot } from './proto.js';
import type { WireProcessingResponse, WireStruct } from './wire-types.js';

/** ProcessingResponse.dynamic_metadata (field 8, length-delimited). */
const DYNAMIC_METADATA_TAG = (8 << 3) | 2;

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

/**
 * Encodes ProcessingResponse as proto-loader's serializer does (fromObject, then
 * encode), except the dynamic metadata: every routed request sends one of few
 * values, and a google.protobuf.Struct costs more to encode than the rest of the
 * answer, so each Struct object is encoded once and appended as its field. Protobuf
 * readers take fields in any order; the bytes decode to the same message.
 */
export function createResponseEncoder(): (value: WireProcessingResponse) => Buffer {
  const root = loadRoot();
  const response = root.lookupType('envoy.service.ext_proc.v3.ProcessingResponse');
  const struct = root.lookupType('google.protobuf.Struct');
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
  // A frozen answer cannot change: its bytes are kept (the adapter's "continue" of each kind).
  const encodedFrozen = new WeakMap<WireProcessingResponse, Buffer>();
  const encode = (value: WireProcessingResponse): Buffer => {
    if (value.dynamic_metadata === undefined) return response.encode(response.fromObject(value)).finish() as Buffer;
    const { dynamic_metadata: metadata, ...rest } = value;
    const writer = response.encode(response.fromObject(rest));
    writer.uint32(DYNAMIC_METADATA_TAG).bytes(metadataBytes(metadata));
    return writer.finish() as Buffer;
  };
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
