// Property-based fuzzing of the ext_proc stream: random sequences of Envoy's messages
// (headers of any name and bytes, JSON and non-JSON bodies, compressed and SSE bodies,
// trailers, observability-mode messages) against the real processor. Every message gets
// one answer of its own kind (or the stream is answered immediately, or closed with a
// status), nothing crashes, the server keeps serving, and memory comes back.
// CI runs FUZZ_RUNS (default 3000) cases; `npm run fuzz` runs 100,000.
import fc from 'fast-check';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RequestKind, WireProcessingRequest, WireProcessingResponse } from '../../src/extproc/wire-types.js';
import { ScriptedStream, startTestProcessor, type TestProcessor } from '../support/processor.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 3000);
// Caches and the store fill during the first runs; RSS is compared after them.
const WARM_UP_RUNS = Math.max(1500, Math.floor(RUNS / 10));

setFlagsFromString('--expose_gc');
const collectGarbage = runInNewContext('gc') as () => void;

function settledRss(): number {
  for (let round = 0; round < 3; round++) collectGarbage();
  return process.memoryUsage().rss;
}

let processor: TestProcessor;
beforeAll(async () => {
  processor = await startTestProcessor({
    accounts: [
      { name: 'codex', cluster: 'cluster-codex', profile: 'chatgpt-codex' },
      { name: 'api', cluster: 'cluster-api' },
    ],
    healing: { enabled: true },
    logging: { level: 'silent' },
  });
});
afterAll(async () => processor.close());

const headerName = fc.oneof(
  fc.constantFrom(':method', ':path', ':status', 'content-type', 'content-encoding', 'session-id', 'session_id', 'x-codex-turn-state', 'x-codex-turn-metadata', 'upgrade', 'connection', 'authorization', 'content-length', 'x-codex-window-id', 'x-codex-affinity-cluster', 'retry-after', 'x-codex-primary-used-percent'),
  fc.string({ maxLength: 20 }),
);
const headerValue = fc.oneof(
  fc.constantFrom('POST', 'GET', '/v1/responses', '/responses?x=1', '/backend-api/codex/responses', '/v1/conversations/conv_1', '/v1/responses/resp_1', '200', '101', '429', '500', 'application/json', 'text/event-stream', 'gzip', 'zstd', 'br', 'websocket', 'Upgrade', '{"session_id":1}', '86400', ''),
  fc.string({ maxLength: 40 }),
  fc.uint8Array({ maxLength: 40 }).map((bytes) => Buffer.from(bytes).toString('latin1')),
);
const headers = fc.array(fc.tuple(headerName, headerValue), { maxLength: 8 }).map((pairs) => ({ headers: pairs.map(([key, value]) => ({ key, raw_value: Buffer.from(value, 'latin1') })) }));
const responsesBody = fc
  .record(
    {
      model: fc.string(),
      input: fc.oneof(fc.jsonValue(), fc.array(fc.record({ type: fc.constantFrom('reasoning', 'message', 'item_reference'), id: fc.string(), encrypted_content: fc.string() }, { requiredKeys: ['type'] }))),
      prompt_cache_key: fc.string(),
      previous_response_id: fc.string(),
      conversation: fc.oneof(fc.string(), fc.record({ id: fc.string() })),
      stream: fc.jsonValue(),
      store: fc.jsonValue(),
      max_output_tokens: fc.integer(),
    },
    { requiredKeys: [] },
  )
  .map((value) => Buffer.from(JSON.stringify(value)));
const body = fc.oneof(
  fc.jsonValue().map((value) => Buffer.from(JSON.stringify(value))),
  responsesBody,
  responsesBody.map((bytes) => gzipSync(bytes)),
  fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)),
  fc.string().map((text) => Buffer.from(`event: response.completed\ndata: ${text}\n\n`)),
  fc.string().map((text) => Buffer.from(`data: {"type":"response.completed","response":{"id":"resp_x","usage":{"input_tokens":1}}}\n\ndata: ${text}`)),
);
const message: fc.Arbitrary<WireProcessingRequest> = fc.oneof(
  fc.record({ kind: fc.constantFrom('request_headers', 'response_headers'), headers, end: fc.boolean() }).map(({ kind, headers: map, end }) => ({ [kind]: { headers: map, end_of_stream: end } })),
  fc.record({ kind: fc.constantFrom('request_body', 'response_body'), body, end: fc.boolean() }).map(({ kind, body: bytes, end }) => ({ [kind]: { body: bytes, end_of_stream: end } })),
  fc.constantFrom('request_trailers', 'response_trailers').map((kind) => ({ [kind]: { trailers: { headers: [] } } })),
  fc.record({ kind: fc.constantFrom('request_body', 'response_body'), body }).map(({ kind, body: bytes }) => ({ [kind]: { body: bytes, end_of_stream: true }, observability_mode: true })),
);

/** The answer to one message, or the status the stream closed with first. */
async function answerOrClose(stream: ScriptedStream, entry: WireProcessingRequest): Promise<WireProcessingResponse | 'closed'> {
  if (entry.observability_mode) {
    // Envoy expects no answer in observability mode.
    stream.write(entry);
    return 'closed';
  }
  return Promise.race([stream.send(entry, 5000), stream.ended.then(() => 'closed' as const)]);
}

const sequence = fc.array(message, { minLength: 1, maxLength: 6 });

async function runCases(runs: number, seed?: number): Promise<void> {
  await fc.assert(
    fc.asyncProperty(sequence, async (messages) => {
      const stream = new ScriptedStream(processor);
      for (const entry of messages) {
        const kind = Object.keys(entry).find((key) => key !== 'observability_mode') as RequestKind;
        const answer = await answerOrClose(stream, entry);
        if (answer === 'closed') {
          if (entry.observability_mode) continue;
          break;
        }
        if (answer.immediate_response) break;
        expect(answer[kind]).toBeDefined();
      }
      await stream.end();
    }),
    { numRuns: runs, ...(seed !== undefined ? { seed } : {}) },
  );
}

describe('stream fuzzing', () => {
  it(`${RUNS} random message sequences: each answered with its own kind, no crash, the server keeps serving, RSS back within 10%`, async () => {
    await runCases(WARM_UP_RUNS, 1);
    const before = settledRss();
    await runCases(RUNS);
    const after = settledRss();
    console.info(`stream fuzzing: ${RUNS} cases after ${WARM_UP_RUNS} to warm up; RSS ${Math.round(before / 1e6)} MB → ${Math.round(after / 1e6)} MB`);

    const check = new ScriptedStream(processor);
    const answer = await check.requestHeaders({ ':method': 'POST', ':path': '/v1/responses', 'session-id': 'alive', authorization: 'Bearer alive' }, true);
    expect(answer.request_headers).toBeDefined();
    await check.end();
    const errors = await processor.server.context.metrics.registry.getSingleMetricAsString('codex_affinity_phase_errors_total');
    expect(errors).not.toMatch(/phase_errors_total\{[^}]*\} [1-9]/);
    expect(after / before, `RSS ${Math.round(before / 1e6)} MB → ${Math.round(after / 1e6)} MB`).toBeLessThan(1.1);
  }, Math.max(120_000, RUNS * 20));
});
