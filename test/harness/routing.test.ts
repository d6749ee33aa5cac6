// Routing with cluster_header, route cache, ImmediateResponse and dynamic metadata
// (shared/envoy-ext-proc.md points 16, 17, 19, 20; processor_state.cc clearRouteCache,
// ext_proc.cc sendImmediateResponse / setDynamicMetadata).
import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, request, startStack } from './fixtures.js';
import { respond } from './scripted-processor.js';
import { jsToStruct, structToJs } from './proto.js';

afterEach(closeAll);

describe('route resolution and clear_route_cache (points 16, 17)', () => {
  it('the route (cluster_header) is resolved before the processor answers: a header change alone does not re-route', async () => {
    const { envoy, ups } = await startStack({ script: { request_body: () => respond('request_body', { set: { 'x-cluster': 'acct-b' } }) } });
    await request(envoy.url, { headers: { 'x-cluster': 'acct-a' }, body: 'x' });
    expect(ups['acct-a']!.requests).toHaveLength(1);
    expect(ups['acct-b']!.requests).toHaveLength(0);
    expect(ups['acct-a']!.requests[0]!.headers['x-cluster']).toBe('acct-b');
    expect(envoy.log[0]!.cluster).toBe('acct-a');
  });

  it('header mutation + clear_route_cache in the body response re-routes (the AI-gateway pattern)', async () => {
    const { envoy, ups } = await startStack({
      script: { request_body: () => respond('request_body', { set: { 'x-cluster': 'acct-b' }, clearRouteCache: true }) },
    });
    await request(envoy.url, { body: '{"model":"gpt"}' });
    expect(ups['acct-b']!.requests).toHaveLength(1);
    expect(envoy.log[0]!.initial_cluster).toBe('');
    expect(envoy.log[0]!.cluster).toBe('acct-b');
    expect(envoy.log[0]!.route_cleared).toBe(true);
  });

  it('header mutation + clear_route_cache in the headers response re-routes', async () => {
    const { envoy, ups } = await startStack({
      script: { request_headers: () => respond('request_headers', { set: { 'x-cluster': 'acct-b' }, clearRouteCache: true }) },
    });
    await request(envoy.url, { headers: { 'x-cluster': 'acct-a' } });
    expect(ups['acct-b']!.requests).toHaveLength(1);
  });

  it('clear_route_cache without a header mutation is ignored and counted', async () => {
    const { envoy, ups } = await startStack({ script: { request_body: () => respond('request_body', { clearRouteCache: true }) } });
    await request(envoy.url, { headers: { 'x-cluster': 'acct-a' }, body: 'x' });
    expect(ups['acct-a']!.requests).toHaveLength(1);
    expect(envoy.stats.get('clear_route_cache_ignored')).toBe(1);
    expect(envoy.log[0]!.route_cleared).toBe(false);
  });

  it('an empty cluster header gives cluster_not_found_response_code (default 503)', async () => {
    const { envoy } = await startStack();
    const r = await request(envoy.url, { body: 'x' });
    expect(r.status).toBe(503);
    expect(envoy.log[0]!.details).toBe('cluster_not_found');
  });

  it('an unknown cluster gives 503, or 404 when configured', async () => {
    const { envoy, proc } = await startStack();
    expect((await request(envoy.url, { headers: { 'x-cluster': 'nope' } })).status).toBe(503);
    // the router's local reply still passes the ext_proc encode path
    expect(proc.kinds()[0]).toEqual(['request_headers', 'response_headers']);
    await closeAll();
    const s = await startStack({ extra: { route_config: { cluster_not_found_response_code: 'NOT_FOUND', routes: [{ match: { prefix: '/' }, route: { cluster_header: 'x-cluster' } }] } } });
    expect((await request(s.envoy.url, { headers: { 'x-cluster': 'nope' } })).status).toBe(404);
  });

  it('per-route typed_per_filter_config: disabled skips the processor; overrides replace the processing mode', async () => {
    const { envoy, proc } = await startStack({
      routes: [
        { match: { prefix: '/off' }, route: { cluster: 'acct-a' }, typed_per_filter_config: { ext_proc: { disabled: true } } },
        { match: { prefix: '/nobody' }, route: { cluster: 'acct-a' }, typed_per_filter_config: { ext_proc: { overrides: { processing_mode: { response_header_mode: 'SKIP' } } } } },
      ],
    });
    await request(envoy.url, { path: '/off', body: 'x' });
    await request(envoy.url, { path: '/nobody', body: 'x' });
    expect(proc.kinds()).toEqual([['request_headers']]);
  });
});

