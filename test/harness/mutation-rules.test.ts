// Mutation rules (shared/envoy-ext-proc.md point 10; mutation_rules.cc Checker, mutation_utils.cc).
import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, request, startStack } from './fixtures.js';
import { MutationChecker, applyHeaderMutation } from './mutations.js';
import { Headers } from './headers.js';
import { respond, setRaw } from './scripted-processor.js';
import type { CommonOpts } from './scripted-processor.js';

afterEach(closeAll);

async function mutateRequest(o: CommonOpts, rules: Record<string, boolean> = {}) {
  const s = await startStack({
    script: { request_headers: () => respond('request_headers', o) },
    ext_proc: { mutation_rules: rules, processing_mode: { request_header_mode: 'SEND', response_header_mode: 'SKIP' } },
  });
  const r = await request(s.envoy.url, { path: '/p', headers: { 'x-cluster': 'acct-a', 'x-keep': '1' } });
  return { ...s, r, up: s.ups['acct-a']!.requests[0] };
}

describe('mutation rules, in order', () => {
  it('removing host is never allowed (ignored and counted)', async () => {
    const { r, up, envoy } = await mutateRequest({ remove: ['host'] }, { allow_all_routing: true });
    expect(r.status).toBe(200);
    expect(up!.headers.host).toBeDefined();
    expect(envoy.stats.get('rejected_header_mutations')).toBe(1);
  });

  it('removing a pseudo-header is never allowed, even with allow_all_routing', async () => {
    const { r, up, envoy } = await mutateRequest({ remove: [':path'] }, { allow_all_routing: true });
    expect(r.status).toBe(200);
    expect(up!.path).toBe('/p');
    expect(envoy.stats.get('rejected_header_mutations')).toBe(1);
  });

  it(':authority / host / :method / :scheme are denied unless allow_all_routing', async () => {
    const denied = await mutateRequest({ set: { ':authority': 'evil.example', ':method': 'PUT' } });
    expect(denied.up!.headers.host).not.toBe('evil.example');
    expect(denied.up!.method).toBe('GET');
    expect(denied.envoy.stats.get('rejected_header_mutations')).toBe(2);
    await closeAll();
    const allowed = await mutateRequest({ set: { host: 'other.example', ':method': 'PUT' } }, { allow_all_routing: true });
    expect(allowed.up!.headers.host).toBe('other.example');
    expect(allowed.up!.method).toBe('PUT');
    expect(allowed.envoy.stats.get('rejected_header_mutations')).toBe(0);
  });

  it('pseudo-headers are denied for APPEND but may be overwritten', async () => {
    const { up, envoy } = await mutateRequest({ setHeaders: [setRaw(':path', '/other', true)] });
    expect(up!.path).toBe('/p');
    expect(envoy.stats.get('rejected_header_mutations')).toBe(1);
    await closeAll();
    const ow = await mutateRequest({ set: { ':path': '/other' } });
    expect(ow.up!.path).toBe('/other');
  });

  it('x-envoy* headers are denied unless allow_envoy', async () => {
    const denied = await mutateRequest({ set: { 'x-envoy-foo': '1' } });
    expect(denied.up!.headers['x-envoy-foo']).toBeUndefined();
    expect(denied.envoy.stats.get('rejected_header_mutations')).toBe(1);
    await closeAll();
    const allowed = await mutateRequest({ set: { 'x-envoy-foo': '1' } }, { allow_envoy: true });
    expect(allowed.up!.headers['x-envoy-foo']).toBe('1');
  });

  it('disallow_is_error turns a denied mutation into an error (local status_on_error)', async () => {
    const { r, up, envoy } = await mutateRequest({ set: { 'x-envoy-foo': '1' } }, { disallow_is_error: true });
    expect(r.status).toBe(500);
    expect(up).toBeUndefined();
    expect(envoy.log[0]!.details).toBe('Invalid_attempt_to_modify_x-envoy-foo');
  });

  it('an invalid header name is always an error', async () => {
    const { r, up } = await mutateRequest({ set: { 'bad name': 'x' } }, { allow_all_routing: true, allow_envoy: true });
    expect(r.status).toBe(500);
    expect(up).toBeUndefined();
  });

  it('an invalid header value (CR/LF/NUL) is always an error', async () => {
    const { r, up } = await mutateRequest({ set: { 'x-ok': 'a\r\nb' } });
    expect(r.status).toBe(500);
    expect(up).toBeUndefined();
  });

  it('only the append BoolValue is honoured: default overwrite, append:true adds a value', async () => {
    const { up } = await mutateRequest({ set: { 'x-keep': '2' }, append: { 'x-multi': 'a' }, setHeaders: [setRaw('x-multi', 'b', true)] });
    expect(up!.headers['x-keep']).toBe('2');
    expect(up!.headers['x-multi']).toBe('a, b');
    await closeAll();
    // append_action is not consulted (the doc's "only the append BoolValue")
    const s = await mutateRequest({ setHeaders: [{ header: { key: 'x-keep', raw_value: Buffer.from('3') }, append_action: 'ADD_IF_ABSENT' }] });
    expect(s.up!.headers['x-keep']).toBe('3');
  });

  it('the checker, unit level: the order of the rules', () => {
    const c = new MutationChecker({ allow_all_routing: true, allow_envoy: true });
    expect(c.check('REMOVE', 'host')).toBe('IGNORE');
    expect(c.check('REMOVE', ':authority')).toBe('IGNORE');
    expect(c.check('APPEND', ':path')).toBe('IGNORE');
    expect(c.check('SET', ':authority')).toBe('OK');
    expect(new MutationChecker({}).check('SET', 'x-envoy-max-retries')).toBe('IGNORE');
    expect(new MutationChecker({ disallow_is_error: true }).check('SET', ':method')).toBe('FAIL');
    expect(new MutationChecker({}).check('SET', ':status', '99')).toBe('FAIL');
    const h = new Headers([[':status', '200']]);
    const r = applyHeaderMutation({ set_headers: [setRaw(':status', '418')] }, h, { checker: new MutationChecker({}), onRejected: () => {} });
    expect(r.ok).toBe(true);
    expect(h.get(':status')).toBe('418');
  });
});
