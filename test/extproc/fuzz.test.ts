import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RequestKind, WireProcessingRequest } from '../../src/extproc/wire-types.js';
import { ScriptedStream, startTestProcessor, type TestProcessor } from '../support/processor.js';

let processor: TestProcessor;
beforeAll(async () => {
  processor = await startTestProcessor({ accounts: [{ name: 'codex', cluster: 'cluster-codex', profile: 'chatgpt-codex' }, { name: 'api', cluster: 'cluster-api' }], healing: { enabled: true } });
});
afterAll(async () => processor.close());

const headerName = fc.oneof(
  fc.constantFrom(':method', ':path', ':status', 'content-type', 'content-encoding', 'session-id', 'x-codex-turn-state', 'x-codex-turn-metadata', 'upgrade', 'authorization', 'content-length', 'x-codex-window-id'),
  fc.string({ maxLength: 20 }),
);
const headerValue = fc.oneof(
  fc.constantFrom('POST', 'GET', '/v1/responses', '/responses?x=1', '200', '429', '500', 'application/json', 'text/event-stream', 'gzip', 'zstd', 'websocket', '{"session_id":1}', ''),
  fc.string({ maxLength: 40 }),
  fc.uint8Array({ maxLength: 40 }).map((bytes) => Buffer.from(bytes).toString('latin1')),
);
const headers = fc.array(fc.tuple(headerName, headerValue), { maxLength: 8 }).map((pairs) => ({ headers: pairs.map(([key, value]) => ({ key, raw_value: Buffer.from(value, 'latin1') })) }));
const body = fc.oneof(
  fc.jsonValue().map((value) => Buffer.from(JSON.stringify(value))),
  fc.record({ model: fc.string(), input: fc.jsonValue(), prompt_cache_key: fc.string(), previous_response_id: fc.string(), stream: fc.jsonValue() }, { requiredKeys: [] }).map((value) => Buffer.from(JSON.stringify(value))),
  fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)),
  fc.string().map((text) => Buffer.from(`event: response.completed\ndata: ${text}\n\n`)),
);
const message: fc.Arbitrary<WireProcessingRequest> = fc.oneof(
  fc.record({ kind: fc.constantFrom('request_headers', 'response_headers'), headers, end: fc.boolean() }).map(({ kind, headers: map, end }) => ({ [kind]: { headers: map, end_of_stream: end } })),
  fc.record({ kind: fc.constantFrom('request_body', 'response_body'), body, end: fc.boolean() }).map(({ kind, body: bytes, end }) => ({ [kind]: { body: bytes, end_of_stream: end } })),
  fc.constantFrom('request_trailers', 'response_trailers').map((kind) => ({ [kind]: { trailers: { headers: [] } } })),
);

describe('robustness', () => {
  it('any sequence of messages gets one answer of the matching kind each (or an immediate response), and the server keeps serving', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(message, { minLength: 1, maxLength: 6 }), async (messages) => {
        const stream = new ScriptedStream(processor);
        for (const entry of messages) {
          const kind = Object.keys(entry)[0] as RequestKind;
          const answer = await stream.send(entry, 3000);
          if (answer.immediate_response) break;
          expect(answer[kind]).toBeDefined();
        }
        await stream.end();
      }),
      { numRuns: 150 },
    );
    const check = new ScriptedStream(processor);
    const answer = await check.requestHeaders({ ':method': 'POST', ':path': '/v1/responses', 'session-id': 'alive' }, true);
    expect(answer.request_headers).toBeDefined();
    await check.end();
    const errors = await processor.server.context.metrics.registry.getSingleMetricAsString('codex_affinity_phase_errors_total');
    expect(errors).not.toMatch(/phase_errors_total\{[^}]*\} [1-9]/);
  }, 120_000);
});
