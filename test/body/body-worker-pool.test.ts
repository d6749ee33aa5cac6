import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { BodyWorkerPool } from '../../src/body/body-worker-pool.js';
import { prepareJsonBody } from '../../src/body/prepare-body.js';

let pool: BodyWorkerPool | undefined;
afterEach(async () => {
  await pool?.close();
  pool = undefined;
});

function codexBody(items: number): Buffer {
  const input: unknown[] = [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'fix "it" \\ now' }] }];
  for (let index = 0; index < items; index++) {
    input.push({ type: 'reasoning', id: `rs_${index}`, summary: [], encrypted_content: 'gAAAA'.repeat(200) });
    input.push({ type: 'function_call_output', call_id: `call_${index}`, output: `"prompt_cache_key": "forged-${index}"` });
  }
  return Buffer.from(JSON.stringify({ model: 'gpt-5.1-codex', prompt_cache_key: 'session-1', store: false, input }));
}

/** A body the way grpc-js hands it over: a view into a message buffer of its own, after a few framing bytes. */
function framed(body: Buffer): Buffer {
  const message = Buffer.allocUnsafeSlow(body.length + 9);
  body.copy(message, 9);
  return message.subarray(9);
}

const sameScan = (body: Buffer) => JSON.parse(JSON.stringify(prepareJsonBody(body, undefined, 1 << 30), (_key, value: unknown) => (value instanceof Map ? [...value] : Buffer.isBuffer(value) ? value.toString('base64') : value)));
const plain = (value: unknown) => JSON.parse(JSON.stringify(value, (_key, inner: unknown) => (inner instanceof Map ? [...inner] : Buffer.isBuffer(inner) ? inner.toString('base64') : inner)));

describe('body worker pool', () => {
  it('prepares a body above the threshold in a worker: its memory moves there and back, and the scan is the one done in-process', async () => {
    pool = new BodyWorkerPool({ thresholdBytes: 64 * 1024, maxThreads: 1 });
    const original = codexBody(400);
    const expected = sameScan(original);
    const body = framed(original);
    expect(pool.offloads(body, undefined)).toBe(true);
    const prepared = await pool.prepare(body, undefined, 1 << 30);
    // The caller's view is detached: the bytes left this thread without a copy.
    expect(body.length).toBe(0);
    expect(prepared.kind).toBe('json');
    expect(plain(prepared)).toEqual(expected);
    if (prepared.kind === 'json') expect(prepared.buffer.equals(original)).toBe(true);
  });

  it('copies a body whose memory is shared with other data, leaving the caller’s bytes intact', async () => {
    pool = new BodyWorkerPool({ thresholdBytes: 64 * 1024, maxThreads: 1 });
    const original = codexBody(400);
    const shared = Buffer.concat([original, Buffer.alloc(4096, 0x20)]);
    const body = shared.subarray(0, original.length);
    const prepared = await pool.prepare(body, undefined, 1 << 30);
    expect(body.equals(original)).toBe(true);
    expect(plain(prepared)).toEqual(sameScan(original));
  });

  it('keeps small bodies on the event loop (answered in the same call, memory untouched)', async () => {
    pool = new BodyWorkerPool({ thresholdBytes: 64 * 1024, maxThreads: 1 });
    const body = framed(codexBody(2));
    expect(pool.offloads(body, undefined)).toBe(false);
    const prepared = await pool.prepare(body, undefined, 1 << 30);
    expect(body.length).toBeGreaterThan(0);
    expect(prepared.kind).toBe('json');
  });

  it('counts a compressed body by what it may decode to, and decodes it in the worker', async () => {
    pool = new BodyWorkerPool({ thresholdBytes: 64 * 1024, maxThreads: 1 });
    const original = codexBody(400);
    const compressed = gzipSync(original);
    expect(compressed.length).toBeLessThan(64 * 1024);
    expect(pool.offloads(compressed, 'gzip')).toBe(true);
    const prepared = await pool.prepare(framed(compressed), 'gzip', 1 << 30);
    expect(prepared.kind).toBe('json');
    if (prepared.kind === 'json') {
      expect(prepared.decodedFrom).toBe('gzip');
      expect(prepared.buffer.equals(original)).toBe(true);
    }
  });

  it('answers in the worker what cannot be read: a decompression bomb is too large, broken JSON and unknown codings are unreadable', async () => {
    pool = new BodyWorkerPool({ thresholdBytes: 1024, maxThreads: 1 });
    const bomb = gzipSync(Buffer.alloc(4 * 1024 * 1024, 0x20));
    expect(await pool.prepare(framed(bomb), 'gzip', 1024 * 1024)).toEqual({ kind: 'too_large' });
    const broken = Buffer.concat([codexBody(40).subarray(0, -1)]);
    expect(await pool.prepare(framed(broken), undefined, 1 << 30)).toEqual({ kind: 'unreadable', reason: 'malformed_json' });
    expect(await pool.prepare(framed(codexBody(40)), 'compress', 1 << 30)).toEqual({ kind: 'unreadable', reason: 'content_encoding' });
  });

  it('after close, works on the event loop again rather than failing', async () => {
    pool = new BodyWorkerPool({ thresholdBytes: 1024, maxThreads: 1 });
    await pool.close();
    const body = framed(codexBody(40));
    expect(pool.offloads(body, undefined)).toBe(false);
    expect((await pool.prepare(body, undefined, 1 << 30)).kind).toBe('json');
  });
});
