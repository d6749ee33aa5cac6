import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfigText } from '../../src/config/load.js';

const problemsOf = (text: string): string[] => {
  try {
    parseConfigText(text);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
};

describe('config', () => {
  it('fills safe defaults around the minimal design-card config', () => {
    const config = parseConfigText('accounts:\n  - { name: a, cluster: c-a }\n');
    expect(config.routing.clusterHeader).toBe('x-codex-affinity-cluster');
    expect(config.store).toEqual({ kind: 'memory', maxEntries: 200_000 });
    expect(config.bindings.sessionTtl).toBe(6 * 3_600_000);
    expect(config.accounts[0]).toMatchObject({ profile: 'openai', weight: 1 });
  });

  it('names an unknown key with its path', () => {
    expect(problemsOf('accounts:\n  - { name: a, cluster: c-a, wieght: 2 }\n')).toEqual(['accounts[0].wieght: unknown key']);
  });

  it('names a wrong type with its path', () => {
    expect(problemsOf('grpc: { port: "x" }\naccounts: [{ name: a, cluster: c }]')[0]).toMatch(/^grpc\.port: /);
  });

  it.each([
    ['no accounts', 'accounts: []', /accounts: at least one account/],
    ['bad profile', 'accounts: [{ name: a, cluster: c, profile: azure }]', /accounts\[0\]\.profile/],
    ['duplicate name', 'accounts: [{ name: a, cluster: c1 }, { name: a, cluster: c2 }]', /duplicate account name/],
    ['shared cluster', 'accounts: [{ name: a, cluster: c }, { name: b, cluster: c }]', /already used by account "a"/],
    ['bad duration', 'bindings: { sessionTtl: soon }\naccounts: [{ name: a, cluster: c }]', /bindings\.sessionTtl: not a duration/],
    ['unknown pool account', 'pools: [{ name: p, accounts: [zz] }]\naccounts: [{ name: a, cluster: c }]', /pools\[0\]\.accounts\[0\]: unknown account "zz"/],
    ['upper-case header', 'routing: { clusterHeader: X-Cluster }\naccounts: [{ name: a, cluster: c }]', /routing\.clusterHeader/],
    ['YAML syntax', 'accounts: [', /^YAML: /],
    ['pools without default nor poolHeader', 'pools: [{ name: team, accounts: [a] }]\naccounts: [{ name: a, cluster: c }]', /pools: without routing\.poolHeader/],
  ])('rejects %s', (_name, text, pattern) => {
    expect(problemsOf(text).join('\n')).toMatch(pattern);
  });
});
