import type { BodyScan } from '../body/json-scan.js';
import type { BodyWorkerPool } from '../body/body-worker-pool.js';
import { prepareJsonBody } from '../body/prepare-body.js';
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

/**
 * The body as JSON to read and edit: decoded, size-checked, scanned once; or
 * why not. Large bodies are prepared in a worker thread when a pool is given;
 * `body` must not be used after this call (its memory may have moved).
 */
export async function readRequestBody(
  body: Buffer,
  endOfStream: boolean,
  headers: ReadonlyMap<string, string>,
  maxBodyBytes: number,
  metrics: Metrics,
  workers?: BodyWorkerPool,
): Promise<PreparedBody> {
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
  const encoding = headers.get('content-encoding');
  const prepared = workers ? await workers.prepare(body, encoding, maxBodyBytes) : prepareJsonBody(body, encoding, maxBodyBytes);
  if (prepared.kind === 'too_large') return tooLarge();
  if (prepared.kind === 'unreadable') return headersOnly(prepared.reason);
  return { kind: 'json', body: { buffer: prepared.buffer, scan: prepared.scan, decodedFrom: prepared.decodedFrom } };
}
