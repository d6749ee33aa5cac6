// mode_override and bodies (shared/envoy-ext-proc.md points 7, 12-15, 18;
// ext_proc.cc effectiveModeOverride, processor_state.cc handleHeadersResponse/handleBodyResponse).
import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, request, startStack } from './fixtures.js';
import { header, respond } from './scripted-processor.js';
import type { ProcessingRequest } from './proto.js';

afterEach(closeAll);
const post = (body: string, cluster = 'acct-a') => ({ path: '/v1/responses', headers: { 'x-cluster': cluster }, body });

describe('mode_override (point 18)', () => {
  const overrideBodyNone = { request_headers: () => respond('request_headers', {}, { mode_override: { request_body_mode: 'NONE' } }) };

  it('honoured with allow_mode_override: no request_body message', async () => {
    const { envoy, proc } = await startStack({ script: overrideBodyNone, ext_proc: { allow_mode_override: true } });
    await request(envoy.url, post('{"a":1}'));
    expect(proc.kinds()).toEqual([['request_headers', 'response_headers']]);
  });

  it('ignored without allow_mode_override', async () => {
    const { envoy, proc } = await startStack({ script: overrideBodyNone });
    await request(envoy.url, post('{"a":1}'));
    expect(proc.kinds()).toEqual([['request_headers', 'request_body', 'response_headers']]);
  });

  it('only honoured in a headers response (ignored in a body response)', async () => {
    const { envoy, proc } = await startStack({
      script: { request_body: () => respond('request_body', {}, { mode_override: { response_header_mode: 'SKIP', response_body_mode: 'BUFFERED' } }) },
      ext_proc: { allow_mode_override: true },
    });
    await request(envoy.url, post('x'));
    expect(proc.kinds()).toEqual([['request_headers', 'request_body', 'response_headers']]);
  });

  it('header DEFAULT means unchanged, body modes are literal (unset = NONE)', async () => {
    // override sets only response_header_mode SKIP: request body becomes NONE (literal), request headers stay SEND
    const { envoy, proc } = await startStack({
      script: { request_headers: () => respond('request_headers', {}, { mode_override: { response_header_mode: 'SKIP' } }) },
      ext_proc: { allow_mode_override: true },
    });
    await request(envoy.url, post('x'));
    await request(envoy.url, post('y'));
    expect(proc.kinds()).toEqual([['request_headers'], ['request_headers']]);
  });

  it('error-only response bodies: response body NONE, BUFFERED via override for :status >= 400', async () => {
    const { envoy, proc } = await startStack({
      upstreams: { 'acct-a': { reply: (_r, n) => (n === 0 ? { status: 400, body: '{"error":"invalid_encrypted_content"}' } : { body: 'ok' }) } },
      script: {
        response_headers: (req: ProcessingRequest) =>
          Number(header(req.response_headers!.headers, ':status')) >= 400
            ? respond('response_headers', {}, { mode_override: { request_body_mode: 'BUFFERED', response_body_mode: 'BUFFERED' } })
            : respond('response_headers'),
      },
      ext_proc: { allow_mode_override: true },
    });
    const bad = await request(envoy.url, post('x'));
    expect(bad.status).toBe(400);
    expect(bad.body).toContain('invalid_encrypted_content');
    await request(envoy.url, post('y'));
    expect(proc.kinds()).toEqual([
      ['request_headers', 'request_body', 'response_headers', 'response_body'],
      ['request_headers', 'request_body', 'response_headers'],
    ]);
    expect(Buffer.from(proc.streams[0]!.received[3]!.response_body!.body!).toString()).toContain('invalid_encrypted_content');
  });
});

