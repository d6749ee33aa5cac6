import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Open loop: exchanges start at a fixed rate whatever the answers do, so a
 * slow processor shows as queueing. `start` gets each exchange's due time.
 */
export async function openLoop(rate: number, durationMs: number, start: (index: number, dueAt: bigint) => Promise<void>): Promise<void> {
  const total = Math.max(1, Math.round((rate * durationMs) / 1000));
  const intervalNs = BigInt(Math.round(1e9 / rate));
  const origin = process.hrtime.bigint();
  const running: Array<Promise<void>> = [];
  let next = 0;
  while (next < total) {
    const now = process.hrtime.bigint();
    while (next < total && origin + BigInt(next) * intervalNs <= now) {
      running.push(start(next, origin + BigInt(next) * intervalNs));
      next++;
    }
    if (next < total) {
      const waitMs = Number(origin + BigInt(next) * intervalNs - process.hrtime.bigint()) / 1e6;
      await sleep(Math.max(0, Math.min(waitMs, 5)));
    }
  }
  await Promise.all(running);
}

/** Closed loop: `concurrency` workers each run exchanges back to back until `durationMs` ends. */
export async function closedLoop(concurrency: number, durationMs: number, run: (index: number) => Promise<void>): Promise<number> {
  const deadline = Date.now() + durationMs;
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < deadline) await run(next++);
    }),
  );
  return next;
}
