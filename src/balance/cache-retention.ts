import type { BodyScan } from '../body/json-scan.js';

const EXTENDED = Buffer.from('"24h"');

/** The request asks for `prompt_cache_retention: "24h"`: its cache may outlive the default lifetime. Exact bytes, no parse. */
export function asksExtendedRetention(body: { readonly buffer: Buffer; readonly scan: BodyScan } | undefined): boolean {
  const span = body?.scan.fields.get('prompt_cache_retention');
  if (!span || span.end - span.start !== EXTENDED.length) return false;
  return body!.buffer.subarray(span.start, span.end).equals(EXTENDED);
}
