import { decodeBody } from '../body/decode.js';
import { JsonScanError, scanJsonBody } from '../body/json-scan.js';
import type { ImmediateAnswer } from '../extproc/phase-answer.js';
import type { ReadableBody } from '../healing/prune-unreadable.js';
import type { Metrics } from '../metrics/metrics.js';
import { openAiError } from '../processor/errors.js';
import { JSON_CONTENT_TYPE } from './request-view.js';

export type PreparedBody = { kind: 'json'; body: ReadableBody } | { kind: 'headers_only' } | { kind: 'reject'; answer: ImmediateAnswer };

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
    return { kind: 'reject', answer: openAiError(413, 'request_too_large', `The request body is larger than this gateway accepts (${maxBodyBytes} bytes).`) };
  };
  if (body.length > maxBodyBytes) return tooLarge();
  const headersOnly = (reason: string): PreparedBody => {
    metrics.bodyScanFailures.inc({ reason });
    return { kind: 'headers_only' };
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
