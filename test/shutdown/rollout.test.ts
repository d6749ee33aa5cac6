// A rollout through the Envoy stand-in (test/harness) with the real `codex-affinity serve`
// process: a 30 s streamed Codex turn is open when the processor gets SIGTERM. The processor
// keeps serving it and every new request Envoy still sends, leaves only after Envoy has
// exited, and says in its exit code whether it had to cut anything.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startEnvoy, type Envoy } from '../harness/index.js';

const BIN = new URL('../../dist/src/cli/main.js', import.meta.url).pathname;
const CLUSTER_HEADER = 'x-codex-affinity-cluster';
const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
});
const sleep = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds));

/** An upstream account that streams each turn as SSE: one delta a second for `seconds` (from the request's "input"), then response.completed. */
async function startSlowAccount(): Promise<number> {
  let responses = 0;
  const server = http.createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      const seconds = Number((JSON.parse(body) as { input: string }).input);
      const id = `resp_${++responses}`;
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.write(`event: response.created\ndata: ${JSON.stringify({ type: 'response.created', response: { id } })}\n\n`);
      let sent = 0;
      const tick = setInterval(() => {
        if (sent < seconds) {
          response.write(`event: response.output_text.delta\ndata: ${JSON.stringify({ type: 'response.output_text.delta', delta: `part ${++sent} ` })}\n\n`);
          return;
        }
        clearInterval(tick);
        response.end(`event: response.completed\ndata: ${JSON.stringify({ type: 'response.completed', response: { id, status: 'completed', usage: { input_tokens: 1, output_tokens: seconds } } })}\n\n`);
      }, seconds === 0 ? 0 : 1000);
      response.on('close', () => clearInterval(tick));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }));
  return (server.address() as net.AddressInfo).port;
}

