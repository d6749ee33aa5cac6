// Stream shape, message order and HeaderMap encoding (shared/envoy-ext-proc.md points 1-3, 8, 9, 11).
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { closeAll, request, startStack } from './fixtures.js';
import { header, respond } from './scripted-processor.js';
import type { ProcessingRequest } from './proto.js';

afterEach(closeAll);

describe('ext_proc stream and headers', () => {
  it('point 3: BUFFERED order is request_headers(eos=false) -> request_body(whole, eos=true) -> response_headers', async () => {
    const { envoy, proc, ups } = await startStack();
    const r = await request(envoy.url, { path: '/v1/responses', headers: { 'x-cluster': 'acct-a' }, body: '{"model":"x"}' });
    expect(r.status).toBe(200);
    expect(r.body).toBe('hello from acct-a');
    expect(proc.kinds()).toEqual([['request_headers', 'request_body', 'response_headers']]);
    const [h, b] = proc.streams[0]!.received;
    expect(h!.request_headers!.end_of_stream).toBe(false);
    expect(Buffer.from(b!.request_body!.body!).toString()).toBe('{"model":"x"}');
    expect(b!.request_body!.end_of_stream).toBe(true);
    expect(ups['acct-a']!.requests[0]!.body).toBe('{"model":"x"}');
    expect(envoy.log[0]!.processor.sent).toEqual(['request_headers', 'request_body', 'response_headers']);
  });

  it('point 3: no body message when the request headers had end_of_stream true', async () => {
    const { envoy, proc } = await startStack();
    await request(envoy.url, { path: '/x', headers: { 'x-cluster': 'acct-a' } });
    expect(proc.kinds()).toEqual([['request_headers', 'response_headers']]);
    expect(proc.streams[0]!.received[0]!.request_headers!.end_of_stream).toBe(true);
  });

  it('point 2: default processing mode sends request and response headers only', async () => {
    const { envoy, proc } = await startStack({ ext_proc: { processing_mode: undefined } });
    await request(envoy.url, { headers: { 'x-cluster': 'acct-a' }, body: 'abc' });
    expect(proc.kinds()).toEqual([['request_headers', 'response_headers']]);
  });

  it('point 8: Envoy fills raw_value only, keys lower-case', async () => {
    const { envoy, proc } = await startStack();
    await request(envoy.url, { headers: { 'x-cluster': 'acct-a', 'X-Mixed-Case': 'V' } });
    const hs = proc.streams[0]!.received[0]!.request_headers!.headers!.headers!;
    for (const h of hs) {
      expect(h.key).toBe(h.key.toLowerCase());
      expect(h.value ?? '').toBe('');
    }
    expect(header(proc.streams[0]!.received[0]!.request_headers!.headers, 'x-mixed-case')).toBe('V');
  });

  it('point 9: pseudo-headers are in the map, Host appears as :authority, :status on responses', async () => {
    const { envoy, proc } = await startStack();
    await request(envoy.url, { path: '/v1/responses?a=1', headers: { 'x-cluster': 'acct-a', host: 'api.example:8443' } });
    const req = proc.streams[0]!.received[0]!.request_headers!.headers;
    expect(header(req, ':method')).toBe('GET');
    expect(header(req, ':path')).toBe('/v1/responses?a=1');
    expect(header(req, ':scheme')).toBe('http');
    expect(header(req, ':authority')).toBe('api.example:8443');
    expect(header(req, 'host')).toBeUndefined();
    const resp = proc.streams[0]!.received[1]!.response_headers!.headers;
    expect(header(resp, ':status')).toBe('200');
    expect(header(resp, 'x-upstream')).toBe('acct-a');
  });

  it('point 8: raw_value bytes round-trip in and out', async () => {
    const latin = 'caf\xe9';
    const { envoy, proc, ups } = await startStack({
      script: {
        request_headers: (req: ProcessingRequest) => {
          const seen = header(req.request_headers!.headers, 'x-bytes')!;
          return respond('request_headers', { set: { 'x-echo': seen + '!' } });
        },
      },
    });
    await request(envoy.url, { headers: { 'x-cluster': 'acct-a', 'x-bytes': latin } });
    const raw = proc.streams[0]!.received[0]!.request_headers!.headers!.headers!.find((h) => h.key === 'x-bytes')!.raw_value!;
    expect([...Buffer.from(raw)]).toEqual([0x63, 0x61, 0x66, 0xe9]);
    const up = ups['acct-a']!.requests[0]!;
    const i = up.rawHeaders.findIndex((h) => h.toLowerCase() === 'x-echo');
    expect(Buffer.from(up.rawHeaders[i + 1]!, 'latin1')).toEqual(Buffer.from(latin + '!', 'latin1'));
  });

  it('point 8: a mutation that sets only `value` produces an empty header', async () => {
    const { envoy, ups } = await startStack({
      script: { request_headers: () => respond('request_headers', { setHeaders: [{ header: { key: 'x-only-value', value: 'ignored' } }] }) },
    });
    const r = await request(envoy.url, { headers: { 'x-cluster': 'acct-a' } });
    expect(r.status).toBe(200);
    expect(ups['acct-a']!.requests[0]!.headers['x-only-value']).toBe('');
  });

  it('point 8: setting both value and raw_value non-empty is an error (local 500)', async () => {
    const { envoy, ups, proc } = await startStack({
      script: {
        request_headers: () =>
          respond('request_headers', { setHeaders: [{ header: { key: 'x-both', value: 'a', raw_value: Buffer.from('b') } }] }),
      },
    });
    const r = await request(envoy.url, { headers: { 'x-cluster': 'acct-a' } });
    expect(r.status).toBe(500);
    expect(ups['acct-a']!.requests).toHaveLength(0);
    expect(envoy.stats.get('rejected_header_mutations')).toBe(1);
    expect(envoy.log[0]!.immediate?.source).toBe('ext_proc');
    // after an error Envoy sends nothing more on the stream
    expect(proc.kinds()).toEqual([['request_headers']]);
  });

  it('point 11: client-sent x-envoy-* control headers are stripped before the filter and the router', async () => {
    const { envoy, proc, ups } = await startStack({
      upstreams: { 'acct-a': { failTimes: 1, failWith: 503 } },
      routes: [{ match: { prefix: '/' }, route: { cluster: 'acct-a' } }],
    });
    const r = await request(envoy.url, { headers: { 'x-envoy-retry-on': '5xx', 'x-envoy-max-retries': '3', 'x-envoy-foo': '1' } });
    expect(r.status).toBe(503); // the client's retry request was not honoured
    expect(ups['acct-a']!.requests).toHaveLength(1);
    const hs = proc.streams[0]!.received[0]!.request_headers!.headers!.headers!.map((h) => h.key);
    expect(hs.filter((k) => k.startsWith('x-envoy'))).toEqual([]);
    expect(Object.keys(ups['acct-a']!.requests[0]!.headers).filter((k) => k.startsWith('x-envoy'))).toEqual([]);
  });

  it('point 6: Envoy half-closes after the last expected response', async () => {
    const { envoy, proc } = await startStack({ ext_proc: { processing_mode: { request_header_mode: 'SEND', response_header_mode: 'SKIP' } } });
    await request(envoy.url, { headers: { 'x-cluster': 'acct-a' } });
    await new Promise((r) => setTimeout(r, 50));
    expect(proc.streams[0]!.ended[0]).toBe('eof');
    expect(envoy.stats.get('streams_started')).toBe(1);
  });

  it('point 1: one Process stream per HTTP request', async () => {
    const { envoy, proc } = await startStack();
    await request(envoy.url, { headers: { 'x-cluster': 'acct-a' } });
    await request(envoy.url, { headers: { 'x-cluster': 'acct-b' } });
    expect(proc.streams).toHaveLength(2);
    expect(envoy.log.map((l) => l.cluster)).toEqual(['acct-a', 'acct-b']);
  });

  it('point 3: trailers are sent only if the trailer mode is SEND and trailers are present', async () => {
    const chunkedWithTrailers = (url: string) =>
      new Promise<number>((resolve, reject) => {
        const u = new URL(url);
        const req = http.request({ host: u.hostname, port: u.port, method: 'POST', path: '/', agent: false, headers: { 'x-cluster': 'acct-a', 'transfer-encoding': 'chunked', trailer: 'x-checksum' } });
        req.on('response', (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)); });
        req.on('error', reject);
        req.write('part1');
        req.addTrailers({ 'x-checksum': 'abc' });
        req.end();
      });
    const send = await startStack({ ext_proc: { processing_mode: { request_header_mode: 'SEND', response_header_mode: 'SKIP', request_body_mode: 'BUFFERED', request_trailer_mode: 'SEND' } } });
    expect(await chunkedWithTrailers(send.envoy.url)).toBe(200);
    expect(send.proc.kinds()).toEqual([['request_headers', 'request_body', 'request_trailers']]);
    expect(send.proc.streams[0]!.received[1]!.request_body!.end_of_stream).toBe(false);
    expect(header(send.proc.streams[0]!.received[2]!.request_trailers!.trailers, 'x-checksum')).toBe('abc');
    await closeAll();
    const skip = await startStack({ ext_proc: { processing_mode: { request_header_mode: 'SEND', response_header_mode: 'SKIP', request_body_mode: 'BUFFERED' } } });
    expect(await chunkedWithTrailers(skip.envoy.url)).toBe(200);
    expect(skip.proc.kinds()).toEqual([['request_headers', 'request_body']]);
  });
});
