// The drain rules (src/shutdown/drain.ts), pure, and the probe that tells Envoy has exited.
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { drainStep, refusesConnections, waitForDrain } from '../../src/shutdown/drain.js';

const RULES = { deadline: 10_000, idleMilliseconds: 2_000 };

describe('drainStep', () => {
  it('with Envoy\'s address: leaves only once Envoy is gone and no stream is open', () => {
    expect(drainStep({ now: 100, openStreams: 0, lastBusy: 0, envoyGone: true }, RULES)).toBe('drained');
    expect(drainStep({ now: 100, openStreams: 1, lastBusy: 100, envoyGone: true }, RULES)).toBe('wait');
    // Envoy still up and idle for long: it may still send a request, so the processor stays.
    expect(drainStep({ now: 9_000, openStreams: 0, lastBusy: 0, envoyGone: false }, RULES)).toBe('wait');
  });

  it('without it: leaves once nothing has been open for the idle time', () => {
    expect(drainStep({ now: 1_999, openStreams: 0, lastBusy: 0, envoyGone: undefined }, RULES)).toBe('wait');
    expect(drainStep({ now: 2_000, openStreams: 0, lastBusy: 0, envoyGone: undefined }, RULES)).toBe('drained');
    expect(drainStep({ now: 5_000, openStreams: 2, lastBusy: 5_000, envoyGone: undefined }, RULES)).toBe('wait');
  });

  it('at the deadline, leaves whatever is open (the caller cuts and counts it)', () => {
    expect(drainStep({ now: 10_000, openStreams: 3, lastBusy: 10_000, envoyGone: false }, RULES)).toBe('deadline');
    expect(drainStep({ now: 10_000, openStreams: 0, lastBusy: 9_999, envoyGone: false }, RULES)).toBe('deadline');
    // Drained wins over the deadline when both hold: nothing is cut.
    expect(drainStep({ now: 10_000, openStreams: 0, lastBusy: 0, envoyGone: true }, RULES)).toBe('drained');
  });
});

describe('refusesConnections', () => {
  it('is false while something listens and true once it has closed', async () => {
    const server = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    expect(await refusesConnections(address)).toBe(false);
    await new Promise((resolve) => server.close(resolve));
    expect(await refusesConnections(address)).toBe(true);
  });
});

describe('waitForDrain', () => {
  it('waits for the last stream, then for the idle time', async () => {
    let open = 1;
    setTimeout(() => (open = 0), 300);
    const outcome = await waitForDrain({ graceMilliseconds: 5_000, idleMilliseconds: 200, envoyAdmin: undefined, openStreams: () => open, pollMilliseconds: 20 });
    expect(outcome.step).toBe('drained');
    expect(outcome.waitedMilliseconds).toBeGreaterThanOrEqual(480);
    expect(outcome.waitedMilliseconds).toBeLessThan(3_000);
  });

  it('reports the streams still open at the deadline', async () => {
    const outcome = await waitForDrain({ graceMilliseconds: 200, idleMilliseconds: 50, envoyAdmin: undefined, openStreams: () => 2, pollMilliseconds: 20 });
    expect(outcome).toMatchObject({ step: 'deadline', openStreams: 2 });
  });
});
