import * as grpc from '@grpc/grpc-js';
import { Writable } from 'node:stream';
import { parseConfig } from '../../src/config/load.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { loadExternalProcessor } from '../../src/extproc/proto.js';
import type { WireHeaderMap, WireProcessingRequest, WireProcessingResponse } from '../../src/extproc/wire-types.js';
import { createLogger } from '../../src/logging/logger.js';
import { startServer, type RunningServer } from '../../src/server.js';
import type { BindingStore } from '../../src/bindings/store.js';

export const THREE_DOMAINS: ConfigInput['accounts'] = [
  { name: 'acct-a', cluster: 'cluster-a', domain: 'org-a' },
  { name: 'acct-b', cluster: 'cluster-b', domain: 'org-b' },
  { name: 'acct-c', cluster: 'cluster-c', domain: 'org-c' },
];

export interface TestProcessor {
  server: RunningServer;
  client: grpc.Client & { Process: () => grpc.ClientDuplexStream<WireProcessingRequest, WireProcessingResponse> };
  logs: string[];
  /** Current time of the injected clock (milliseconds); tests move it. */
  clock: { now: number };
  close(): Promise<void>;
}

/** Starts the real gRPC processor on loopback with an injected clock and captured logs. */
export async function startTestProcessor(overrides: Partial<ConfigInput> = {}, options: { store?: BindingStore; elapsed?: () => number } = {}): Promise<TestProcessor> {
  const config = parseConfig({
    grpc: { host: '127.0.0.1', port: 0 },
    http: { host: '127.0.0.1', port: 0 },
    accounts: THREE_DOMAINS,
    logging: { level: 'debug' },
    ...overrides,
  });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, callback) {
      logs.push(String(chunk));
      callback();
    },
  });
  const clock = { now: 1_800_000_000_000 };
  const server = await startServer(config, { logger: createLogger('debug', sink), clock: () => clock.now, ...(options.store ? { store: options.store } : {}), ...(options.elapsed ? { elapsed: options.elapsed } : {}) });
  const { client: Client } = loadExternalProcessor();
  const client = new Client(server.grpcAddress, grpc.credentials.createInsecure()) as unknown as TestProcessor['client'];
  return {
    server,
    client,
    logs,
    clock,
    async close() {
      client.close();
      await server.stop(1000);
    },
  };
}

export { unclosable } from './stores.js';

/** How many session bindings a 2xx has proved so far (the proofs counter). */
export async function sessionProofs(target: TestProcessor): Promise<number> {
  const text = await target.server.context.metrics.registry.getSingleMetricAsString('codex_affinity_proofs_total');
  return Number(/kind="session"} (\d+)/.exec(text)?.[1] ?? 0);
}

export function headerMap(headers: Record<string, string>): WireHeaderMap {
  return { headers: Object.entries(headers).map(([key, value]) => ({ key, raw_value: Buffer.from(value, 'latin1') })) };
}

/**
 * One ext_proc stream driven message by message, the way Envoy does: send a
 * message, wait for its single answer.
 */
export class ScriptedStream {
  private readonly call: grpc.ClientDuplexStream<WireProcessingRequest, WireProcessingResponse>;
  private readonly answers: WireProcessingResponse[] = [];
  private waiting: Array<(response: WireProcessingResponse) => void> = [];
  readonly ended: Promise<grpc.StatusObject>;

  constructor(processor: TestProcessor) {
    this.call = processor.client.Process();
    this.call.on('data', (response: WireProcessingResponse) => {
      const waiter = this.waiting.shift();
      if (waiter) waiter(response);
      else this.answers.push(response);
    });
    this.ended = new Promise((resolve) => {
      this.call.on('status', resolve);
      this.call.on('error', () => undefined);
    });
  }

