// Processor misbehaviour: spurious messages, timeouts, stream close and gRPC errors
// (shared/envoy-ext-proc.md points 4-6; ext_proc.cc onReceiveMessage, onMessageTimeout,
// onNewTimeout, onGrpcError, onGrpcClose).
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, request, startStack } from './fixtures.js';
import { respond } from './scripted-processor.js';

afterEach(closeAll);
const to = (cluster: string) => ({ headers: { 'x-cluster': cluster } });

describe('spurious messages (point 4)', () => {
  it('a response of the wrong kind fails closed with status_on_error (default 500)', async () => {
    const { envoy, ups } = await startStack({ script: { request_headers: () => respond('response_headers') } });
    const r = await request(envoy.url, to('acct-a'));
    expect(r.status).toBe(500);
    expect(envoy.log[0]!.details).toBe('spurious_message');
    expect(envoy.stats.get('spurious_msgs_received')).toBe(1);
    expect(ups['acct-a']!.requests).toHaveLength(0);
  });

  it('status_on_error sets the local reply status', async () => {
    const { envoy } = await startStack({ script: { request_headers: () => respond('request_body') }, ext_proc: { status_on_error: { code: 503 } } });
    expect((await request(envoy.url, to('acct-a'))).status).toBe(503);
  });

  it('with failure_mode_allow the request continues unprocessed and the stream is ignored', async () => {
    const { envoy, ups, proc } = await startStack({
      script: { request_headers: () => respond('request_body', { set: { 'x-never': '1' } }) },
      ext_proc: { failure_mode_allow: true },
    });
    const r = await request(envoy.url, { ...to('acct-a'), body: 'b' });
    expect(r.status).toBe(200);
    expect(ups['acct-a']!.requests[0]!.headers['x-never']).toBeUndefined();
    expect(envoy.stats.get('failure_mode_allowed')).toBe(1);
    expect(proc.kinds()).toEqual([['request_headers']]);
  });

  it('an extra, unsolicited response is spurious too', async () => {
    const { envoy } = await startStack({
      script: { request_headers: () => ({ action: 'raw', messages: [respond('request_headers'), respond('request_headers')] }) },
      ext_proc: { processing_mode: { request_header_mode: 'SEND', response_header_mode: 'SEND' } },
    });
    const r = await request(envoy.url, to('acct-a'));
    expect(r.status).toBe(500);
    expect(envoy.stats.get('spurious_msgs_received')).toBe(1);
  });
});

