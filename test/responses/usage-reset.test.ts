import { describe, expect, it } from 'vitest';
import { budgetReading, usageReading } from '../../src/responses/upstream-limits.js';

const NOW = 1_800_000_000_000;
const headers = (entries: Record<string, string>) => new Map(Object.entries(entries));

describe('usageReading: how full an account is, and until when the reading holds', () => {
  it('the fullest usage window, held until its reset (reset-at in epoch seconds)', () => {
    const reading = headers({
      'x-codex-primary-used-percent': '30',
      'x-codex-primary-reset-at': String(NOW / 1000 + 600),
      'x-codex-secondary-used-percent': '70',
      'x-codex-secondary-reset-at': String(NOW / 1000 + 86_400),
    });
    expect(usageReading(reading, NOW)).toEqual({ percent: 70, resetsAt: NOW + 86_400_000 });
  });

  it('reset-after-seconds when no reset-at', () => {
    expect(usageReading(headers({ 'x-codex-primary-used-percent': '30', 'x-codex-primary-reset-after-seconds': '120' }), NOW)).toEqual({ percent: 30, resetsAt: NOW + 120_000 });
  });

  it("the public API's per-minute budgets, read apart: x-ratelimit-remaining of x-ratelimit-limit, held until x-ratelimit-reset", () => {
    const reading = headers({
      'x-codex-primary-used-percent': '10',
      'x-ratelimit-limit-requests': '500',
      'x-ratelimit-remaining-requests': '499',
      'x-ratelimit-reset-requests': '120ms',
      'x-ratelimit-limit-tokens': '200000',
      'x-ratelimit-remaining-tokens': '50000',
      'x-ratelimit-reset-tokens': '6m0s',
    });
    expect(budgetReading(reading, NOW)).toEqual({ percent: 75, resetsAt: NOW + 360_000 });
    expect(usageReading(reading, NOW)).toEqual({ percent: 10, resetsAt: undefined });
    expect(budgetReading(headers({ 'x-ratelimit-limit-requests': '0', 'x-ratelimit-remaining-requests': '0' }), NOW)).toBeUndefined();
  });

  it('no reset named, a reset in the past, garbage, a zero limit, nothing reported', () => {
    expect(usageReading(headers({ 'x-codex-primary-used-percent': '30' }), NOW)).toEqual({ percent: 30, resetsAt: undefined });
    expect(usageReading(headers({ 'x-codex-primary-used-percent': '30', 'x-codex-primary-reset-at': String(NOW / 1000 - 5) }), NOW)).toEqual({ percent: 30, resetsAt: undefined });
    expect(usageReading(headers({ 'x-codex-primary-used-percent': 'lots' }), NOW)).toBeUndefined();
    expect(usageReading(headers({}), NOW)).toBeUndefined();
  });
});
