/**
 * The processor's own work per exchange, without gRPC: the same phases the
 * bench's exchanges send (decoded messages in, encoded answers out), in one
 * process, so a change to the hot path shows in microseconds within seconds.
 * Not a target (targets are ratios against the floors, bench/run.ts): a tool
 * for profiling (`node --cpu-prof dist/bench/processor-work.js`).
 *
 *   npm run build && node dist/bench/processor-work.js [upgrade|first-turn|resumed-1mb] [seconds] [paced]
 */
import { parseConfig } from '../src/config/load.js';
import { createLogger } from '../src/logging/logger.js';
import { startServer } from '../src/server.js';
import { AffinityRequestProcessor } from '../src/processor/request-processor.js';
import { toProcessingResponse } from '../src/extproc/adapter.js';
import { readHeaderMap } from '../src/extproc/headers.js';
import { createResponseEncoder } from '../src/extproc/response-encoder.js';
import type { RequestKind } from '../src/extproc/wire-types.js';
import { firstTurnBody, resumedTurnBody, sseChunks } from './workload.js';

const which = process.argv[2] ?? 'upgrade';
const seconds = Number(process.argv[3] ?? 3);
const config = parseConfig({
  store: { kind: 'memory' },
  grpc: { host: '127.0.0.1', port: 0 },
  http: { host: '127.0.0.1', port: 0 },
  logging: { level: 'warn' },
  accounts: [
    { name: 'acct-a', cluster: 'cluster-a', domain: 'org-a', profile: 'openai' },
    { name: 'acct-b', cluster: 'cluster-b', domain: 'org-b', profile: 'openai' },
    { name: 'acct-c', cluster: 'cluster-c', domain: 'org-c', profile: 'openai' },
  ],
});
const server = await startServer(config, { logger: createLogger('warn') });
const serialize = createResponseEncoder();
const wire = (headers: Record<string, string>) => ({ headers: Object.entries(headers).map(([key, value]) => ({ key, raw_value: Buffer.from(value) })) });
const answer = (kind: RequestKind, phase: Parameters<typeof toProcessingResponse>[1]) => serialize(toProcessingResponse(kind, phase, () => undefined)).length;

const firstBodies = Array.from({ length: 8 }, (_, index) => firstTurnBody(`first-${index}`, 40_000));
const resumedBodies = Array.from({ length: 4 }, (_, index) => resumedTurnBody(`resumed-${index}`, 1_000_000));
const sse = sseChunks('resp_work', 200);

async function exchange(index: number): Promise<number> {
  const processor = new AffinityRequestProcessor(server.context);
  let bytes = 0;
  if (which === 'upgrade') {
    const request = wire({ ':method': 'GET', ':path': '/v1/responses', ':authority': 'api.example', upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', authorization: 'Bearer k', 'session-id': `ws-${index % 1000}`, 'openai-beta': 'responses_websockets=2026-02-06' });
    bytes += answer('request_headers', await processor.requestHeaders(readHeaderMap(request), false));
    bytes += answer('response_headers', await processor.responseHeaders(readHeaderMap(wire({ ':status': '101', upgrade: 'websocket', connection: 'Upgrade' })), false));
  } else {
    const body = which === 'first-turn' ? firstBodies[index % firstBodies.length]! : resumedBodies[index % resumedBodies.length]!;
    const session = which === 'first-turn' ? `first-${index}` : `resumed-${index % 8}`;
    bytes += answer('request_headers', await processor.requestHeaders(readHeaderMap(wire({ ':method': 'POST', ':path': '/v1/responses', ':authority': 'api.example', 'content-type': 'application/json', authorization: 'Bearer k', 'session-id': session, 'content-length': String(body.length) })), false));
    bytes += answer('request_body', await processor.requestBody(body, true));
    const streamed = which === 'first-turn';
    bytes += answer('response_headers', await processor.responseHeaders(readHeaderMap(wire({ ':status': '200', 'content-type': streamed ? 'text/event-stream' : 'application/json' })), !streamed));
    if (streamed) for (let chunk = 0; chunk < sse.length; chunk++) bytes += answer('response_body', await processor.responseBody(sse[chunk]!, chunk === sse.length - 1));
  }
  processor.finish();
  return bytes;
}

/** `paced`: one exchange every 2 ms (as the bench's 500/s), so each runs as cold as it does there. */
const paced = process.argv[4] === 'paced';
for (let index = 0; index < 2000; index++) await exchange(index);
const started = process.hrtime.bigint();
let count = 0;
let busyNanoseconds = 0n;
while (Number(process.hrtime.bigint() - started) < seconds * 1e9) {
  const exchangeStarted = process.hrtime.bigint();
  await exchange(2000 + count++);
  busyNanoseconds += process.hrtime.bigint() - exchangeStarted;
  if (paced) await new Promise((resolve) => setTimeout(resolve, 2));
}
const microseconds = Number(busyNanoseconds) / 1e3 / count;
console.log(JSON.stringify({ case: which, paced, exchanges: count, microsecondsPerExchange: Math.round(microseconds * 10) / 10 }));
await server.stop(0);
