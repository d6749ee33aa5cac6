import { describe, expect, it } from 'vitest';
import { AccountStateTable, isNearLimit, isUsable, USAGE_FRESHNESS_MILLISECONDS } from '../../src/accounts/health.js';

const policy = { failureWindowMilliseconds: 60_000, failureThreshold: 3, nearLimitPercent: 90 };

describe('account state', () => {
  it('failures slide out of the window; a success forgets one', () => {
    const table = new AccountStateTable(policy);
    for (const at of [0, 10_000, 20_000]) table.recordFailure('a', at);
    expect(isUsable(table.view('a', 20_000), policy, 20_000)).toBe(false);
    expect(isUsable(table.view('a', 60_001), policy, 60_001)).toBe(true);
    table.recordFailure('b', 0);
    table.recordFailure('b', 0);
    table.recordFailure('b', 0);
    table.recordSuccess('b');
    expect(table.view('b', 1).recentFailures).toBe(2);
  });

  it('a cooldown is only ever extended by coolDown', () => {
    const table = new AccountStateTable(policy);
    expect(table.coolDown('a', 30_000)).toBe(30_000);
    expect(table.coolDown('a', 10_000)).toBe(30_000);
    expect(table.view('a', 0).coolingDownUntil).toBe(30_000);
    table.coolDown('a', 50_000);
    expect(table.view('a', 0).coolingDownUntil).toBe(50_000);
  });

  it('near-limit usage counts while fresh; a full window is left to its cooldown and forgotten after the reset', () => {
    const table = new AccountStateTable(policy);
    table.recordUsage('a', 95, 1000);
    expect(isNearLimit(table.view('a', 1000), policy)).toBe(true);
    expect(table.view('a', 1000 + USAGE_FRESHNESS_MILLISECONDS + 1).usedPercent).toBe(0);
    table.recordUsage('b', 100, 1000);
    table.coolDown('b', 5000);
    expect(isNearLimit(table.view('b', 2000), policy)).toBe(false);
    expect(table.view('b', 2000).usedPercent).toBe(100);
    expect(table.view('b', 5001).usedPercent).toBe(0);
  });

  it('a reading with a named reset holds until that reset (an account kept idle is still as full), never beyond eight days', () => {
    const table = new AccountStateTable(policy);
    const hour = 3_600_000;
    table.recordUsage('a', 60, 0, 5 * hour);
    expect(table.view('a', 4 * hour).usedPercent).toBe(60);
    expect(table.view('a', 5 * hour).usedPercent).toBe(0);
    table.recordUsage('b', 40, 0, 1e15);
    expect(table.view('b', 8 * 24 * hour - 1).usedPercent).toBe(40);
    expect(table.view('b', 8 * 24 * hour).usedPercent).toBe(0);
    // A reset already past names nothing: the freshness window applies.
    table.recordUsage('c', 50, 1000, 500);
    expect(table.view('c', 1000 + USAGE_FRESHNESS_MILLISECONDS + 1).usedPercent).toBe(0);
  });

  it('a credential failure blocks new sessions until the recheck time, and reports news once', () => {
    const table = new AccountStateTable(policy);
    expect(table.recordCredentialFailure('a', 300_000, 0)).toBe(true);
    expect(table.recordCredentialFailure('a', 300_000, 10)).toBe(false);
    expect(isUsable(table.view('a', 1000), policy, 1000)).toBe(false);
    expect(isUsable(table.view('a', 300_001), policy, 300_001)).toBe(true);
  });
});
