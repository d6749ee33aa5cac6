/**
 * Worker-thread side of the body pool: prepares one body (decode, scan) and
 * hands the bytes back without copying them.
 */
import { Piscina } from 'piscina';
import { packScan, type PackedScan } from './packed-scan.js';
import { prepareJsonBody, type PreparedJson } from './prepare-body.js';

export interface BodyTask {
  /** The body's bytes, moved here (the sender's view of them is detached). */
  readonly bytes: ArrayBuffer;
  readonly byteOffset: number;
  readonly byteLength: number;
  readonly contentEncoding: string | undefined;
  readonly maxBytes: number;
}

export type BodyTaskResult =
  | { readonly kind: 'json'; readonly bytes: ArrayBuffer; readonly byteOffset: number; readonly byteLength: number; readonly scan: PackedScan; readonly decodedFrom: string | undefined }
  | Exclude<PreparedJson, { kind: 'json' }>;

export default function prepareInWorker(task: BodyTask): unknown {
  const prepared = prepareJsonBody(Buffer.from(task.bytes, task.byteOffset, task.byteLength), task.contentEncoding, task.maxBytes);
  if (prepared.kind !== 'json') return prepared;
  // The bytes received, or a decoded body with memory of its own, can move back; a view into
  // memory shared with other buffers (Node's pool) must be copied first.
  const buffer = prepared.buffer.buffer === task.bytes || prepared.buffer.byteLength === prepared.buffer.buffer.byteLength ? prepared.buffer : copyToOwnMemory(prepared.buffer);
  const bytes = buffer.buffer as ArrayBuffer;
  // The scan goes back packed: a clone of thousands of item objects would cost the event loop.
  const result: BodyTaskResult = { kind: 'json', bytes, byteOffset: buffer.byteOffset, byteLength: buffer.byteLength, scan: packScan(prepared.scan), decodedFrom: prepared.decodedFrom };
  // Piscina's transfer protocol: the value goes back, the bytes move with it instead of being copied.
  const movable = { [Piscina.transferableSymbol]: [bytes], [Piscina.valueSymbol]: result };
  return Piscina.move(movable as unknown as Parameters<typeof Piscina.move>[0]);
}

function copyToOwnMemory(view: Buffer): Buffer {
  const copy = Buffer.allocUnsafeSlow(view.byteLength);
  view.copy(copy);
  return copy;
}
