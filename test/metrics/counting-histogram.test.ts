import fc from 'fast-check';
import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { CountingHistogram } from '../../src/metrics/counting-histogram.js';
import { PHASE_BUCKETS } from '../../src/metrics/metrics.js';

describe('counting histogram', () => {
  it("exports exactly what prom-client's Histogram exports for the same observations", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.constantFrom('request_headers', 'request_body', 'response_body'), fc.oneof(fc.double({ min: 0, max: 2, noNaN: true }), fc.constantFrom(...PHASE_BUCKETS), fc.constant(0))), { maxLength: 60 }),
        async (observations) => {
          const theirs = new Registry();
          const ours = new Registry();
          const reference = new Histogram({ name: 'x_phase_seconds', help: 'Phase time.', labelNames: ['phase'], buckets: PHASE_BUCKETS, registers: [theirs] });
          const counting = new CountingHistogram({ name: 'x_phase_seconds', help: 'Phase time.', labelName: 'phase', buckets: PHASE_BUCKETS, registers: [ours] });
          for (const [phase, seconds] of observations) {
            reference.observe({ phase }, seconds);
            counting.observe({ phase }, seconds);
          }
          expect(await ours.metrics()).toBe(await theirs.metrics());
          expect((await counting.get()).values).toEqual((await reference.get()).values.map(({ labels, value, metricName }) => ({ labels, value, metricName })));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('refuses a value that is not a number, as prom-client does', () => {
    const counting = new CountingHistogram({ name: 'y_seconds', help: 'h', labelName: 'phase', buckets: [1], registers: [] });
    expect(() => counting.observe({ phase: 'a' }, Number.NaN)).toThrow(TypeError);
  });
});
