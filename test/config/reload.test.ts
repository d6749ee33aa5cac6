// Live reload as startServer applies it: what needs a restart is refused whole; accounts
// removed take their domain with them, and a hard session of that domain then follows the
// healing settings (refused by default, healed when enabled); operator state of removed
// accounts goes.
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { reloadProblems } from '../../src/config/reloadable.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { codexRequest, routedCluster, ScriptedStream, startTestProcessor, THREE_DOMAINS, type TestProcessor } from '../support/processor.js';

let processor: TestProcessor | undefined;
afterEach(async () => {
  await processor?.close();
  processor = undefined;
});

const base = (overrides: Partial<ConfigInput> = {}) =>
  parseConfig({ grpc: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 }, accounts: THREE_DOMAINS, logging: { level: 'debug' }, ...overrides });

async function turn(target: TestProcessor, session: string, number: number) {
  const request = codexRequest({ session, turn: number });
  const stream = new ScriptedStream(target);
  await stream.requestHeaders(request.headers);
  const answer = await stream.requestBody(request.body);
  if (!answer.immediate_response) await stream.responseHeaders({ ':status': '200', 'content-type': 'application/json' });
  await stream.end();
  return answer;
}

describe('reloadProblems', () => {
  it('accepts changes of accounts, pools, routing, rewrites, healing, limits and logging', () => {
    const next = base({
      accounts: [...THREE_DOMAINS!, { name: 'acct-d', cluster: 'cluster-d', weight: 3 }],
      routing: { retryGuard: true },
      healing: { enabled: true },
      limits: { maxBodyBytes: 1024 },
      logging: { level: 'warn' },
    });
    expect(reloadProblems(base(), next)).toEqual([]);
  });

  it('names every section that needs a restart', () => {
    const next = base({ grpc: { host: '127.0.0.1', port: 1 }, store: { kind: 'memory', maxEntries: 5 }, bindings: { sessionTtl: '1h' }, health: { failureThreshold: 2 }, admin: { tokenFile: '/x' } });
    expect(reloadProblems(base(), next)).toEqual(['grpc: changed, needs a restart', 'store: changed, needs a restart', 'bindings: changed, needs a restart', 'health: changed, needs a restart', 'admin: changed, needs a restart']);
  });
});

describe('reload in a running processor', () => {
  it('an account removed with its domain: its hard session is refused (healing off), then healed once healing is turned on', async () => {
    processor = await startTestProcessor();
    // Find a session on acct-b and make it hard.
    let session = '';
    for (let index = 0; !session; index++) {
      if (routedCluster(await turn(processor, `s-${index}`, 1)) === 'cluster-b') session = `s-${index}`;
    }
    expect(routedCluster(await turn(processor, session, 2))).toBe('cluster-b');
    processor.server.operatorState.drain('acct-b');

    const withoutB = base({ accounts: THREE_DOMAINS!.filter((account) => account.name !== 'acct-b') });
    expect(processor.server.reload(withoutB)).toEqual({ applied: true, generation: 2 });
    expect(processor.server.operatorState.isDrained('acct-b')).toBe(false);
    const refused = await turn(processor, session, 3);
    expect(refused.immediate_response?.status?.code).toBe('Conflict');
    expect(Buffer.from(refused.immediate_response!.body!).toString()).toContain('account_domain_unavailable');

    expect(processor.server.reload({ ...withoutB, healing: { enabled: true } })).toEqual({ applied: true, generation: 3 });
    const healed = await turn(processor, session, 3);
    expect(healed.immediate_response).toBeUndefined();
    expect(['cluster-a', 'cluster-c']).toContain(routedCluster(healed));
  });

  it('a refused reload changes nothing: same accounts, same generation, one error line', async () => {
    processor = await startTestProcessor();
    const before = processor.server.context;
    const result = processor.server.reload(base({ accounts: [{ name: 'acct-a', cluster: 'cluster-a' }], store: { kind: 'memory', maxEntries: 3 } }));
    expect(result).toEqual({ applied: false, problems: ['store: changed, needs a restart'] });
    expect(processor.server.context).toBe(before);
    expect(processor.logs.filter((line) => line.includes('config reload refused'))).toHaveLength(1);
  });

  it('a credential file that cannot be read refuses the reload, naming the account', async () => {
    processor = await startTestProcessor();
    const result = processor.server.reload(base({ accounts: [{ name: 'acct-a', cluster: 'cluster-a', credential: { apiKey: { file: '/nonexistent/key' } } }] }));
    expect(result.applied).toBe(false);
    expect(JSON.stringify(result)).toContain('acct-a');
    expect(processor.server.context.directory.accounts.size).toBe(3);
  });
});