describe('bodies', () => {
  it('point 12: BUFFERED with headers SEND keeps content-length; a replaced body with a matching content-length works', async () => {
    const { envoy, ups } = await startStack({
      script: { request_body: () => respond('request_body', { set: { 'content-length': '9' }, body: 'new-body!' }) },
    });
    const r = await request(envoy.url, post('{"old":true}'));
    expect(r.status).toBe(200);
    expect(ups['acct-a']!.requests[0]!.body).toBe('new-body!');
    expect(ups['acct-a']!.requests[0]!.headers['content-length']).toBe('9');
  });

  it('point 12: a replaced body without fixing content-length is an error (status_on_error)', async () => {
    const { envoy, ups } = await startStack({ script: { request_body: () => respond('request_body', { body: 'longer body than before' }) } });
    const r = await request(envoy.url, post('short'));
    expect(r.status).toBe(500);
    expect(envoy.log[0]!.details).toBe('mismatch_between_content_length_and_the_length_of_the_mutated_body');
    expect(ups['acct-a']!.requests).toHaveLength(0);
  });

  it('point 12: removing content-length in the same body response is fine', async () => {
    const { envoy, ups } = await startStack({ script: { request_body: () => respond('request_body', { remove: ['content-length'], body: 'longer body than before' }) } });
    expect((await request(envoy.url, post('short'))).status).toBe(200);
    expect(ups['acct-a']!.requests[0]!.body).toBe('longer body than before');
  });

  it('point 13: STREAMED removes content-length and ignores one set by the processor', async () => {
    const { envoy, ups, proc } = await startStack({
      script: { request_body: () => respond('request_body', { set: { 'content-length': '999', 'x-late': '1' }, body: 'replaced' }) },
      ext_proc: { processing_mode: { request_header_mode: 'SEND', response_header_mode: 'SKIP', request_body_mode: 'STREAMED' } },
    });
    const r = await request(envoy.url, post('original'));
    expect(r.status).toBe(200);
    const up = ups['acct-a']!.requests[0]!;
    expect(up.body).toBe('replaced');
    expect(up.headers['content-length']).toBeUndefined();
    expect(up.headers['x-late']).toBeUndefined(); // point 14
    expect(proc.streams[0]!.received[1]!.request_body!.end_of_stream).toBe(true);
  });

  it('point 13: BUFFERED with request headers SKIP removes content-length', async () => {
    const { envoy, ups, proc } = await startStack({
      script: { request_body: () => respond('request_body', { body: 'much longer replacement' }) },
      ext_proc: { processing_mode: { request_header_mode: 'SKIP', response_header_mode: 'SKIP', request_body_mode: 'BUFFERED' } },
    });
    expect((await request(envoy.url, post('short'))).status).toBe(200);
    expect(ups['acct-a']!.requests[0]!.headers['content-length']).toBeUndefined();
    expect(proc.kinds()).toEqual([['request_body']]);
  });

  it('point 14: header mutations in a BUFFERED body response take effect', async () => {
    const { envoy, ups } = await startStack({ script: { request_body: () => respond('request_body', { set: { 'x-from-body': 'yes' } }) } });
    await request(envoy.url, post('b'));
    expect(ups['acct-a']!.requests[0]!.headers['x-from-body']).toBe('yes');
  });

  it('point 15: CONTINUE_AND_REPLACE in a headers response replaces the body and stops the direction', async () => {
    const { envoy, ups, proc } = await startStack({
      script: { request_headers: () => respond('request_headers', { status: 'CONTINUE_AND_REPLACE', body: 'replacement' }) },
    });
    expect((await request(envoy.url, post('original body'))).status).toBe(200);
    expect(ups['acct-a']!.requests[0]!.body).toBe('replacement');
    expect(proc.kinds()).toEqual([['request_headers', 'response_headers']]);
  });

  it('point 7: a BUFFERED request body over the buffer limit gets 413', async () => {
    const { envoy, ups } = await startStack({ extra: { per_connection_buffer_limit_bytes: 1024 } });
    const r = await request(envoy.url, post('x'.repeat(4096)));
    expect(r.status).toBe(413);
    expect(ups['acct-a']!.requests).toHaveLength(0);
    expect(envoy.stats.get('downstream_rq_too_large')).toBe(1);
  });

  it('response BUFFERED: one response_body message with the whole body; mutation and content-length applied', async () => {
    const { envoy, proc } = await startStack({
      script: { response_body: () => respond('response_body', { set: { 'content-length': '7' }, body: 'patched' }) },
      ext_proc: { processing_mode: { request_header_mode: 'SEND', response_header_mode: 'SEND', response_body_mode: 'BUFFERED' } },
    });
    const r = await request(envoy.url, { headers: { 'x-cluster': 'acct-a' } });
    expect(r.body).toBe('patched');
    expect(r.headers['content-length']).toBe('7');
    expect(proc.streams[0]!.received.at(-1)!.response_body!.end_of_stream).toBe(true);
  });

  it('response STREAMED: every chunk is a message, answered in order, mutations per chunk, then an empty end_of_stream chunk', async () => {
    const { envoy, proc } = await startStack({
      upstreams: { 'acct-a': { reply: () => ({ headers: { 'content-type': 'text/event-stream' }, chunks: ['data: 1\n\n', 'data: 2\n\n', 'data: 3\n\n'] }) } },
      script: {
        response_body: (req: ProcessingRequest) => {
          const b = Buffer.from(req.response_body!.body ?? []).toString();
          return respond('response_body', b ? { body: b.toUpperCase() } : {});
        },
      },
      ext_proc: { processing_mode: { request_header_mode: 'SEND', response_header_mode: 'SEND', response_body_mode: 'STREAMED' } },
    });
    const r = await request(envoy.url, { headers: { 'x-cluster': 'acct-a' } });
    expect(r.body).toBe('DATA: 1\n\nDATA: 2\n\nDATA: 3\n\n');
    expect(r.headers['content-length']).toBeUndefined();
    const bodies = proc.streams[0]!.received.filter((m) => m.request === 'response_body');
    expect(bodies.map((m) => Buffer.from(m.response_body!.body ?? []).toString())).toEqual(['data: 1\n\n', 'data: 2\n\n', 'data: 3\n\n', '']);
    expect(bodies.map((m) => !!m.response_body!.end_of_stream)).toEqual([false, false, false, true]);
  });
});
