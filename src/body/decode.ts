import { brotliDecompressSync, gunzipSync, inflateSync, inflateRawSync, constants } from 'node:zlib';
import * as zlib from 'node:zlib';
import { Decompress as ZstdDecompress } from 'fzstd';

export type DecodeResult =
  | { readonly kind: 'identity' }
  | { readonly kind: 'decoded'; readonly body: Buffer; readonly encoding: string }
  | { readonly kind: 'unknown_encoding'; readonly encoding: string }
  | { readonly kind: 'too_large' }
  | { readonly kind: 'corrupt'; readonly encoding: string };

type ZstdSync = (buffer: Buffer, options: { maxOutputLength: number }) => Buffer;
const nativeZstd = (zlib as unknown as { zstdDecompressSync?: ZstdSync }).zstdDecompressSync;

/** Input slice fed to the pure-JS zstd decoder between size checks (bounds a bomb's burst). */
const ZSTD_SLICE = 512;

function zstdDecode(body: Buffer, maxBytes: number): Buffer {
  if (nativeZstd) return nativeZstd(body, { maxOutputLength: maxBytes });
  const chunks: Uint8Array[] = [];
  let size = 0;
  const decoder = new ZstdDecompress((data) => {
    size += data.length;
    if (size > maxBytes) throw new RangeError('zstd output over the limit');
    chunks.push(data);
  });
  for (let offset = 0; offset < body.length; offset += ZSTD_SLICE) {
    decoder.push(body.subarray(offset, offset + ZSTD_SLICE), offset + ZSTD_SLICE >= body.length);
  }
  return Buffer.concat(chunks, size);
}

function isOverLimit(error: unknown): boolean {
  return (
    error instanceof RangeError ||
    (error as NodeJS.ErrnoException)?.code === 'ERR_BUFFER_TOO_LARGE' ||
    (error as { code?: unknown })?.code === constants.Z_BUF_ERROR && /maxOutputLength|too large/i.test(String((error as Error).message))
  );
}

/**
 * Decodes a request body for inspection, never producing more than maxBytes
 * (a compressed body must not become a memory bomb). Only a single coding is
 * understood; stacked codings ("gzip, br") are reported as unknown.
 */
export function decodeBody(body: Buffer, contentEncoding: string | undefined, maxBytes: number): DecodeResult {
  const encoding = contentEncoding?.trim().toLowerCase();
  if (!encoding || encoding === 'identity') return { kind: 'identity' };
  const options = { maxOutputLength: maxBytes };
  try {
    switch (encoding) {
      case 'gzip':
      case 'x-gzip':
        return { kind: 'decoded', body: gunzipSync(body, options), encoding };
      case 'deflate':
        // RFC 9110 deflate is zlib-wrapped; some clients send raw deflate.
        try {
          return { kind: 'decoded', body: inflateSync(body, options), encoding };
        } catch (error) {
          if (isOverLimit(error)) throw error;
          return { kind: 'decoded', body: inflateRawSync(body, options), encoding };
        }
      case 'br':
        return { kind: 'decoded', body: brotliDecompressSync(body, options), encoding };
      case 'zstd':
        return { kind: 'decoded', body: zstdDecode(body, maxBytes), encoding };
      default:
        return { kind: 'unknown_encoding', encoding };
    }
  } catch (error) {
    return isOverLimit(error) ? { kind: 'too_large' } : { kind: 'corrupt', encoding };
  }
}
