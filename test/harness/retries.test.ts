// Router retries and the two topologies (shared/envoy-ext-proc.md points 21-24;
// source/common/router/retry_state_impl.cc, router.cc, ring_hash_lb.cc).
import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, request, startStack } from './fixtures.js';
import { header, respond } from './scripted-processor.js';
import type { ProcessingRequest } from './proto.js';
import type { TestUpstream } from './test-upstream.js';

afterEach(closeAll);
const retry5xx = (n = 2) => ({ retry_on: '5xx,reset,connect-failure,retriable-status-codes', num_retries: n, retry_back_off: { base_interval: '1ms' } });
const oneCluster = (lb: 'ROUND_ROBIN' | 'RING_HASH' | 'RANDOM') => (ups: Record<string, TestUpstream>) => [
  { name: 'pool', lb_policy: lb, endpoints: Object.values(ups).map((u) => ({ address: '127.0.0.1', port: u.port })) },
];
const portOf = (u: TestUpstream) => `127.0.0.1:${u.port}`;

describe('one cluster per account (cluster_header)', () => {
  it('point 22: retries stay in the routed cluster, so never change account', async () => {
    const { envoy, ups, proc } = await startStack({
      upstreams: { 'acct-a': { failTimes: 2, failWith: 503 }, 'acct-b': {} },
      routes: [{ match: { prefix: '/' }, route: { cluster_header: 'x-cluster', retry_policy: retry5xx() } }],
    });
    const r = await request(envoy.url, { headers: { 'x-cluster': 'acct-a' }, body: 'x' });
    expect(r.status).toBe(200);
    expect(envoy.log[0]!.attempts.map((a) => [a.host, a.status])).toEqual([
      [portOf(ups['acct-a']!), 503], [portOf(ups['acct-a']!), 503], [portOf(ups['acct-a']!), 200],
    ]);
    expect(ups['acct-b']!.requests).toHaveLength(0);
    // point 21: the downstream processor sees only the final response
    expect(proc.kinds()).toEqual([['request_headers', 'request_body', 'response_headers']]);
    expect(header(proc.streams[0]!.received[2]!.response_headers!.headers, ':status')).toBe('200');
    expect(envoy.stats.get('upstream_rq_retry')).toBe(2);
  });

  it('retries exhausted: the last response goes downstream', async () => {
    const { envoy } = await startStack({
      upstreams: { 'acct-a': { failTimes: 9, failWith: 503 } },
      routes: [{ match: { prefix: '/' }, route: { cluster: 'acct-a', retry_policy: retry5xx(1) } }],
    });
    expect((await request(envoy.url)).status).toBe(503);
    expect(envoy.log[0]!.attempts).toHaveLength(2);
    expect(envoy.stats.get('upstream_rq_retry_limit_exceeded')).toBe(1);
  });

  it('point 23: x-envoy-max-retries: 0 from the processor stops retries, only with allow_envoy', async () => {
    const script = { request_body: () => respond('request_body', { set: { 'x-envoy-max-retries': '0' } }) };
    const routes = [{ match: { prefix: '/' }, route: { cluster_header: 'x-cluster', retry_policy: retry5xx() } }];
    const on = await startStack({ script, routes, upstreams: { 'acct-a': { failTimes: 5, failWith: 503 } }, ext_proc: { mutation_rules: { allow_envoy: true } } });
    expect((await request(on.envoy.url, { headers: { 'x-cluster': 'acct-a' }, body: 'x' })).status).toBe(503);
    expect(on.envoy.log[0]!.attempts).toHaveLength(1);
    expect(on.ups['acct-a']!.requests[0]!.headers['x-envoy-max-retries']).toBeUndefined(); // consumed by the router
    await closeAll();
    const off = await startStack({ script, routes, upstreams: { 'acct-a': { failTimes: 5, failWith: 503 } } });
    await request(off.envoy.url, { headers: { 'x-cluster': 'acct-a' }, body: 'x' });
    expect(off.envoy.log[0]!.attempts).toHaveLength(3);
    expect(off.envoy.stats.get('rejected_header_mutations')).toBe(1);
  });

  it('point 23: x-envoy-retry-on from the processor is OR-ed with the route retry_on', async () => {
    const { envoy } = await startStack({
      script: { request_headers: () => respond('request_headers', { set: { 'x-envoy-retry-on': '5xx' } }) },
      ext_proc: { mutation_rules: { allow_envoy: true } },
      upstreams: { 'acct-a': { failTimes: 1, failWith: 500 } },
      routes: [{ match: { prefix: '/' }, route: { cluster: 'acct-a', retry_policy: { retry_on: 'connect-failure', num_retries: 1, retry_back_off: { base_interval: '1ms' } } } }],
    });
    expect((await request(envoy.url)).status).toBe(200);
    expect(envoy.log[0]!.attempts.map((a) => a.status)).toEqual([500, 200]);
  });

  it('retriable-status-codes retries the listed codes only', async () => {
    const { envoy } = await startStack({
      ext_proc: null,
      upstreams: { 'acct-a': { failTimes: 1, failWith: 429 } },
      routes: [{ match: { prefix: '/' }, route: { cluster: 'acct-a', retry_policy: { retry_on: 'retriable-status-codes', retriable_status_codes: [429], num_retries: 1, retry_back_off: { base_interval: '1ms' } } } }],
    });
    expect((await request(envoy.url)).status).toBe(200);
    expect(envoy.log[0]!.attempts.map((a) => a.status)).toEqual([429, 200]);
  });

  it('reset before headers: retried with retry_on reset; without retries a 503 local reply', async () => {
    const a = await startStack({
      ext_proc: null,
      upstreams: { 'acct-a': { failTimes: 1, failWith: 'reset' } },
      routes: [{ match: { prefix: '/' }, route: { cluster: 'acct-a', retry_policy: { retry_on: 'reset', num_retries: 1, retry_back_off: { base_interval: '1ms' } } } }],
    });
    expect((await request(a.envoy.url)).status).toBe(200);
    expect(a.envoy.log[0]!.attempts[0]!.reset).toBe('reset');
    await closeAll();
    const b = await startStack({ ext_proc: null, upstreams: { 'acct-a': { failTimes: 1, failWith: 'reset' } }, routes: [{ match: { prefix: '/' }, route: { cluster: 'acct-a' } }] });
    const r = await request(b.envoy.url);
    expect(r.status).toBe(503);
    expect(b.envoy.log[0]!.details).toBe('upstream_reset_before_response_started{connection_termination}');
  });

  it('connect failure: retried inside the cluster with connect-failure', async () => {
    const { envoy, ups } = await startStack({
      ext_proc: null,
      upstreams: { live: {} },
      clusters: (u) => [{ name: 'pool', endpoints: [{ address: '127.0.0.1', port: 1 }, { address: '127.0.0.1', port: u.live!.port }] }],
      routes: [{ match: { prefix: '/' }, route: { cluster: 'pool', retry_policy: { retry_on: 'connect-failure', num_retries: 1, retry_back_off: { base_interval: '1ms' } } } }],
    });
    expect((await request(envoy.url)).status).toBe(200);
    expect(envoy.log[0]!.attempts.map((a) => a.reset ?? a.status)).toEqual(['connect_failure', 200]);
    expect(ups.live!.requests).toHaveLength(1);
  });
});

