import { describe, expect, it } from 'vitest';
import { flushedBy, OperatorState } from '../../src/accounts/operator-state.js';
import type { Binding } from '../../src/bindings/binding.js';

const soft = (account: string, createdAt: number): Binding => ({ account, domain: 'd', strength: 'soft', createdAt, lastSeenAt: createdAt });

describe('operator state', () => {
  it('a flush forgets soft bindings created up to it, of its account or pool only; hard bindings never', () => {
    const marks = { accounts: new Map([['a', 100]]), pools: new Map([['team', 200]]) };
    expect(flushedBy(soft('a', 100), 'default', marks)).toBe(true);
    expect(flushedBy(soft('a', 101), 'default', marks)).toBe(false);
    expect(flushedBy(soft('b', 50), 'default', marks)).toBe(false);
    expect(flushedBy(soft('b', 200), 'team', marks)).toBe(true);
    expect(flushedBy(soft('b', 201), 'team', marks)).toBe(false);
    expect(flushedBy({ ...soft('a', 1), strength: 'hard' }, 'team', marks)).toBe(false);
  });

  it('drain and undrain report whether they changed anything; a reload drops state of removed accounts', () => {
    const state = new OperatorState();
    expect(state.drain('a')).toBe(true);
    expect(state.drain('a')).toBe(false);
    expect(state.isDrained('a')).toBe(true);
    expect(state.undrain('a')).toBe(true);
    expect(state.undrain('a')).toBe(false);
    state.drain('gone');
    state.flushAccount('gone', 10);
    state.retainAccounts(new Set(['a']));
    expect(state.drainedAccounts()).toEqual([]);
    expect(state.isFlushed(soft('gone', 5), 'default')).toBe(false);
  });
});
