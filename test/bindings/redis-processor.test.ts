// The processor on a Redis store: replicas share bindings, a Redis that does not
// answer degrades to placement within the deadline.
import { redisProcessorSuite, TEST_REDIS_URL } from '../support/redis.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { codexRequest, metadataOf, routedCluster, ScriptedStream, sseStream, startTestProcessor, THREE_DOMAINS, type TestProcessor } from '../support/processor.js';

const REDIS_URL = TEST_REDIS_URL;
const suite = redisProcessorSuite('proc', { beforeAll, afterEach, afterAll });
const { prefix, secretVariable, running } = suite;

const redisStore = (url = REDIS_URL) => ({ kind: 'redis' as const, url, keyPrefix: prefix, hmacSecret: { env: secretVariable }, deadline: '200ms' });

async function replica(url?: string, accounts?: ConfigInput['accounts']): Promise<TestProcessor> {
  const processor = await startTestProcessor({ store: redisStore(url), ...(accounts ? { accounts } : {}) });
  running.push(processor);
  return processor;
}

async function turn(processor: TestProcessor, request: { headers: Record<string, string>; body: Record<string, unknown> }, sse?: string) {
  const stream = new ScriptedStream(processor);
  await stream.requestHeaders(request.headers);
  const routed = await stream.requestBody(request.body);
  const answered = await stream.responseHeaders({ ':status': '200', 'content-type': 'text/event-stream' });
  if (answered.mode_override?.response_body_mode && sse) await stream.responseBody(sse, true);
  await stream.end();
  return { cluster: routedCluster(routed), metadata: metadataOf(routed) };
}

describe('Redis store configuration', () => {
  it('refuses a Redis store without a shared secret, or without exactly one topology, naming the key', () => {
    const accounts = [{ name: 'a', cluster: 'c' }];
    const problems = (store: unknown) => {
      try {
        parseConfig({ accounts, store });
        return [];
      } catch (error) {
        return (error as ConfigError).problems;
      }
    };
    expect(problems({ kind: 'redis', url: 'redis://127.0.0.1:6379' }).join('\n')).toMatch(/store\.hmacSecret: .*shared by all replicas/);
    expect(problems({ kind: 'redis', hmacSecret: { env: 'X' } }).join('\n')).toMatch(/exactly one of url/);
    expect(problems({ kind: 'redis', url: 'redis://h:1', nodes: ['h:2'], hmacSecret: { env: 'X' } }).join('\n')).toMatch(/exactly one of url/);
    expect(problems({ kind: 'redis', sentinels: ['h:26379'], hmacSecret: { env: 'X' } }).join('\n')).toMatch(/store\.name/);
    expect(problems({ kind: 'redis', url: 'http://h', hmacSecret: { env: 'X' } }).join('\n')).toMatch(/store\.url/);
    expect(problems({ kind: 'redis', nodes: ['127.0.0.1:7000', '127.0.0.1:7001'], hmacSecret: { file: '/run/secret' } })).toEqual([]);
  });
});

describe('replicas on one Redis', () => {
  it('a session started on one replica continues on another, bound by what the first learned', async () => {
    const [one, two] = [await replica(), await replica()];
    for (let index = 0; index < 10; index++) {
      const session = `shared-${index}`;
      const first = await turn(one, codexRequest({ session, turn: 1 }), sseStream(`resp_${session}`, `rs_${session}_1`));
      const second = await turn(two, codexRequest({ session, turn: 2 }), sseStream(`resp_${session}_2`, `rs_${session}_2`));
      expect([second.cluster, second.metadata.outcome]).toEqual([first.cluster, 'bound']);
      expect(second.metadata.source).toBe('session_header');
    }
  });

  it('concurrent first requests of one session on three replicas that place differently end on one account', async () => {
    // Mid-rollout, each replica weighs another account heavier: their placements differ
    // for many sessions, and only first-writer-wins creation makes them agree.
    const weighted = (heavy: string) => THREE_DOMAINS.map((account) => ({ ...account, weight: account.name === heavy ? 8 : 1 }));
    const replicas = [await replica(undefined, weighted('acct-a')), await replica(undefined, weighted('acct-b')), await replica(undefined, weighted('acct-c'))];
    for (let index = 0; index < 40; index++) {
      const session = `race-${index}`;
      const routed = await Promise.all(replicas.map((processor) => turn(processor, codexRequest({ session, turn: 1 }))));
      expect(new Set(routed.map((entry) => entry.cluster)).size).toBe(1);
    }
    const races = await Promise.all(replicas.map(async (processor) => Number(/binding_races_total (\d+)/.exec(await processor.server.context.metrics.registry.metrics())?.[1] ?? 0)));
    expect(races.reduce((sum, count) => sum + count, 0)).toBeGreaterThan(0);
  });
});

describe('a Redis that does not answer', () => {
  it('degrades to placement within the deadline: same accounts as with the store, nothing waits, one log line', async () => {
    const healthy = await replica();
    const placed = new Map<string, string | undefined>();
    for (let index = 0; index < 10; index++) placed.set(`s-${index}`, (await turn(healthy, codexRequest({ session: `s-${index}`, turn: 1 }))).cluster);
    // Nothing listens on port 1: every call fails at once.
    const broken = await replica('redis://127.0.0.1:1');
    const started = Date.now();
    for (const [session, cluster] of placed) expect((await turn(broken, codexRequest({ session, turn: 1 }))).cluster).toBe(cluster);
    expect(Date.now() - started).toBeLessThan(10 * 3 * 200);
    const metrics = await broken.server.context.metrics.registry.metrics();
    expect(metrics).toMatch(/codex_affinity_store_degraded 1/);
    expect(metrics).toMatch(/codex_affinity_store_errors_total\{operation="read",reason="(error|deadline)"\} \d+/);
    expect(broken.logs.filter((line) => line.includes('binding store degraded'))).toHaveLength(1);
    // Still ready (it routes), and says how.
    const readyz = await fetch(`http://127.0.0.1:${broken.server.httpPort}/readyz`);
    expect([readyz.status, await readyz.text()]).toEqual([200, 'ready\nstore: redis degraded (routing by placement, nothing new hardened)\n']);
    const healthyReadyz = await fetch(`http://127.0.0.1:${healthy.server.httpPort}/readyz`);
    expect(await healthyReadyz.text()).toBe('ready\nstore: redis ok\n');
  });
});