describe('one cluster whose hosts are all the accounts', () => {
  it('point 22: round robin: an Envoy retry moves the request to another account', async () => {
    const { envoy, ups } = await startStack({
      ext_proc: null,
      upstreams: { 'acct-a': { failTimes: 9, failWith: 503 }, 'acct-b': {} },
      clusters: oneCluster('ROUND_ROBIN'),
      routes: [{ match: { prefix: '/' }, route: { cluster: 'pool', retry_policy: retry5xx(1) } }],
    });
    expect((await request(envoy.url)).status).toBe(200);
    expect(envoy.log[0]!.attempts.map((a) => a.host)).toEqual([portOf(ups['acct-a']!), portOf(ups['acct-b']!)]);
  });

  it('RING_HASH on a header: sticky per session-id, spread across sessions', async () => {
    const { envoy } = await startStack({
      ext_proc: null,
      upstreams: { a: {}, b: {}, c: {} },
      clusters: oneCluster('RING_HASH'),
      routes: [{ match: { prefix: '/' }, route: { cluster: 'pool', hash_policy: [{ header: { header_name: 'session-id' } }] } }],
    });
    for (let i = 0; i < 5; i++) await request(envoy.url, { headers: { 'session-id': 'sess-1' } });
    expect(new Set(envoy.log.map((l) => l.attempts[0]!.host)).size).toBe(1);
    for (let i = 0; i < 20; i++) await request(envoy.url, { headers: { 'session-id': `s-${i}` } });
    expect(new Set(envoy.log.slice(5).map((l) => l.attempts[0]!.host)).size).toBeGreaterThan(1);
  });

  it('RING_HASH retries stay on the hashed host; previous_hosts re-picks a different host inside the cluster', async () => {
    const fail = { failTimes: 99, failWith: 503 as const };
    const mk = (predicate: boolean) =>
      startStack({
        ext_proc: null,
        upstreams: { a: fail, b: fail, c: fail },
        clusters: oneCluster('RING_HASH'),
        routes: [{ match: { prefix: '/' }, route: { cluster: 'pool', hash_policy: [{ header: { header_name: 'session-id' } }],
          retry_policy: { ...retry5xx(2), ...(predicate ? { retry_host_predicate: ['previous_hosts'], host_selection_retry_max_attempts: 1024 } : {}) } } }],
      });
    const sticky = await mk(false);
    await request(sticky.envoy.url, { headers: { 'session-id': 'sess-9' } });
    expect(new Set(sticky.envoy.log[0]!.attempts.map((a) => a.host)).size).toBe(1);
    await closeAll();
    const moving = await mk(true);
    await request(moving.envoy.url, { headers: { 'session-id': 'sess-9' } });
    expect(new Set(moving.envoy.log[0]!.attempts.map((a) => a.host)).size).toBe(3);
  });
});

