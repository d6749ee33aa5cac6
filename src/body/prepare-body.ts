import { decodeBody } from './decode.js';
import { JsonScanError, scanJsonBody, type BodyScan } from './json-scan.js';

/** Why a body is routed on its headers alone. */
export type UnreadableReason = 'content_encoding' | 'corrupt_encoding' | 'malformed_json';

export type PreparedJson =
  | { readonly kind: 'json'; readonly buffer: Buffer; readonly scan: BodyScan; readonly decodedFrom: string | undefined }
  | { readonly kind: 'too_large' }
  | { readonly kind: 'unreadable'; readonly reason: UnreadableReason };

/**
 * The body's one pass: decoded (bounded by maxBytes) and scanned once; the
 * scan is what signals, the content seed, healing and rewrites all read.
 * Pure, so it runs the same on the event loop or in a worker thread.
 */
export function prepareJsonBody(body: Buffer, contentEncoding: string | undefined, maxBytes: number): PreparedJson {
  const decoded = decodeBody(body, contentEncoding, maxBytes);
  if (decoded.kind === 'too_large') return { kind: 'too_large' };
  if (decoded.kind === 'unknown_encoding') return { kind: 'unreadable', reason: 'content_encoding' };
  if (decoded.kind === 'corrupt') return { kind: 'unreadable', reason: 'corrupt_encoding' };
  const buffer = decoded.kind === 'decoded' ? decoded.body : body;
  try {
    return { kind: 'json', buffer, scan: scanJsonBody(buffer), decodedFrom: decoded.kind === 'decoded' ? decoded.encoding : undefined };
  } catch (error) {
    if (!(error instanceof JsonScanError)) throw error;
    return { kind: 'unreadable', reason: 'malformed_json' };
  }
}