describe('per-message timeout (point 5)', () => {
  it('expiry gives a local 504 with details ext_proc_error_per-message_timeout_exceeded', async () => {
    const { envoy, ups } = await startStack({ script: { request_headers: () => ({ action: 'none' }) }, ext_proc: { message_timeout_ms: 100 } });
    const t0 = Date.now();
    const r = await request(envoy.url, to('acct-a'));
    expect(r.status).toBe(504);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(90);
    expect(envoy.log[0]!.details).toBe('ext_proc_error_per-message_timeout_exceeded');
    expect(envoy.stats.get('message_timeouts')).toBe(1);
    expect(ups['acct-a']!.requests).toHaveLength(0);
  });

  it('default message_timeout is 200 ms', async () => {
    const { envoy } = await startStack({ script: { request_headers: () => ({ action: 'delay', ms: 150, then: respond('request_headers') }) }, ext_proc: { message_timeout_ms: undefined } });
    expect(envoy.config.ext_proc!.message_timeout_ms).toBe(200);
    expect((await request(envoy.url, to('acct-a'))).status).toBe(200);
  });

  it('fail-open: expiry continues without processing', async () => {
    const { envoy, ups } = await startStack({ script: { request_headers: () => ({ action: 'none' }) }, ext_proc: { message_timeout_ms: 50, failure_mode_allow: true } });
    const r = await request(envoy.url, to('acct-a'));
    expect(r.status).toBe(200);
    expect(ups['acct-a']!.requests).toHaveLength(1);
    expect(envoy.stats.get('failure_mode_allowed')).toBe(1);
  });

  const overrideThenAnswer = (override: { seconds?: number; nanos?: number }, answerAfterMs: number) => ({
    request_headers: () => ({
      action: 'sequence' as const,
      steps: [{ send: { override_message_timeout: override } }, { after_ms: answerAfterMs, send: respond('request_headers') }],
    }),
  });

  it('override_message_timeout is ignored without max_message_timeout', async () => {
    const { envoy } = await startStack({ script: overrideThenAnswer({ seconds: 1 }, 250), ext_proc: { message_timeout_ms: 100 } });
    const r = await request(envoy.url, to('acct-a'));
    expect(r.status).toBe(504);
    expect(envoy.stats.get('override_message_timeout_ignored')).toBe(1);
  });

  it('override_message_timeout restarts the timer when max_message_timeout is set', async () => {
    const { envoy } = await startStack({ script: overrideThenAnswer({ nanos: 400_000_000 }, 250), ext_proc: { message_timeout_ms: 100, max_message_timeout_ms: 500 } });
    const r = await request(envoy.url, to('acct-a'));
    expect(r.status).toBe(200);
    expect(envoy.stats.get('override_message_timeout_received')).toBe(1);
  });

  it('override_message_timeout above max_message_timeout is ignored (ext_proc.cc onNewTimeout)', async () => {
    const { envoy } = await startStack({ script: overrideThenAnswer({ seconds: 2 }, 250), ext_proc: { message_timeout_ms: 100, max_message_timeout_ms: 500 } });
    const t0 = Date.now();
    expect((await request(envoy.url, to('acct-a'))).status).toBe(504);
    expect(Date.now() - t0).toBeLessThan(240);
    expect(envoy.stats.get('override_message_timeout_ignored')).toBe(1);
  });
});

describe('stream end and gRPC errors (point 6)', () => {
  it('the server closing the stream with OK: Envoy continues without further processing', async () => {
    const { envoy, ups, proc } = await startStack({ script: { request_headers: () => ({ action: 'close_ok' }) } });
    const r = await request(envoy.url, { ...to('acct-a'), body: 'x' });
    expect(r.status).toBe(200);
    expect(ups['acct-a']!.requests[0]!.body).toBe('x');
    expect(proc.kinds()).toEqual([['request_headers']]);
    expect(envoy.stats.get('streams_closed')).toBe(1);
  });

  it('a gRPC error fails closed with status_on_error', async () => {
    const { envoy, ups } = await startStack({ script: { request_headers: () => ({ action: 'grpc_error', code: grpc.status.UNAVAILABLE, details: 'down' }) } });
    const r = await request(envoy.url, to('acct-a'));
    expect(r.status).toBe(500);
    expect(envoy.log[0]!.details).toBe('ext_proc_error_gRPC_error_14{down}');
    expect(envoy.stats.get('streams_failed')).toBe(1);
    expect(ups['acct-a']!.requests).toHaveLength(0);
  });

  it('a gRPC error continues when failure_mode_allow', async () => {
    const { envoy, ups } = await startStack({
      script: { request_headers: () => ({ action: 'grpc_error', code: grpc.status.INTERNAL }) },
      ext_proc: { failure_mode_allow: true },
    });
    expect((await request(envoy.url, to('acct-a'))).status).toBe(200);
    expect(ups['acct-a']!.requests).toHaveLength(1);
    expect(envoy.stats.get('failure_mode_allowed')).toBe(1);
  });

  it('an unreachable processor is a gRPC error (fail closed)', async () => {
    const { envoy } = await startStack({ ext_proc: { grpc_service: { target: '127.0.0.1:1' }, message_timeout_ms: 2000 } });
    expect((await request(envoy.url, to('acct-a'))).status).toBe(500);
  });

  it('Envoy half-closes after an ImmediateResponse', async () => {
    const { envoy, proc } = await startStack({ script: { request_headers: () => ({ immediate_response: { status: { code: 'Forbidden' } } }) } });
    expect((await request(envoy.url, to('acct-a'))).status).toBe(403);
    await new Promise((r) => setTimeout(r, 50));
    expect(proc.streams[0]!.ended).toContain('eof');
  });
});