describe('ext_proc as an upstream filter (point 24)', () => {
  it('runs once per attempt with its own stream and sees each attempt response before the retry decision', async () => {
    const seen: string[] = [];
    const { envoy, proc, ups } = await startStack({
      script: {
        response_headers: (req: ProcessingRequest) => { seen.push(header(req.response_headers!.headers, ':status')!); return respond('response_headers'); },
      },
      ext_proc: { filter_placement: 'upstream' },
      upstreams: { 'acct-a': { failTimes: 2, failWith: 503 }, 'acct-b': {} },
      routes: [{ match: { prefix: '/' }, route: { cluster_header: 'x-cluster', retry_policy: retry5xx() } }],
    });
    expect((await request(envoy.url, { headers: { 'x-cluster': 'acct-a' }, body: 'x' })).status).toBe(200);
    expect(proc.streams).toHaveLength(3);
    expect(seen).toEqual(['503', '503', '200']);
    expect(proc.kinds().every((k) => k.join() === 'request_headers,request_body,response_headers')).toBe(true);
    expect(envoy.log[0]!.attempts.map((a) => a.processor!.sent.length)).toEqual([3, 3, 3]);
    expect(ups['acct-b']!.requests).toHaveLength(0);
  });

  it('ignores clear_route_cache (counted as clear_route_cache_upstream_ignored)', async () => {
    const { envoy, ups } = await startStack({
      script: { request_body: () => respond('request_body', { set: { 'x-cluster': 'acct-b' }, clearRouteCache: true }) },
      ext_proc: { filter_placement: 'upstream' },
    });
    await request(envoy.url, { headers: { 'x-cluster': 'acct-a' }, body: 'x' });
    expect(ups['acct-a']!.requests).toHaveLength(1);
    expect(ups['acct-b']!.requests).toHaveLength(0);
    expect(envoy.stats.get('clear_route_cache_upstream_ignored')).toBe(1);
  });
});
