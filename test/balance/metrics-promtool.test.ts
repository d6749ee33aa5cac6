// The balancing metrics as Prometheus itself reads them: `promtool check metrics` (Debian's
// prometheus package; .ci/run installs it) lints the processor's /metrics text after moves.
import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestProcessor, type TestProcessor } from '../support/processor.js';
import { metricSamples, softRequest, turn } from './support.js';

let processor: TestProcessor | undefined;
afterEach(async () => {
  await processor?.close();
  processor = undefined;
});

function promtool(text: string): { status: number | null; output: string } {
  const run = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 20_000 });
  if (run.error) throw new Error(`promtool is needed for this test (apt-get install prometheus): ${run.error.message}`);
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

describe('balancing metrics, linted by promtool', () => {
  it('moves, held moves and the per-account performance gauges pass promtool check metrics', async () => {
    const elapsed = { now: 0 };
    processor = await startTestProcessor({}, { elapsed: () => elapsed.now });
    for (let index = 0; index < 6; index++) await turn(processor, elapsed, softRequest(`lint-${index}`));
    processor.clock.now += 1000;
    processor.server.context.balance.flushPool('default', processor.clock.now);
    processor.clock.now += 1000;
    for (let index = 0; index < 6; index++) await turn(processor, elapsed, softRequest(`lint-${index}`));
    expect((await metricSamples(processor, 'codex_affinity_binding_moves_total')).length).toBeGreaterThan(0);
    const text = await processor.server.context.metrics.registry.metrics();
    const result = promtool(text);
    const balancing = result.output.split('\n').filter((line) => /moves|account_(headers|first_event)_seconds|account_error_rate/.test(line));
    expect(balancing).toEqual([]);
  });
});
