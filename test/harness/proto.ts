// Loads OUR ext_proc v3 proto subset (proto/) for the harness and the scripted processor,
// with the loader options the project uses everywhere, and gives loose TypeScript shapes for
// the decoded messages (keepCase, enums as strings, oneofs:true => a `request`/`response`
// discriminator field, bytes as Buffer, Duration seconds as string).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const here = path.dirname(fileURLToPath(import.meta.url));
export const PROTO_DIR = path.resolve(here, '../../proto');
export const EXT_PROC_PROTO = 'envoy/service/ext_proc/v3/external_processor.proto';

export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: false,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

export interface HeaderValue { key: string; value?: string; raw_value?: Buffer | Uint8Array }
export interface HeaderMap { headers?: HeaderValue[] }
export interface HeaderValueOption {
  header?: HeaderValue;
  append?: { value?: boolean };
  append_action?: string | number;
  keep_empty_value?: boolean;
}
export interface HeaderMutation { set_headers?: HeaderValueOption[]; remove_headers?: string[] }
export interface BodyMutation { body?: Buffer | Uint8Array; clear_body?: boolean; mutation?: 'body' | 'clear_body' }
export interface CommonResponse {
  status?: 'CONTINUE' | 'CONTINUE_AND_REPLACE' | number;
  header_mutation?: HeaderMutation;
  body_mutation?: BodyMutation;
  trailers?: HeaderMap;
  clear_route_cache?: boolean;
}
export interface HeadersResponse { response?: CommonResponse }
export interface BodyResponse { response?: CommonResponse }
export interface TrailersResponse { header_mutation?: HeaderMutation }
export interface ImmediateResponse {
  status?: { code?: string | number };
  headers?: HeaderMutation;
  body?: Buffer | Uint8Array | string;
  grpc_status?: { status?: number };
  details?: string;
}
export type HeaderSendMode = 'DEFAULT' | 'SEND' | 'SKIP';
export type BodySendMode = 'NONE' | 'STREAMED' | 'BUFFERED' | 'BUFFERED_PARTIAL';
export interface ProcessingModeMsg {
  request_header_mode?: HeaderSendMode;
  response_header_mode?: HeaderSendMode;
  request_body_mode?: BodySendMode;
  response_body_mode?: BodySendMode;
  request_trailer_mode?: HeaderSendMode;
  response_trailer_mode?: HeaderSendMode;
}
/**
 * google.protobuf.Struct as decoded with oneofs:true. NB: proto-loader takes the well-known
 * types from protobufjs's bundled definitions, whose Value fields are camelCase
 * (nullValue, numberValue, stringValue, boolValue, structValue, listValue) even with keepCase.
 */
export interface StructMsg { fields?: Record<string, ValueMsg> }
export interface ValueMsg {
  kind?: string;
  nullValue?: unknown; numberValue?: number; stringValue?: string; boolValue?: boolean;
  structValue?: StructMsg; listValue?: { values?: ValueMsg[] };
}
export type ResponseKind =
  | 'request_headers' | 'response_headers' | 'request_body' | 'response_body'
  | 'request_trailers' | 'response_trailers' | 'immediate_response';
export type RequestKind = Exclude<ResponseKind, 'immediate_response'>;

export interface ProcessingResponse {
  response?: ResponseKind;
  request_headers?: HeadersResponse;
  response_headers?: HeadersResponse;
  request_body?: BodyResponse;
  response_body?: BodyResponse;
  request_trailers?: TrailersResponse;
  response_trailers?: TrailersResponse;
  immediate_response?: ImmediateResponse;
  dynamic_metadata?: StructMsg;
  mode_override?: ProcessingModeMsg;
  override_message_timeout?: { seconds?: string | number; nanos?: number };
}
export interface ProcessingRequest {
  request?: RequestKind;
  request_headers?: { headers?: HeaderMap; end_of_stream?: boolean };
  response_headers?: { headers?: HeaderMap; end_of_stream?: boolean };
  request_body?: { body?: Buffer; end_of_stream?: boolean };
  response_body?: { body?: Buffer; end_of_stream?: boolean };
  request_trailers?: { trailers?: HeaderMap };
  response_trailers?: { trailers?: HeaderMap };
  metadata_context?: { filter_metadata?: Record<string, StructMsg> };
  attributes?: Record<string, StructMsg>;
  observability_mode?: boolean;
}

let cached: grpc.GrpcObject | undefined;
let statusCodes: Map<string, number> | undefined;

/** envoy.type.v3.StatusCode: enums arrive as names (enums:String); unknown codes as numbers. */
export function statusCodeToNumber(code: string | number | undefined): number {
  if (code === undefined) return 0;
  if (typeof code === 'number') return code;
  if (/^\d+$/.test(code)) return Number(code);
  if (!statusCodes) {
    const def = protoLoader.loadSync(EXT_PROC_PROTO, LOADER_OPTIONS) as any;
    const values: Array<{ name: string; number: number }> = def['envoy.type.v3.StatusCode'].type.value;
    statusCodes = new Map(values.map((v) => [v.name, v.number]));
  }
  return statusCodes.get(code) ?? 0;
}
export function loadExtProc(): {
  ExternalProcessor: grpc.ServiceClientConstructor;
  service: grpc.ServiceDefinition;
} {
  if (!cached) {
    const def = protoLoader.loadSync(EXT_PROC_PROTO, LOADER_OPTIONS);
    cached = grpc.loadPackageDefinition(def);
  }
  const ns = (cached as any).envoy.service.ext_proc.v3;
  return { ExternalProcessor: ns.ExternalProcessor, service: ns.ExternalProcessor.service };
}

// --- google.protobuf.Struct <-> plain JS -------------------------------------------------
export function valueToJs(v: ValueMsg | undefined): unknown {
  if (!v) return null;
  switch (v.kind) {
    case 'numberValue': return v.numberValue;
    case 'stringValue': return v.stringValue;
    case 'boolValue': return v.boolValue;
    case 'structValue': return structToJs(v.structValue);
    case 'listValue': return (v.listValue?.values ?? []).map(valueToJs);
    default: return null;
  }
}
export function structToJs(s: StructMsg | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s?.fields ?? {})) out[k] = valueToJs(v);
  return out;
}
export function jsToValue(x: unknown): ValueMsg {
  if (x === null || x === undefined) return { nullValue: 'NULL_VALUE' };
  if (typeof x === 'number') return { numberValue: x };
  if (typeof x === 'string') return { stringValue: x };
  if (typeof x === 'boolean') return { boolValue: x };
  if (Array.isArray(x)) return { listValue: { values: x.map(jsToValue) } };
  return { structValue: jsToStruct(x as Record<string, unknown>) };
}
export function jsToStruct(o: Record<string, unknown>): StructMsg {
  const fields: Record<string, ValueMsg> = {};
  for (const [k, v] of Object.entries(o)) fields[k] = jsToValue(v);
  return { fields };
}
