import type { MetadataValue, PhaseAnswer } from './phase-answer.js';
import { headerOption, isValidHeaderName, isValidHeaderValue } from './headers.js';
import type {
  RequestKind,
  WireCommonResponse,
  WireHeaderMutation,
  WireProcessingResponse,
  WireStruct,
  WireStructValue,
} from './wire-types.js';

/** Header names and values that Envoy would reject never leave the processor. */
export type InvalidHeaderListener = (name: string) => void;

function headerMutation(answer: PhaseAnswer, onInvalid: InvalidHeaderListener): WireHeaderMutation | undefined {
  const changes = answer.headers;
  if (!changes || (changes.set.length === 0 && changes.remove.length === 0)) return undefined;
  const mutation: WireHeaderMutation = {};
  const set = [];
  for (const [name, value] of changes.set) {
    if (isValidHeaderName(name) && isValidHeaderValue(value)) set.push(headerOption(name, value));
    else onInvalid(name);
  }
  if (set.length > 0) mutation.set_headers = set;
  const remove = changes.remove.filter((name) => isValidHeaderName(name) && !name.startsWith(':') && name !== 'host');
  if (remove.length > 0) mutation.remove_headers = remove;
  return mutation.set_headers || mutation.remove_headers ? mutation : undefined;
}

function structValue(value: MetadataValue): WireStructValue {
  // protobufjs' bundled google.protobuf.Value keeps camelCase names even with keepCase.
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'number') return { numberValue: value };
  return { boolValue: value };
}

function buildStruct(metadata: NonNullable<PhaseAnswer['dynamicMetadata']>): WireStruct {
  const fields: Record<string, WireStructValue> = {};
  for (const [namespace, record] of Object.entries(metadata)) {
    const inner: Record<string, WireStructValue> = {};
    for (const [key, value] of Object.entries(record)) inner[key] = structValue(value);
    fields[namespace] = { structValue: { fields: inner } };
  }
  return { fields };
}

/** Distinct metadata values: accounts × strengths × sources × outcomes × move reasons stays far below. */
const MAX_STRUCTS = 4096;
const structs = new Map<string, WireStruct>();

/**
 * One Struct object per metadata value: routed requests send few distinct values, and
 * the response encoder (response-encoder.ts) keeps each one's bytes by the object.
 */
function metadataStruct(metadata: NonNullable<PhaseAnswer['dynamicMetadata']>): WireStruct {
  // JSON names the value exactly: the same names in the same order, the same types.
  const key = JSON.stringify(metadata);
  let struct = structs.get(key);
  if (struct === undefined) {
    struct = buildStruct(metadata);
    if (structs.size >= MAX_STRUCTS) structs.clear();
    structs.set(key, struct);
  }
  return struct;
}

function frozenContinue(kind: RequestKind): WireProcessingResponse {
  const inner = kind === 'request_trailers' || kind === 'response_trailers' ? {} : { response: Object.freeze({}) };
  return Object.freeze({ [kind]: Object.freeze(inner) });
}

/**
 * "Continue" of each kind, one frozen object each: most answers (every SSE chunk) are
 * this, and the response encoder encodes a frozen answer once (response-encoder.ts).
 */
const CONTINUES: Readonly<Record<RequestKind, WireProcessingResponse>> = Object.freeze({
  request_headers: frozenContinue('request_headers'),
  response_headers: frozenContinue('response_headers'),
  request_body: frozenContinue('request_body'),
  response_body: frozenContinue('response_body'),
  request_trailers: frozenContinue('request_trailers'),
  response_trailers: frozenContinue('response_trailers'),
});

function isPlainContinue(answer: PhaseAnswer): boolean {
  return (
    answer.immediate === undefined &&
    answer.headers === undefined &&
    answer.body === undefined &&
    answer.dynamicMetadata === undefined &&
    answer.modeOverride === undefined
  );
}

/** Converts a phase answer into the ProcessingResponse of the kind Envoy expects. */
export function toProcessingResponse(kind: RequestKind, answer: PhaseAnswer, onInvalid: InvalidHeaderListener): WireProcessingResponse {
  // clear_route_cache goes only with a header mutation: without one, a plain continue.
  if (isPlainContinue(answer)) return CONTINUES[kind];
  const response: WireProcessingResponse = {};
  if (answer.immediate) {
    const immediate = answer.immediate;
    const headers = headerMutation({ headers: { set: immediate.headers, remove: [] } }, onInvalid);
    response.immediate_response = {
      status: { code: immediate.status },
      ...(headers ? { headers } : {}),
      body: Buffer.from(immediate.body, 'utf8'),
      details: immediate.details,
    };
  } else if (kind === 'request_trailers' || kind === 'response_trailers') {
    response[kind] = {};
  } else {
    const common: WireCommonResponse = {};
    const mutation = headerMutation(answer, onInvalid);
    if (mutation) common.header_mutation = mutation;
    if (answer.body !== undefined) common.body_mutation = { body: answer.body };
    // Envoy ignores clear_route_cache without a header mutation; do not send it alone.
    if (answer.clearRouteCache && mutation) common.clear_route_cache = true;
    response[kind] = { response: common };
  }
  if (answer.dynamicMetadata) response.dynamic_metadata = metadataStruct(answer.dynamicMetadata);
  if (answer.modeOverride && (kind === 'request_headers' || kind === 'response_headers')) {
    response.mode_override = {
      request_body_mode: answer.modeOverride.requestBody,
      response_body_mode: answer.modeOverride.responseBody,
      ...(answer.modeOverride.responseHeaders ? { response_header_mode: answer.modeOverride.responseHeaders } : {}),
    };
  }
  return response;
}