describe('ImmediateResponse (point 19)', () => {
  it('sends the local reply with status, headers (through the mutation rules), body and details', async () => {
    const { envoy, ups } = await startStack({
      script: {
        request_body: () => ({
          immediate_response: {
            status: { code: 'BadRequest' },
            headers: { set_headers: [{ header: { key: 'content-type', raw_value: Buffer.from('application/json') } }, { header: { key: 'x-envoy-nope', raw_value: Buffer.from('1') } }] },
            body: Buffer.from('{"error":{"code":"invalid_encrypted_content"}}'),
            details: 'session account gone',
          },
        }),
      },
    });
    const r = await request(envoy.url, { headers: { 'x-cluster': 'acct-a' }, body: 'x' });
    expect(r.status).toBe(400);
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.headers['x-envoy-nope']).toBeUndefined();
    expect(r.body).toContain('invalid_encrypted_content');
    expect(envoy.log[0]!.immediate).toEqual({ status: 400, details: 'session_account_gone', source: 'ext_proc' });
    expect(envoy.stats.get('rejected_header_mutations')).toBe(1);
    expect(ups['acct-a']!.requests).toHaveLength(0);
  });

  it('a status below 200 becomes 200; an unlisted code passes as its number', async () => {
    const { envoy } = await startStack({ script: { request_headers: () => ({ immediate_response: { status: { code: 'Continue' } } }) } });
    expect((await request(envoy.url)).status).toBe(200);
    await closeAll();
    const s = await startStack({ script: { request_headers: () => ({ immediate_response: { status: { code: 418 } } }) } });
    expect((await request(s.envoy.url)).status).toBe(418);
  });

  it('the stream ends: nothing more is sent to the processor', async () => {
    const { envoy, proc } = await startStack({ script: { request_headers: () => ({ immediate_response: { status: { code: 'TooManyRequests' } } }) } });
    expect((await request(envoy.url, { body: 'x' })).status).toBe(429);
    expect(proc.kinds()).toEqual([['request_headers']]);
  });
});

describe('dynamic metadata (point 20)', () => {
  it('keeps only namespaces listed in receiving_namespaces.untyped, merged per request', async () => {
    const md = (o: Record<string, unknown>) => ({ dynamic_metadata: jsToStruct(o) });
    const { envoy } = await startStack({
      script: {
        request_headers: () => respond('request_headers', {}, md({ codex_affinity: { account: 'acct-a' }, other: { x: 1 } })),
        request_body: () => respond('request_body', {}, md({ codex_affinity: { strength: 'hard' } })),
      },
      ext_proc: { metadata_options: { receiving_namespaces: { untyped: ['codex_affinity'] } } },
    });
    await request(envoy.url, { headers: { 'x-cluster': 'acct-a' }, body: 'x' });
    expect(envoy.log[0]!.dynamic_metadata).toEqual({ codex_affinity: { account: 'acct-a', strength: 'hard' } });
  });

  it('keeps nothing when no receiving namespace is configured', async () => {
    const { envoy } = await startStack({ script: { request_headers: () => respond('request_headers', {}, { dynamic_metadata: jsToStruct({ codex_affinity: { a: 1 } }) }) } });
    await request(envoy.url, { headers: { 'x-cluster': 'acct-a' } });
    expect(envoy.log[0]!.dynamic_metadata).toEqual({});
  });

  it('forwarding_namespaces sends the kept metadata back in metadata_context', async () => {
    const { envoy, proc } = await startStack({
      script: { request_headers: () => respond('request_headers', {}, { dynamic_metadata: jsToStruct({ codex_affinity: { account: 'acct-a' } }) }) },
      ext_proc: { metadata_options: { receiving_namespaces: { untyped: ['codex_affinity'] }, forwarding_namespaces: { untyped: ['codex_affinity'] } } },
    });
    await request(envoy.url, { headers: { 'x-cluster': 'acct-a' }, body: 'x' });
    const ctx = proc.streams[0]!.received[1]!.metadata_context!.filter_metadata!;
    expect(Object.keys(ctx)).toEqual(['codex_affinity']);
    expect(structToJs(ctx.codex_affinity)).toEqual({ account: 'acct-a' });
  });
});
