import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { BodyTask, BodyTaskResult } from './body-worker.js';
import { unpackScan } from './packed-scan.js';
import { prepareJsonBody, type PreparedJson } from './prepare-body.js';

export interface BodyWorkerPoolOptions {
  /** Bodies of at least this many bytes are prepared in a worker thread. */
  readonly thresholdBytes: number;
  /** Worker threads (the machine's cores less the event loop's, at least one). */
  readonly maxThreads: number;
}

/**
 * A compressed body's work grows with what it decodes to, not its wire size:
 * it counts this many times its size against the threshold (JSON compresses
 * about tenfold).
 */
export const COMPRESSED_WEIGHT = 16;

/** The worker module next to this one: .js when built, .ts under vitest/tsx (loaded through tsx). */
function workerFile(): { filename: string; execArgv: string[] } {
  const here = fileURLToPath(import.meta.url);
  const typescript = here.endsWith('.ts');
  return { filename: here.replace(/body-worker-pool\.(ts|js)$/, `body-worker.${typescript ? 'ts' : 'js'}`), execArgv: typescript ? ['--import', 'tsx'] : [] };
}

/**
 * Whether the body's memory holds nothing else but its own message's framing
 * (grpc-js gives each large message a buffer of its own and the body is a view
 * into it): then that memory can move to a worker. Small buffers share Node's
 * pool and are never moved.
 */
const FRAMING_BYTES = 64;
function ownsItsMemory(body: Buffer): boolean {
  return body.byteLength > 64 * 1024 && body.buffer.byteLength - body.byteLength <= FRAMING_BYTES;
}

function copyToOwnMemory(view: Buffer): Buffer {
  const copy = Buffer.allocUnsafeSlow(view.byteLength);
  view.copy(copy);
  return copy;
}

/**
 * Large bodies decoded and scanned off the event loop, so small exchanges
 * never queue behind them. The body's bytes move to the worker and back
 * without a copy when the body owns its memory (else they are copied once).
 * Threads start on the first large body and stop when idle.
 */
export class BodyWorkerPool {
  private pool: Piscina | undefined;
  private closed = false;

  constructor(private readonly options: BodyWorkerPoolOptions) {}

  /** Whether this body goes to a worker. */
  offloads(body: Buffer, contentEncoding: string | undefined): boolean {
    const encoded = contentEncoding !== undefined && contentEncoding.trim() !== '' && contentEncoding.trim().toLowerCase() !== 'identity';
    return !this.closed && body.length * (encoded ? COMPRESSED_WEIGHT : 1) >= this.options.thresholdBytes;
  }

  /**
   * Prepares the body in a worker when it is large, else here. The caller must
   * not use `body` afterwards: its memory may have moved; use the result's buffer.
   */
  async prepare(body: Buffer, contentEncoding: string | undefined, maxBytes: number): Promise<PreparedJson> {
    if (!this.offloads(body, contentEncoding)) return prepareJsonBody(body, contentEncoding, maxBytes);
    const owned = ownsItsMemory(body) ? body : copyToOwnMemory(body);
    const bytes = owned.buffer as ArrayBuffer;
    const task: BodyTask = { bytes, byteOffset: owned.byteOffset, byteLength: owned.byteLength, contentEncoding, maxBytes };
    const result = (await this.threads().run(task, { transferList: [bytes] })) as BodyTaskResult;
    if (result.kind !== 'json') return result;
    return { kind: 'json', buffer: Buffer.from(result.bytes, result.byteOffset, result.byteLength), scan: unpackScan(result.scan), decodedFrom: result.decodedFrom };
  }

  private threads(): Piscina {
    if (!this.pool) {
      const { filename, execArgv } = workerFile();
      this.pool = new Piscina({ filename, execArgv, minThreads: 0, maxThreads: this.options.maxThreads, idleTimeout: 30_000 });
    }
    return this.pool;
  }

  async close(): Promise<void> {
    this.closed = true;
    const pool = this.pool;
    this.pool = undefined;
    await pool?.destroy();
  }
}
