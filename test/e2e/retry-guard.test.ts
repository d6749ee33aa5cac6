// The retry guard against Envoy's router, in both topologies an operator can build:
// - one cluster per account (cluster_header routing): the cluster is chosen once and retries
//   stay inside it, so an Envoy retry never changes account (envoy-ext-proc.md point 22);
// - one cluster whose hosts are accounts: a retry re-picks a host (previous_hosts), i.e. can
//   change account. There, x-envoy-max-retries: 0 on hard requests (routing.retryGuard with
//   mutation_rules.allow_envoy) keeps a request that carries account-bound state from being
//   retried onto another account, while soft requests keep Envoy's retry policy.
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/logging/logger.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { startEnvoy, startTestUpstream, type Envoy, type TestUpstream } from '../harness/index.js';

const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
});

async function processorFor(accounts: Array<{ name: string; cluster: string }>, retryGuard: boolean): Promise<RunningServer> {
  const config = parseConfig({ grpc: { host: '127.0.0.1', port: 0 }, http: { host: '127.0.0.1', port: 0 }, logging: { level: 'warn' }, routing: { retryGuard }, accounts });
  const server = await startServer(config, { logger: createLogger('warn') });
  closers.push(() => server.stop(500));
  return server;
}

async function upstream(name: string, failTimes: number): Promise<TestUpstream> {
  const started = await startTestUpstream({ name, failTimes, failWith: 503 });
  closers.push(() => started.close());
  return started;
}

function extProc(target: string) {
  return {
    grpc_service: { target },
    processing_mode: { request_header_mode: 'SEND', response_header_mode: 'SEND', request_body_mode: 'BUFFERED', response_body_mode: 'NONE' },
    message_timeout: '2s',
    allow_mode_override: true,
    mutation_rules: { allow_envoy: true },
  } as const;
}

const RETRY = { retry_on: '5xx', num_retries: 2, retry_host_predicate: ['previous_hosts'] };
const hardBody = JSON.stringify({ model: 'm', prompt_cache_key: 'k', input: [{ type: 'reasoning', id: 'rs_1', encrypted_content: 'ENC' }] });
const softBody = JSON.stringify({ model: 'm', prompt_cache_key: 'k', input: [{ type: 'message', role: 'user', content: 'hi' }] });

async function post(envoy: Envoy, body: string, session: string): Promise<number> {
  const response = await fetch(`${envoy.url}/v1/responses`, { method: 'POST', headers: { 'content-type': 'application/json', 'session-id': session }, body });
  await response.arrayBuffer();
  return response.status;
}

/** Accounts as hosts of one cluster: the first account fails every request with 503. */
async function sharedClusterStack(retryGuard: boolean): Promise<{ envoy: Envoy; failing: TestUpstream; healthy: TestUpstream }> {
  const processor = await processorFor([{ name: 'pool', cluster: 'shared' }], retryGuard);
  const failing = await upstream('account-1', 1000);
  const healthy = await upstream('account-2', 0);
  const envoy = await startEnvoy({
    ext_proc: extProc(processor.grpcAddress),
    route_config: { routes: [{ match: { prefix: '/' }, route: { cluster_header: 'x-codex-affinity-cluster', retry_policy: RETRY } }] },
    clusters: [{ name: 'shared', lb_policy: 'ROUND_ROBIN', endpoints: [{ address: '127.0.0.1', port: failing.port }, { address: '127.0.0.1', port: healthy.port }] }],
  });
  closers.push(() => envoy.close());
  return { envoy, failing, healthy };
}

describe('retry guard', () => {
  it('shared cluster (accounts as hosts): a hard request is not retried onto a second account; a soft one is', async () => {
    const { envoy, failing, healthy } = await sharedClusterStack(true);
    for (let index = 0; index < 4; index++) await post(envoy, hardBody, `hard-${index}`);
    for (let index = 0; index < 4; index++) await post(envoy, softBody, `soft-${index}`);
    const hard = envoy.log.slice(0, 4);
    const soft = envoy.log.slice(4);
    const failingHost = `127.0.0.1:${failing.port}`;
    // Round robin sent some of each kind to the failing account first.
    expect(hard.some((record) => record.attempts[0]!.host === failingHost)).toBe(true);
    expect(soft.some((record) => record.attempts[0]!.host === failingHost)).toBe(true);
    for (const record of hard) {
      expect(record.attempts).toHaveLength(1);
      if (record.attempts[0]!.host === failingHost) expect(record.status).toBe(503);
    }
    for (const record of soft) {
      expect(record.status).toBe(200);
      if (record.attempts[0]!.host === failingHost) expect(record.attempts.map((attempt) => attempt.host)).toEqual([failingHost, `127.0.0.1:${healthy.port}`]);
    }
  });

  it('shared cluster without the guard: the same hard request is retried onto the other account (what the guard prevents)', async () => {
    const { envoy } = await sharedClusterStack(false);
    for (let index = 0; index < 4; index++) await post(envoy, hardBody, `hard-${index}`);
    const moved = envoy.log.filter((record) => new Set(record.attempts.map((attempt) => attempt.host)).size > 1);
    expect(moved.length).toBeGreaterThan(0);
  });

  it('cluster per account: Envoy retries stay on the routed account', async () => {
    const first = await upstream('account-a', 1);
    const second = await upstream('account-b', 1);
    const processor = await processorFor(
      [
        { name: 'a', cluster: 'cluster-a' },
        { name: 'b', cluster: 'cluster-b' },
      ],
      false,
    );
    const envoy = await startEnvoy({
      ext_proc: extProc(processor.grpcAddress),
      route_config: { routes: [{ match: { prefix: '/' }, route: { cluster_header: 'x-codex-affinity-cluster', retry_policy: RETRY } }] },
      clusters: [
        { name: 'cluster-a', endpoints: [{ address: '127.0.0.1', port: first.port }] },
        { name: 'cluster-b', endpoints: [{ address: '127.0.0.1', port: second.port }] },
      ],
    });
    closers.push(() => envoy.close());
    for (let index = 0; index < 4; index++) expect(await post(envoy, softBody, `s-${index}`)).toBe(200);
    const portOf: Record<string, number> = { 'cluster-a': first.port, 'cluster-b': second.port };
    let retried = 0;
    for (const record of envoy.log) {
      const hosts = new Set(record.attempts.map((attempt) => attempt.host));
      expect([...hosts]).toEqual([`127.0.0.1:${portOf[record.cluster!]}`]);
      if (record.attempts.length > 1) retried++;
    }
    expect(retried).toBe(2);
  });
});
