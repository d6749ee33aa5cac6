/**
 * What the Redis store adds to a request, against the memory store in the same
 * run: per-phase latency of the decision (request_body answer) and of the
 * response phase, p50 and p99, for resumed sessions (bindings found) and new
 * sessions (nothing found, a binding created).
 *
 *   npm run bench:store [-- --requests 2000 --concurrency 8]
 */
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { headerMap } from './exchange.js';
import type { ProcessClient } from './ext-proc-call.js';
import { startBenchServer } from './servers.js';

const { values } = parseArgs({ options: { requests: { type: 'string', default: '2000' }, concurrency: { type: 'string', default: '8' } } });
const REQUESTS = Number(values.requests);
const CONCURRENCY = Number(values.concurrency);
const SESSIONS = 200;

type Client = ProcessClient;


function body(session: string, turn: number): Buffer {
  const input: unknown[] = [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: `task ${session}` }] }];
  for (let index = 1; index < turn; index++) input.push({ type: 'reasoning', id: `rs_${session}_${index}`, summary: [], encrypted_content: 'gAAAA'.repeat(50) });
  return Buffer.from(JSON.stringify({ model: 'gpt-5.1-codex', stream: true, store: false, include: ['reasoning.encrypted_content'], input }));
}

function sse(session: string, turn: number): Buffer {
  const completed = { type: 'response.completed', response: { id: `resp_${session}_${turn}`, output: [{ type: 'reasoning', id: `rs_${session}_${turn}`, encrypted_content: 'gAAAA' }], usage: { input_tokens: 10 } } };
  return Buffer.from(`event: response.completed\ndata: ${JSON.stringify(completed)}\n\n`);
}

/** One exchange; returns the decision's latency and the response phase's (ms). */
async function exchange(client: Client, session: string, turn: number): Promise<[number, number]> {
  const call = client.open();
  await call.send({ request_headers: { headers: headerMap({ ':method': 'POST', ':path': '/v1/responses', 'content-type': 'application/json', authorization: 'Bearer k', 'session-id': session }), end_of_stream: false } });
  const decided = process.hrtime.bigint();
  await call.send({ request_body: { body: body(session, turn), end_of_stream: true } });
  const decision = Number(process.hrtime.bigint() - decided) / 1e6;
  const answered = process.hrtime.bigint();
  await call.send({ response_headers: { headers: headerMap({ ':status': '200', 'content-type': 'text/event-stream' }), end_of_stream: false } });
  await call.send({ response_body: { body: sse(session, turn), end_of_stream: true } });
  const response = Number(process.hrtime.bigint() - answered) / 1e6;
  call.end();
  return [decision, response];
}

function percentile(samples: number[], fraction: number): number {
  const sorted = [...samples].sort((left, right) => left - right);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))]!;
}

async function run(client: Client, phase: 'new' | 'resumed', offset: number): Promise<{ decision: number[]; response: number[] }> {
  const decision: number[] = [];
  const response: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < REQUESTS) {
        const index = next++;
        // New: a session never seen. Resumed: one of SESSIONS sessions, its next turn.
        const session = phase === 'new' ? `new-${offset}-${index}` : `hot-${index % SESSIONS}`;
        const turn = phase === 'new' ? 1 : 2 + Math.floor(index / SESSIONS);
        const [first, second] = await exchange(client, session, turn);
        decision.push(first);
        response.push(second);
      }
    }),
  );
  return { decision, response };
}

async function main(): Promise<void> {
  const servers = { memory: await startBenchServer('affinity'), 'redis, near cache': await startBenchServer('affinity-redis'), 'redis, no near cache': await startBenchServer('affinity-redis-direct') };
  const clients = Object.fromEntries(Object.entries(servers).map(([name, server]) => [name, server.client]));
  console.log(`requests=${REQUESTS} per case, concurrency=${CONCURRENCY}, ${SESSIONS} resumed sessions`);
  const rows: string[] = [];
  try {
    for (const [name, client] of Object.entries(clients)) {
      await run(client!, 'new', -1); // warm-up
      // Hot sessions get their first turn, so that resumed turns find bindings.
      await Promise.all(Array.from({ length: SESSIONS }, (_, index) => exchange(client!, `hot-${index}`, 1)));
      for (const phase of ['new', 'resumed'] as const) {
        const samples = await run(client!, phase, 0);
        rows.push(
          `${`${name}, ${phase} sessions`.padEnd(36)}${percentile(samples.decision, 0.5).toFixed(3).padStart(10)}${percentile(samples.decision, 0.99).toFixed(3).padStart(10)}` +
            `${percentile(samples.response, 0.5).toFixed(3).padStart(12)}${percentile(samples.response, 0.99).toFixed(3).padStart(12)}`,
        );
      }
    }
  } finally {
    for (const server of Object.values(servers)) server.stop();
    const admin = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
    for (const server of [servers['redis, near cache'], servers['redis, no near cache']]) {
      const keys = await admin.keys(`ca-bench-${server.pid}:*`);
      for (let index = 0; index < keys.length; index += 1000) await admin.del(...keys.slice(index, index + 1000));
    }
    await admin.quit();
  }
  console.log('\nstore, case                         decide p50  decide p99  response p50  response p99   (ms)');
  for (const row of rows) console.log(row);
}

await main();
