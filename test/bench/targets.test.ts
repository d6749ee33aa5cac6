import { describe, expect, it } from 'vitest';
import { computeTargets, TARGETS, type BenchCases, type ServerRun } from '../../bench/targets.js';
import { percentile, summarize } from '../../bench/stats.js';

function run(server: string, phases: Record<string, { p50: number; p99: number }>, throughput = 100): ServerRun {
  return {
    server,
    completed: 100,
    errors: 0,
    throughput,
    cpuPerExchangeMs: 0.5,
    rssBytes: 1,
    gc: { pauses: 0, milliseconds: 0, longestMilliseconds: 0 },
    phases: Object.fromEntries(Object.entries(phases).map(([phase, { p50, p99 }]) => [phase, { count: 100, p50, p99, p999: p99, max: p99 }])),
  };
}

function cases(processorFactor: number): BenchCases {
  const pair = (floorServer: string, phases: Record<string, { p50: number; p99: number }>) => ({
    floor: run(floorServer, phases),
    processor: run('affinity', Object.fromEntries(Object.entries(phases).map(([phase, { p50, p99 }]) => [phase, { p50: p50 * processorFactor, p99: p99 * processorFactor }]))),
  });
  return {
    upgrade: { description: '', load: {}, runs: pair('noop', { exchange: { p50: 1, p99: 4 } }) },
    'first-turn-sse': { description: '', load: {}, runs: pair('noop', { exchange: { p50: 10, p99: 20 }, response_body: { p50: 0.05, p99: 0.2 } }) },
    'first-turn-sse-max': { description: '', load: {}, runs: { floor: run('noop', {}, 200), processor: run('affinity', {}, 200 / processorFactor) } },
    'resumed-1mb': { description: '', load: {}, runs: pair('noop', { exchange: { p50: 5, p99: 30 } }) },
    'rewrite-1mb': { description: '', load: {}, runs: pair('echo', { exchange: { p50: 7, p99: 30 } }) },
    'head-of-line': {
      description: '',
      load: {},
      runs: { processor: run('affinity', { exchange: { p50: 2, p99: 6 } }), processor_with_large: run('affinity', { exchange: { p50: 2, p99: 6 * processorFactor } }) },
    },
    soak: { description: '', load: {}, runs: {}, values: { rssGrowthPercent: 5 * processorFactor, highestPhaseP99Ms: 30 * processorFactor } },
    'memory-1m-sessions': { description: '', load: {}, runs: {}, values: { rssMegabytes: 400 * processorFactor } },
    'redis-store': {
      description: '',
      load: {},
      runs: { processor: run('affinity', { request_body: { p50: 0.5, p99: 2 } }), redis: run('affinity-redis', { request_body: { p50: 0.5 + 0.25 * processorFactor, p99: 3 } }) },
    },
  };
}

describe('bench targets', () => {
  it('are all met by a processor as fast as its floors, each read from the cases', () => {
    const targets = computeTargets(cases(1));
    expect(targets).toHaveLength(TARGETS.length);
    for (const target of targets) {
      expect(target.value, target.name).not.toBeNull();
      expect(target.met, target.name).toBe(true);
    }
    expect(targets.find((target) => target.name.startsWith('1 MB rewrite'))).toMatchObject({ value: 1, unit: 'ratio', target: '≤ 1.3' });
  });

  it('are all missed by a processor 2.5 times as slow, in both directions (throughput at least, latency at most)', () => {
    const targets = computeTargets(cases(2.5));
    for (const target of targets) expect(target.met, target.name).toBe(false);
    expect(targets.find((target) => target.name.includes('maximum throughput'))).toMatchObject({ value: 0.4, target: '≥ 0.75' });
  });

  it('are not met when their case did not run, and say so with a null value', () => {
    const targets = computeTargets({});
    expect(targets.every((target) => target.value === null && !target.met)).toBe(true);
  });

  it('compare the rewrite with the echo floor, not the no-op floor', () => {
    const measured = cases(1);
    const rewrite = measured['rewrite-1mb']!;
    const withFasterProcessor = { ...measured, 'rewrite-1mb': { ...rewrite, runs: { ...rewrite.runs, processor: run('affinity-codex', { exchange: { p50: 9.8, p99: 30 } }) } } };
    expect(computeTargets(withFasterProcessor).find((target) => target.name.startsWith('1 MB rewrite'))).toMatchObject({ value: 1.4, met: false });
  });
});

describe('bench statistics', () => {
  it('take the nearest-rank percentile', () => {
    const samples = Array.from({ length: 1000 }, (_, index) => 1000 - index);
    expect(summarize(samples)).toMatchObject({ count: 1000, p50: 500, p99: 990, p999: 999, max: 1000 });
    expect(percentile([3], 0.99)).toBe(3);
    expect(Number.isNaN(percentile([], 0.5))).toBe(true);
  });
});
