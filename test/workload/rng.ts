// Deterministic randomness for the workload: a seeded PRNG and UUIDv7-shaped ids.
import { createHash } from 'node:crypto';

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  int(maxExclusive: number): number;
  bytes(n: number): Uint8Array;
  uuid(): string;
  /** Deterministic epoch-ms clock for turn_started_at_unix_ms and UUIDv7 time bits. */
  clockMs(): number;
}

/** A PRNG seeded by (seed, ...labels): equal labels give equal streams, whatever the scheduling. */
export function createRng(seed: number, ...labels: (string | number)[]): Rng {
  const h = createHash('sha256').update(`${seed}:${labels.join('/')}`).digest();
  let a = h.readUInt32LE(0);
  let b = h.readUInt32LE(4);
  let c = h.readUInt32LE(8);
  let d = h.readUInt32LE(12);
  // sfc32
  const next = (): number => {
    a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  let clock = 1_795_546_824_924 + Math.floor(next() * 1_000_000_000);
  const bytes = (n: number): Uint8Array => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = Math.floor(next() * 256);
    return out;
  };
  return {
    next,
    int: (max) => Math.floor(next() * max),
    bytes,
    clockMs: () => (clock += 1 + Math.floor(next() * 5000)),
    uuid: () => {
      const r = bytes(16);
      const ms = clock + Math.floor(next() * 1000);
      for (let i = 0; i < 6; i++) r[i] = Math.floor(ms / 2 ** (8 * (5 - i))) & 0xff;
      r[6] = (r[6]! & 0x0f) | 0x70;
      r[8] = (r[8]! & 0x3f) | 0x80;
      const hex = Buffer.from(r).toString('hex');
      return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
    },
  };
}
