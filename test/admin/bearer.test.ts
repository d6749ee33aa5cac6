import { describe, expect, it } from 'vitest';
import { bearerMatches } from '../../src/admin/bearer.js';

describe('bearerMatches', () => {
  const token = 'adm-7f3c9a1e2b';
  it('accepts exactly the token, as a bearer, case-insensitive scheme', () => {
    expect(bearerMatches(`Bearer ${token}`, token)).toBe(true);
    expect(bearerMatches(`bearer ${token}`, token)).toBe(true);
  });
  it('refuses everything else: absent, empty, other scheme, prefix, longer, other token', () => {
    for (const header of [undefined, '', 'Bearer', 'Bearer ', `Basic ${token}`, `Bearer ${token.slice(0, -1)}`, `Bearer ${token}x`, `Bearer ${token} extra`, 'Bearer other', token]) {
      expect(bearerMatches(header, token), String(header)).toBe(false);
    }
  });
});
