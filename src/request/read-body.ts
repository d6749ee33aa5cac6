import { decodeBody } from '../body/decode.js';
import { JsonScanError, scanJsonBody } from '../body/json-scan.js';
import type { BodyScan } from '../body/json-scan.js';
import type { Metrics } from '../metrics/metrics.js';
import { JSON_CONTENT_TYPE } from './request-view.js';

/** A JSON request body, decoded, with its exact scan. */
export interface ReadableBody {
  readonly buffer: Buffer;
  readonly scan: BodyScan;
  /** The content-encoding it was decoded from, when it was compressed. */
  readonly decodedFrom: string | undefined;
}

export type PreparedBody =
  | { kind: 'json'; body: ReadableBody }
  /** No body to read, or (with `unreadable`) a body that could not be read as JSON, and why. */
  | { kind: 'headers_only'; unreadable?: string }
  | { kind: 'too_large' };

/** The body as JSON to read and edit: decoded, size-checked, scanned; or why not. */
export function readRequestBody(
  body: Buffer,
  endOfStream: boolean,
  headers: ReadonlyMap<string, string>,
  maxBodyBytes: number,
  metrics: Metrics,
): PreparedBody {
  const tooLarge = (): PreparedBody => {
    metrics.bodyRejections.inc({ code: 'request_too_large' });
    return { kind: 'too_large' };
  };
  if (body.length > maxBodyBytes) return tooLarge();
  const headersOnly = (reason: string): PreparedBody => {
    metrics.bodyScanFailures.inc({ reason });
    return { kind: 'headers_only', unreadable: reason };
  };
  if (!endOfStream) return headersOnly('partial_body');
  if (body.length === 0) return { kind: 'headers_only' };
  const contentType = headers.get('content-type');
  if (contentType !== undefined && !JSON_CONTENT_TYPE.test(contentType.trim())) return headersOnly('content_type');
  const decoded = decodeBody(body, headers.get('content-encoding'), maxBodyBytes);
  if (decoded.kind === 'too_large') return tooLarge();
  if (decoded.kind === 'unknown_encoding') return headersOnly('content_encoding');
  if (decoded.kind === 'corrupt') return headersOnly('corrupt_encoding');
  const buffer = decoded.kind === 'decoded' ? decoded.body : body;
  try {
    return { kind: 'json', body: { buffer, scan: scanJsonBody(buffer), decodedFrom: decoded.kind === 'decoded' ? decoded.encoding : undefined } };
  } catch (error) {
    if (!(error instanceof JsonScanError)) throw error;
    return headersOnly('malformed_json');
  }
}
