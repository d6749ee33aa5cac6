/**
 * The ext_proc v3 messages as @grpc/proto-loader presents them (keepCase,
 * enums as strings, oneofs named, bytes as Buffer). Only this folder sees them.
 */
export interface WireHeaderValue {
  key: string;
  value?: string;
  raw_value?: Buffer;
}

export interface WireHeaderMap {
  headers?: WireHeaderValue[];
}

export interface WireHttpHeaders {
  headers?: WireHeaderMap;
  end_of_stream?: boolean;
}

export interface WireHttpBody {
  body?: Buffer;
  end_of_stream?: boolean;
}

export interface WireHttpTrailers {
  trailers?: WireHeaderMap;
}

export type RequestKind =
  | 'request_headers'
  | 'response_headers'
  | 'request_body'
  | 'response_body'
  | 'request_trailers'
  | 'response_trailers';

export interface WireProcessingRequest {
  request?: RequestKind;
  request_headers?: WireHttpHeaders;
  response_headers?: WireHttpHeaders;
  request_body?: WireHttpBody;
  response_body?: WireHttpBody;
  request_trailers?: WireHttpTrailers;
  response_trailers?: WireHttpTrailers;
  observability_mode?: boolean;
}

export interface WireHeaderValueOption {
  header: { key: string; raw_value: Buffer };
  append?: { value: boolean };
  append_action?: string;
}

export interface WireHeaderMutation {
  set_headers?: WireHeaderValueOption[];
  remove_headers?: string[];
}

export interface WireCommonResponse {
  status?: 'CONTINUE' | 'CONTINUE_AND_REPLACE';
  header_mutation?: WireHeaderMutation;
  body_mutation?: { body?: Buffer; clear_body?: boolean };
  clear_route_cache?: boolean;
}

export type WireBodyMode = 'NONE' | 'STREAMED' | 'BUFFERED' | 'BUFFERED_PARTIAL';
export type WireHeaderMode = 'DEFAULT' | 'SEND' | 'SKIP';

export interface WireProcessingMode {
  request_header_mode?: WireHeaderMode;
  response_header_mode?: WireHeaderMode;
  request_body_mode?: WireBodyMode;
  response_body_mode?: WireBodyMode;
  request_trailer_mode?: WireHeaderMode;
  response_trailer_mode?: WireHeaderMode;
}

export interface WireStructValue {
  stringValue?: string;
  numberValue?: number;
  boolValue?: boolean;
  structValue?: WireStruct;
}

export interface WireStruct {
  fields: Record<string, WireStructValue>;
}

export interface WireImmediateResponse {
  status: { code: number };
  headers?: WireHeaderMutation;
  body?: Buffer;
  details?: string;
}

export interface WireProcessingResponse {
  request_headers?: { response?: WireCommonResponse };
  response_headers?: { response?: WireCommonResponse };
  request_body?: { response?: WireCommonResponse };
  response_body?: { response?: WireCommonResponse };
  request_trailers?: { header_mutation?: WireHeaderMutation };
  response_trailers?: { header_mutation?: WireHeaderMutation };
  immediate_response?: WireImmediateResponse;
  dynamic_metadata?: WireStruct;
  mode_override?: WireProcessingMode;
}
