import { describe, expect, it } from 'vitest';
import { classifyError, parseTryAgainIn } from '../../src/responses/classify-error.js';
import { cooldownUntil, exhaustedUntil, parseResetDuration, usedPercent } from '../../src/responses/upstream-limits.js';
import { upstreamErrors } from '../support/upstream-errors.js';

const NOW = 1_800_000_000_000;

describe('classifyError on recorded upstream errors', () => {
  it.each(upstreamErrors(NOW).map((fixture) => [fixture.name, fixture] as const))('%s', (_name, fixture) => {
    const result = classifyError(fixture.status, fixture.body, NOW);
    expect(result.errorClass).toBe(fixture.class);
    if (fixture.resetInSeconds !== undefined) expect(Math.round((result.resetAt! - NOW) / 1000)).toBe(fixture.resetInSeconds);
  });

  it('a plain-text or unknown body is "other", never a throw', () => {
    expect(classifyError(400, 'bad request', NOW).errorClass).toBe('other');
    expect(classifyError(418, null, NOW).errorClass).toBe('other');
    expect(classifyError(502, undefined, NOW).errorClass).toBe('server_error');
  });
});

describe('limits from headers and messages', () => {
  it.each([
    ['Please try again in 20s.', 20_000],
    ['Please try again in 1.5s.', 1500],
    ['Please try again in 120ms.', 120],
    ['Please try again in 6m0s.', 360_000],
    ['no hint', undefined],
  ])('parseTryAgainIn(%j) = %s', (message, expected) => {
    expect(parseTryAgainIn(message)).toBe(expected);
  });

  it('retry-after seconds and HTTP dates, x-codex reset-at when a window is full', () => {
    expect(cooldownUntil(new Map([['retry-after', '30']]), NOW)).toBe(NOW + 30_000);
    expect(cooldownUntil(new Map([['retry-after', new Date(NOW + 90_000).toUTCString()]]), NOW)).toBe(NOW + 90_000);
    const full = new Map([
      ['x-codex-primary-used-percent', '100'],
      ['x-codex-primary-reset-at', String(NOW / 1000 + 600)],
    ]);
    expect(cooldownUntil(full, NOW)).toBe(NOW + 600_000);
    expect(cooldownUntil(new Map([['x-codex-primary-used-percent', '40'], ['x-codex-primary-reset-at', String(NOW / 1000 + 600)]]), NOW)).toBeUndefined();
  });

  it('usage percent and exhausted public-API budgets', () => {
    expect(usedPercent(new Map([['x-codex-primary-used-percent', '12'], ['x-codex-secondary-used-percent', '93.5']]))).toBe(93.5);
    expect(usedPercent(new Map())).toBeUndefined();
    expect(parseResetDuration('6m0s')).toBe(360_000);
    expect(exhaustedUntil(new Map([['x-ratelimit-remaining-requests', '0'], ['x-ratelimit-reset-requests', '1.5s']]), NOW)).toBe(NOW + 1500);
    expect(exhaustedUntil(new Map([['x-ratelimit-remaining-requests', '3'], ['x-ratelimit-reset-requests', '1.5s']]), NOW)).toBeUndefined();
  });
});