  send(message: WireProcessingRequest, timeoutMilliseconds = 2000): Promise<WireProcessingResponse> {
    this.call.write(message);
    const queued = this.answers.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const waiter = (response: WireProcessingResponse) => {
        clearTimeout(timer);
        resolve(response);
      };
      const timer = setTimeout(() => {
        this.waiting = this.waiting.filter((entry) => entry !== waiter);
        reject(new Error(`no answer to ${Object.keys(message).join(',')} within ${timeoutMilliseconds} ms`));
      }, timeoutMilliseconds);
      this.waiting.push(waiter);
    });
  }

  /** Writes a message that must get no answer. */
  write(message: WireProcessingRequest): void {
    this.call.write(message);
  }

  requestHeaders(headers: Record<string, string>, endOfStream = false) {
    return this.send({ request_headers: { headers: headerMap(headers), end_of_stream: endOfStream } });
  }

  requestBody(body: Buffer | string | object) {
    const bytes = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    return this.send({ request_body: { body: bytes, end_of_stream: true } });
  }

  responseHeaders(headers: Record<string, string>, endOfStream = false) {
    return this.send({ response_headers: { headers: headerMap(headers), end_of_stream: endOfStream } });
  }

  responseBody(body: Buffer | string, endOfStream: boolean) {
    return this.send({ response_body: { body: Buffer.isBuffer(body) ? body : Buffer.from(body), end_of_stream: endOfStream } });
  }

  /** Half-close, as Envoy does after the last expected answer. */
  end(): Promise<grpc.StatusObject> {
    this.call.end();
    return this.ended;
  }

  cancel(): void {
    this.call.cancel();
  }
}

/** The header mutation of a body or headers answer, as name → value (raw_value). */
export function setHeaders(response: WireProcessingResponse): Map<string, string> {
  const common =
    response.request_headers?.response ?? response.request_body?.response ?? response.response_headers?.response ?? response.response_body?.response;
  const result = new Map<string, string>();
  for (const option of common?.header_mutation?.set_headers ?? []) {
    result.set(option.header.key, Buffer.from(option.header.raw_value ?? []).toString('latin1'));
  }
  return result;
}

export function routedCluster(response: WireProcessingResponse): string | undefined {
  return setHeaders(response).get('x-codex-affinity-cluster');
}

export function metadataOf(response: WireProcessingResponse, namespace = 'codex_affinity'): Record<string, unknown> {
  const fields = (response.dynamic_metadata?.fields?.[namespace]?.structValue?.fields ?? {}) as Record<string, { stringValue?: string; numberValue?: number; boolValue?: boolean }>;
  return Object.fromEntries(Object.entries(fields).map(([key, value]) => [key, value.stringValue ?? value.numberValue ?? value.boolValue]));
}

/** A Codex-shaped request: headers and body like Codex CLI 0.169.0 sends. */
export function codexRequest(options: {
  session: string;
  turn: number;
  principal?: string;
  encryptedFrom?: string;
  extraHeaders?: Record<string, string>;
  path?: string;
}): { headers: Record<string, string>; body: Record<string, unknown> } {
  const input: unknown[] = [
    { type: 'message', role: 'developer', content: [{ type: 'input_text', text: 'You are a coding agent.' }] },
    { type: 'message', role: 'user', content: [{ type: 'input_text', text: `task of ${options.session}` }] },
  ];
  for (let turn = 1; turn < options.turn; turn++) {
    input.push({ type: 'reasoning', id: `rs_${options.session}_${turn}`, summary: [], encrypted_content: `ENC-${options.encryptedFrom ?? 'x'}-${turn}` });
    input.push({ type: 'message', role: 'assistant', content: [{ type: 'output_text', text: `answer ${turn}` }] });
    input.push({ type: 'message', role: 'user', content: [{ type: 'input_text', text: `follow-up ${turn}` }] });
  }
  return {
    headers: {
      ':method': 'POST',
      ':path': options.path ?? '/v1/responses',
      ':scheme': 'http',
      ':authority': 'gateway',
      'content-type': 'application/json',
      accept: 'text/event-stream',
      authorization: `Bearer ${options.principal ?? 'client-key-1'}`,
      'session-id': options.session,
      'thread-id': options.session,
      'x-codex-window-id': `${options.session}:0`,
      originator: 'codex_exec',
      ...options.extraHeaders,
    },
    body: {
      model: 'gpt-5.1-codex',
      stream: true,
      store: false,
      include: ['reasoning.encrypted_content'],
      prompt_cache_key: options.session,
      input,
    },
  };
}

/** A Responses SSE stream as the API sends it (abridged event set). */
export function sseStream(responseId: string, reasoningId: string, usage = { input_tokens: 100, input_tokens_details: { cached_tokens: 60 } }): string {
  const events: Array<[string, unknown]> = [
    ['response.created', { type: 'response.created', sequence_number: 0, response: { id: responseId, status: 'in_progress', output: [] } }],
    ['response.output_text.delta', { type: 'response.output_text.delta', sequence_number: 1, delta: 'hé' }],
    [
      'response.completed',
      {
        type: 'response.completed',
        sequence_number: 2,
        response: { id: responseId, status: 'completed', output: [{ type: 'reasoning', id: reasoningId, encrypted_content: 'ENC' }], usage },
      },
    ],
  ];
  return events.map(([event, data]) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`).join('');
}
