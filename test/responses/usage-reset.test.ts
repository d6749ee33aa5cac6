import { describe, expect, it } from 'vitest';
import { usageResetsAt } from '../../src/responses/upstream-limits.js';

const NOW = 1_800_000_000_000;
const headers = (entries: Record<string, string>) => new Map(Object.entries(entries));

describe('usageResetsAt: when a usage reading stops being true', () => {
  it('the reset of the fullest window: reset-at in epoch seconds', () => {
    const reading = headers({
      'x-codex-primary-used-percent': '30',
      'x-codex-primary-reset-at': String(NOW / 1000 + 600),
      'x-codex-secondary-used-percent': '70',
      'x-codex-secondary-reset-at': String(NOW / 1000 + 86_400),
    });
    expect(usageResetsAt(reading, NOW)).toBe(NOW + 86_400_000);
  });

  it('reset-after-seconds when no reset-at', () => {
    expect(usageResetsAt(headers({ 'x-codex-primary-used-percent': '30', 'x-codex-primary-reset-after-seconds': '120' }), NOW)).toBe(NOW + 120_000);
  });

  it('no reset named, a reset in the past, or garbage: undefined', () => {
    expect(usageResetsAt(headers({ 'x-codex-primary-used-percent': '30' }), NOW)).toBeUndefined();
    expect(usageResetsAt(headers({ 'x-codex-primary-used-percent': '30', 'x-codex-primary-reset-at': String(NOW / 1000 - 5) }), NOW)).toBeUndefined();
    expect(usageResetsAt(headers({ 'x-codex-primary-used-percent': '30', 'x-codex-primary-reset-at': 'soon' }), NOW)).toBeUndefined();
    expect(usageResetsAt(headers({}), NOW)).toBeUndefined();
  });
});