/** What stands for Envoy's admin port: listening while "Envoy" runs. */
async function startEnvoyAdmin(): Promise<{ address: string; close: () => Promise<void> }> {
  const server = net.createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  cleanups.push(close);
  return { address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`, close };
}

interface Processor { child: ChildProcess; grpc: string; http: string; output: () => string; exit: Promise<number | null> }

async function startProcessor(shutdown: string): Promise<Processor> {
  const directory = mkdtempSync(join(tmpdir(), 'codex-affinity-rollout-'));
  const config = join(directory, 'config.yaml');
  writeFileSync(config, `grpc: { host: 127.0.0.1, port: 0 }\nhttp: { host: 127.0.0.1, port: 0 }\nshutdown: ${shutdown}\naccounts:\n  - { name: acct-a, cluster: cluster-a }\n`);
  const child = spawn(process.execPath, [BIN, 'serve', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  cleanups.push(() => child.kill('SIGKILL'));
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const until = Date.now() + 15_000;
  while (!output.includes('listening')) {
    if (Date.now() > until) throw new Error(`processor did not start:\n${output}`);
    await sleep(25);
  }
  const line = output.split('\n').find((entry) => entry.includes('listening'))!;
  return { child, grpc: /grpc=(\S+)/.exec(line)![1]!, http: /http=(\S+?)"/.exec(line)?.[1] ?? /http=(\S+)/.exec(line)![1]!, output: () => output, exit };
}

async function startPodEnvoy(processor: Processor, upstreamPort: number): Promise<Envoy> {
  const envoy = await startEnvoy({
    ext_proc: {
      grpc_service: { target: processor.grpc },
      processing_mode: { request_header_mode: 'SEND', response_header_mode: 'SEND', request_body_mode: 'BUFFERED', response_body_mode: 'NONE' },
      message_timeout: '2s',
      allow_mode_override: true,
      metadata_options: { receiving_namespaces: { untyped: ['codex_affinity'] } },
    },
    route_config: { routes: [{ match: { prefix: '/' }, route: { cluster_header: CLUSTER_HEADER } }] },
    clusters: [{ name: 'cluster-a', endpoints: [{ address: '127.0.0.1', port: upstreamPort }] }],
  });
  cleanups.push(() => envoy.close());
  return envoy;
}

/** A streamed Codex turn of `seconds`: the status, the SSE text, and whether the body ended cleanly. */
async function turn(envoy: Envoy, session: string, seconds: number): Promise<{ status: number; text: string }> {
  const response = await fetch(`${envoy.url}/v1/responses`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'session-id': session, authorization: 'Bearer test' },
    body: JSON.stringify({ model: 'gpt-5-codex', stream: true, input: String(seconds) }),
  });
  return { status: response.status, text: await response.text() };
}

const openStreams = async (processor: Processor): Promise<number> => {
  const text = await (await fetch(`${processor.http}/metrics`)).text();
  return Number(/^codex_affinity_open_streams(?:\{[^}]*\})? (\d+)/m.exec(text)?.[1] ?? NaN);
};

describe('rollout: SIGTERM while a 30 s turn streams', () => {
  it('the turn completes, new requests during the drain are served, and the processor leaves only after Envoy, with exit code 0', async () => {
    const upstream = await startSlowAccount();
    const admin = await startEnvoyAdmin();
    const old = await startProcessor(`{ grace: 120s, envoyAdmin: "${admin.address}" }`);
    const oldEnvoy = await startPodEnvoy(old, upstream);

    const long = turn(oldEnvoy, 'long-turn', 30);
    await sleep(1_500);
    expect(await openStreams(old)).toBe(1); // the turn holds its ext_proc stream (SSE inspection)
    const signalled = Date.now();
    old.child.kill('SIGTERM');

    // The new pod of the rollout serves too.
    const fresh = await startProcessor('{ grace: 10s }');
    const freshEnvoy = await startPodEnvoy(fresh, upstream);
    expect((await turn(freshEnvoy, 'new-pod', 1)).status).toBe(200);

    // The old Envoy still sends requests while it drains (clients on kept-alive connections):
    // served, also after a pause longer than the idle time (Envoy is still there).
    for (const pause of [500, 4_000]) {
      await sleep(pause);
      const late = await turn(oldEnvoy, `late-${pause}`, 1);
      expect(late.status).toBe(200);
      expect(late.text).toContain('response.completed');
      expect(oldEnvoy.log.at(-1)!.cluster).toBe('cluster-a');
    }

    const done = await long;
    expect(Date.now() - signalled).toBeGreaterThan(25_000);
    expect(done.status).toBe(200);
    expect(done.text.match(/^event: response\.output_text\.delta$/gm)).toHaveLength(30);
    expect(done.text).toContain('response.completed');

    // Envoy is still up: the processor stays, though nothing is open.
    await sleep(1_500);
    expect(old.child.exitCode).toBeNull();
    // Envoy exits (its drain is over): the processor follows.
    await oldEnvoy.close();
    await admin.close();
    const exitedWithin = Date.now();
    expect(await old.exit).toBe(0);
    expect(Date.now() - exitedWithin).toBeLessThan(3_000);
    expect(old.output()).toContain('"msg":"stopped"');
    expect(old.output()).not.toContain('cut');
    fresh.child.kill('SIGTERM');
    expect(await fresh.exit).toBe(0);
  }, 90_000);

  it('at the deadline the open streams are cut, counted in the log, and the exit code is 3', async () => {
    const upstream = await startSlowAccount();
    const admin = await startEnvoyAdmin();
    const processor = await startProcessor(`{ grace: 2s, envoyAdmin: "${admin.address}" }`);
    const envoy = await startPodEnvoy(processor, upstream);
    const long = turn(envoy, 'too-long', 30).catch(() => ({ status: 0, text: '' }));
    await sleep(1_000);
    expect(await openStreams(processor)).toBe(1);
    processor.child.kill('SIGTERM');
    expect(await processor.exit).toBe(3);
    expect(processor.output()).toContain('"cutStreams":1');
    expect(processor.output()).toContain('1 open streams cut');
    await envoy.close();
    await long;
  }, 30_000);

  it('without Envoy\'s address it leaves once nothing has been open for shutdown.idle', async () => {
    const upstream = await startSlowAccount();
    const processor = await startProcessor('{ grace: 30s, idle: 1s }');
    const envoy = await startPodEnvoy(processor, upstream);
    const short = turn(envoy, 'short', 3);
    await sleep(500);
    const signalled = Date.now();
    processor.child.kill('SIGTERM');
    expect((await short).status).toBe(200);
    expect(await processor.exit).toBe(0);
    const waited = Date.now() - signalled;
    expect(waited).toBeGreaterThan(2_500 + 1_000 - 200);
    expect(waited).toBeLessThan(10_000);
  }, 30_000);
});
