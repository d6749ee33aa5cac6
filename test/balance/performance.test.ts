import { describe, expect, it } from 'vitest';
import { AccountPerformance, addSample, EMPTY_AVERAGE, readAverage } from '../../src/balance/performance.js';
import { takeToken } from '../../src/balance/move-budget.js';
import { asksExtendedRetention } from '../../src/balance/cache-retention.js';
import { scanJsonBody } from '../../src/body/json-scan.js';

const HALF_LIFE = 60_000;

describe('decaying averages', () => {
  it('a burst at one instant counts every sample (no sample is lost to a zero interval)', () => {
    let average = EMPTY_AVERAGE;
    for (const sample of [100, 200, 300]) average = addSample(average, sample, 1000, HALF_LIFE);
    expect(readAverage(average, 1000, HALF_LIFE)).toEqual({ mean: 200, samples: 3 });
  });

  it('old samples fade: after a slow spell, fast answers bring the mean back down', () => {
    let average = EMPTY_AVERAGE;
    for (let index = 0; index < 10; index++) average = addSample(average, 2500, index * 1000, HALF_LIFE);
    for (let index = 0; index < 10; index++) average = addSample(average, 500, 300_000 + index * 1000, HALF_LIFE);
    expect(readAverage(average, 310_000, HALF_LIFE).mean).toBeLessThan(600);
  });

  it('a long fast history does not hide a turn to slow: four slow answers outweigh it', () => {
    let average = EMPTY_AVERAGE;
    for (let index = 0; index < 200; index++) average = addSample(average, 300, index * 100, HALF_LIFE);
    for (let index = 0; index < 4; index++) average = addSample(average, 2300, 20_000 + index * 100, HALF_LIFE);
    expect(readAverage(average, 20_400, HALF_LIFE).mean).toBeGreaterThan(1300);
  });

  it('without traffic the evidence decays: a once-slow account stops counting as measured', () => {
    const performance = new AccountPerformance(HALF_LIFE);
    for (let index = 0; index < 4; index++) performance.recordFirstEvent('a', 3000, 0);
    expect(performance.view('a', 0).firstEventSamples).toBe(4);
    expect(performance.view('a', 3 * HALF_LIFE).firstEventSamples).toBeCloseTo(0.5, 5);
  });

  it('error rate is the decayed share of failed outcomes', () => {
    const performance = new AccountPerformance(HALF_LIFE);
    for (const failed of [true, false, false, true]) performance.recordOutcome('a', failed, 5);
    expect(performance.view('a', 5).errorRate).toBe(0.5);
    expect(performance.view('unknown', 5).errorRate).toBeUndefined();
  });
});

describe('usage-move budget', () => {
  it('at most movesPerMinute moves in a minute, refilled over time, never more than a minute in reserve', () => {
    let bucket: Parameters<typeof takeToken>[0];
    let taken = 0;
    for (let index = 0; index < 20; index++) {
      const result = takeToken(bucket, 0, 6);
      bucket = result.bucket;
      if (result.taken) taken++;
    }
    expect(taken).toBe(6);
    expect(takeToken(bucket, 9_000, 6).taken).toBe(false);
    expect(takeToken(bucket, 10_000, 6).taken).toBe(true);
    // An hour idle holds one minute's worth, not sixty.
    let later = takeToken(bucket, 3_600_000, 6).bucket;
    let burst = 1;
    while (takeToken(later, 3_600_000, 6).taken) {
      later = takeToken(later, 3_600_000, 6).bucket;
      burst++;
    }
    expect(burst).toBe(6);
  });

  it('zero moves per minute allows none', () => {
    expect(takeToken(undefined, 0, 0).taken).toBe(false);
  });
});

describe('extended prompt cache retention, read from the exact bytes', () => {
  const scanned = (text: string) => {
    const buffer = Buffer.from(text);
    return { buffer, scan: scanJsonBody(buffer) };
  };

  it.each([
    ['{"model":"m","prompt_cache_retention":"24h"}', true],
    ['{"model":"m","prompt_cache_retention" : "24h" }', true],
    ['{"model":"m","prompt_cache_retention":"in_memory"}', false],
    ['{"model":"m","input":"prompt_cache_retention\\":\\"24h"}', false],
    ['{"model":"m"}', false],
  ])('%s → %s', (text, expected) => {
    expect(asksExtendedRetention(scanned(text))).toBe(expected);
  });

  it('no body: not extended', () => {
    expect(asksExtendedRetention(undefined)).toBe(false);
  });
});
