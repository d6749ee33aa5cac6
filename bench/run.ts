/**
 * Processor overhead against a no-op grpc-js floor, measured in one run as a
 * ratio (the machine is small and noisy; absolute numbers mean little).
 * Each scenario drives Envoy-shaped ext_proc streams (request headers, BUFFERED
 * body, response headers, and for SSE the streamed response chunks) at both
 * servers, alternating rounds, and reports the median per-request time ratio.
 *
 *   npm run bench [-- --rounds 5 --requests 400 --concurrency 16]
 */
import * as grpc from '@grpc/grpc-js';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadExternalProcessor } from '../src/extproc/proto.js';
import { openProcessCall, type ProcessClient } from './ext-proc-call.js';

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '5' }, requests: { type: 'string', default: '300' }, concurrency: { type: 'string', default: '16' } },
});
const ROUNDS = Number(values.rounds);
const REQUESTS = Number(values.requests);
const CONCURRENCY = Number(values.concurrency);

function headerMap(headers: Record<string, string>) {
  return { headers: Object.entries(headers).map(([key, value]) => ({ key, raw_value: Buffer.from(value) })) };
}

/** A Codex-shaped body of about `bytes` bytes: history resent with encrypted reasoning. */
function codexBody(session: string, bytes: number): Buffer {
  const input: unknown[] = [
    { type: 'message', role: 'developer', content: [{ type: 'input_text', text: 'You are a coding agent. '.repeat(700) }] },
    { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'fix the build' }] },
  ];
  let turn = 0;
  while (JSON.stringify(input).length < bytes) {
    turn++;
    input.push({ type: 'reasoning', id: `rs_${session}_${turn}`, summary: [], encrypted_content: 'gAAAA'.repeat(400) });
    input.push({ type: 'function_call', call_id: `call_${turn}`, name: 'exec_command', arguments: JSON.stringify({ cmd: 'ls -la "prompt_cache_key": x' }) });
    input.push({ type: 'function_call_output', call_id: `call_${turn}`, output: 'file '.repeat(800) });
  }
  return Buffer.from(
    JSON.stringify({ model: 'gpt-5.1-codex', stream: true, store: false, max_output_tokens: 4096, include: ['reasoning.encrypted_content'], prompt_cache_key: session, input, tools: [] }),
  );
}

function sse(responseId: string): Buffer[] {
  const events = [
    `event: response.created\ndata: ${JSON.stringify({ type: 'response.created', sequence_number: 0, response: { id: responseId, output: [] } })}\n\n`,
    ...Array.from({ length: 40 }, (_, index) => `event: response.output_text.delta\ndata: ${JSON.stringify({ type: 'response.output_text.delta', sequence_number: index + 1, delta: 'token ' })}\n\n`),
    `event: response.completed\ndata: ${JSON.stringify({ type: 'response.completed', sequence_number: 41, response: { id: responseId, output: [{ type: 'reasoning', id: `rs_${responseId}`, encrypted_content: 'gAAAA' }], usage: { input_tokens: 1000, input_tokens_details: { cached_tokens: 900 } } } })}\n\n`,
  ];
  const text = Buffer.from(events.join(''));
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < text.length; offset += 1024) chunks.push(text.subarray(offset, offset + 1024));
  return chunks;
}

interface Scenario {
  name: string;
  bodyBytes: number;
  streamResponse: boolean;
  /** Which processor serves it: openai accounts (no body change) or chatgpt-codex accounts (body rewritten). */
  server: 'affinity' | 'affinity-codex';
}

const SCENARIOS: Scenario[] = [
  { name: 'first turn, 40 KB body, SSE response', bodyBytes: 40_000, streamResponse: true, server: 'affinity' },
  { name: 'resumed session, 1 MB body, headers only', bodyBytes: 1_000_000, streamResponse: false, server: 'affinity' },
  { name: '1 MB body rewritten for chatgpt-codex', bodyBytes: 1_000_000, streamResponse: false, server: 'affinity-codex' },
];

type Client = ProcessClient;

async function oneRequest(client: Client, session: string, body: Buffer, streamResponse: boolean, index: number): Promise<void> {
  const { send, end } = openProcessCall(client);
  await send({
    request_headers: {
      headers: headerMap({ ':method': 'POST', ':path': '/v1/responses', 'content-type': 'application/json', authorization: 'Bearer k', 'session-id': session, 'content-length': String(body.length) }),
      end_of_stream: false,
    },
  });
  await send({ request_body: { body, end_of_stream: true } });
  const answer = await send({
    response_headers: { headers: headerMap({ ':status': '200', 'content-type': streamResponse ? 'text/event-stream' : 'text/plain' }), end_of_stream: !streamResponse },
  });
  if (streamResponse) {
    // The floor asks for nothing; send the body chunks to both so the work compared is the same.
    void answer;
    const chunks = sse(`resp_${session}_${index}`);
    for (let chunk = 0; chunk < chunks.length; chunk++) {
      await send({ response_body: { body: chunks[chunk]!, end_of_stream: chunk === chunks.length - 1 } });
    }
  }
  end();
}

async function measure(client: Client, scenario: Scenario, bodies: Buffer[]): Promise<number> {
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < REQUESTS) {
        const index = next++;
        await oneRequest(client, `session-${index % bodies.length}`, bodies[index % bodies.length]!, scenario.streamResponse, index);
      }
    }),
  );
  return Number(process.hrtime.bigint() - started) / 1e6 / REQUESTS;
}

async function spawnServer(kind: 'noop' | Scenario['server']): Promise<{ child: ChildProcess; address: string }> {
  const script = fileURLToPath(new URL('./server-process.js', import.meta.url));
  const child = spawn(process.execPath, [script, kind], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once('line', resolve));
  return { child, address: (JSON.parse(line) as { address: string }).address };
}

function median(values: number[]): number {
  const sorted = [...values].sort((left, right) => left - right);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function main(): Promise<void> {
  const { client: Client } = loadExternalProcessor();
  const options = { 'grpc.max_send_message_length': 64 * 1024 * 1024 };
  const noop = await spawnServer('noop');
  const servers = { affinity: await spawnServer('affinity'), 'affinity-codex': await spawnServer('affinity-codex') };
  const noopClient = new Client(noop.address, grpc.credentials.createInsecure(), options) as unknown as Client;
  const clients = {
    affinity: new Client(servers.affinity.address, grpc.credentials.createInsecure(), options) as unknown as Client,
    'affinity-codex': new Client(servers['affinity-codex'].address, grpc.credentials.createInsecure(), options) as unknown as Client,
  };
  console.log(`rounds=${ROUNDS} requests/round=${REQUESTS} concurrency=${CONCURRENCY}`);
  const results: Array<{ scenario: string; noop: number; affinity: number; ratio: number }> = [];
  try {
    for (const scenario of SCENARIOS) {
      const affinityClient = clients[scenario.server];
      const bodies = Array.from({ length: 20 }, (_, index) => codexBody(`session-${index}`, scenario.bodyBytes));
      await measure(noopClient, scenario, bodies); // warm-up
      await measure(affinityClient, scenario, bodies);
      const ratios: number[] = [];
      const noopTimes: number[] = [];
      const affinityTimes: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        // Alternate the order so drift on a noisy machine hits both sides.
        const first = round % 2 === 0;
        const a = first ? await measure(noopClient, scenario, bodies) : 0;
        const b = await measure(affinityClient, scenario, bodies);
        const c = first ? a : await measure(noopClient, scenario, bodies);
        noopTimes.push(c);
        affinityTimes.push(b);
        ratios.push(b / c);
      }
      results.push({ scenario: scenario.name, noop: median(noopTimes), affinity: median(affinityTimes), ratio: median(ratios) });
    }
  } finally {
    noopClient.close();
    for (const client of Object.values(clients)) client.close();
    noop.child.kill();
    for (const server of Object.values(servers)) server.child.kill();
  }
  console.log('\nscenario                                      no-op ms/req  affinity ms/req  ratio (median)');
  for (const result of results) {
    console.log(`${result.scenario.padEnd(46)}${result.noop.toFixed(3).padStart(12)}${result.affinity.toFixed(3).padStart(17)}${result.ratio.toFixed(2).padStart(16)}`);
  }
}

await main();
