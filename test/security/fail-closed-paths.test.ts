// Fail closed on every path the processor can fail on while deciding: a store that hangs
// past its deadline, a body decoder that throws, a rewrite that throws, and a phase that
// throws outside the decision. Each for requests with a body, without one and WebSocket
// upgrades where the path applies. The answer is always the processor's own 503, and the
// client's cluster header never routes the request.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { GuardedStore } from '../../src/bindings/guarded-store.js';
import { createLogger } from '../../src/logging/logger.js';
import { Metrics } from '../../src/metrics/metrics.js';
import type { WireProcessingResponse } from '../../src/extproc/wire-types.js';
import { codexRequest, routedCluster, ScriptedStream, startTestProcessor, type TestProcessor } from '../support/processor.js';
import { faultyStore, memoryStore } from '../support/stores.js';
import { startStack } from '../e2e/stack.js';

const faults = vi.hoisted(() => ({ decode: false, rewrite: false }));

vi.mock('../../src/body/decode.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/body/decode.js')>();
  return {
    ...actual,
    decodeBody: (...args: Parameters<typeof actual.decodeBody>) => {
      if (faults.decode) throw new Error('decoder exploded');
      return actual.decodeBody(...args);
    },
  };
});

vi.mock('../../src/rewrite/request-rewrite.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/rewrite/request-rewrite.js')>();
  return {
    ...actual,
    rewriteRequest: (...args: Parameters<typeof actual.rewriteRequest>) => {
      if (faults.rewrite) throw new Error('rewrite exploded');
      return actual.rewriteRequest(...args);
    },
  };
});

let processor: TestProcessor | undefined;
afterEach(async () => {
  faults.decode = false;
  faults.rewrite = false;
  await processor?.close();
  processor = undefined;
});

type RequestShape = 'body' | 'headers' | 'upgrade';

const statusOf = (answer: WireProcessingResponse): number | undefined => {
  const code = (answer.immediate_response?.status as { code?: unknown } | undefined)?.code;
  const names: Record<string, number> = { ServiceUnavailable: 503, NotFound: 404, Unauthorized: 401 };
  return typeof code === 'number' ? code : typeof code === 'string' ? names[code] : undefined;
};

const errorCodeOf = (answer: WireProcessingResponse): string | undefined =>
  answer.immediate_response ? (JSON.parse(Buffer.from(answer.immediate_response.body as Buffer).toString()) as { error: { code: string } }).error.code : undefined;

/** Sends one request of the given shape and returns the answer that decided it. */
async function send(target: TestProcessor, shape: RequestShape, session: string, extra: { body?: Record<string, unknown> } = {}): Promise<WireProcessingResponse> {
  const request = codexRequest({ session, turn: 1, extraHeaders: { 'x-codex-affinity-cluster': 'cluster-client-choice' } });
  const stream = new ScriptedStream(target);
  let answer: WireProcessingResponse;
  if (shape === 'body') {
    const first = await stream.requestHeaders(request.headers);
    // The first answer already strips the client's cluster header.
    expect(routedCluster(first)).toBeUndefined();
    answer = await stream.requestBody({ ...request.body, ...extra.body });
  } else if (shape === 'headers') {
    answer = await stream.requestHeaders(request.headers, true);
  } else {
    answer = await stream.requestHeaders({ ...request.headers, ':method': 'GET', upgrade: 'websocket', connection: 'Upgrade' });
  }
  await stream.end();
  return answer;
}

describe('fail closed on every path', () => {
  it.each(['body', 'headers', 'upgrade'] as const)('a store that hangs past its deadline: a %s request gets the processor’s 503 well before Envoy’s timeout', async (shape) => {
    const { store, state } = faultyStore(memoryStore());
    processor = await startTestProcessor({}, { store });
    state.mode = 'hang';
    const started = Date.now();
    const answer = await send(processor, shape, `hang-${shape}`);
    expect(statusOf(answer)).toBe(503);
    expect(errorCodeOf(answer)).toBe('processor_unavailable');
    expect(routedCluster(answer)).toBeUndefined();
    // The given store's deadline (250 ms) answers, not a hung stream.
    expect(Date.now() - started).toBeLessThan(1500);
    expect(processor.logs.join('')).toContain('took longer than 250 ms');
  });

  it('a shared store that hangs past its deadline: a request that needs its stored state gets a retryable 503, not a 404 that lies', async () => {
    const { store: hanging, state } = faultyStore(memoryStore());
    const guarded = new GuardedStore(hanging, { deadline: 30, metrics: new Metrics({ defaultMetrics: false }), logger: createLogger('silent') });
    const accounts = [
      { name: 'acct-a', cluster: 'cluster-a', domain: 'org-a', credential: { apiKey: { env: 'CODEX_AFFINITY_TEST_FAIL_CLOSED_KEY' } } },
      { name: 'acct-b', cluster: 'cluster-b', domain: 'org-b', credential: { apiKey: { env: 'CODEX_AFFINITY_TEST_FAIL_CLOSED_KEY' } } },
    ];
    process.env.CODEX_AFFINITY_TEST_FAIL_CLOSED_KEY = 'sk-fail-closed';
    try {
      processor = await startTestProcessor({ accounts }, { store: guarded });
      state.mode = 'hang';
      const needsState = await send(processor, 'body', 'degraded-stored', { body: { previous_response_id: 'resp_owned_before_the_outage' } });
      expect(statusOf(needsState)).toBe(503);
      expect(errorCodeOf(needsState)).toBe('store_unavailable');
      // A request that carries no stored reference still routes (by placement) while degraded.
      const soft = await send(processor, 'body', 'degraded-soft');
      expect(routedCluster(soft)).toMatch(/^cluster-[ab]$/);
    } finally {
      delete process.env.CODEX_AFFINITY_TEST_FAIL_CLOSED_KEY;
    }
  });

  it('a body decoder that throws: the request gets the processor’s 503', async () => {
    processor = await startTestProcessor();
    faults.decode = true;
    const answer = await send(processor, 'body', 'decode-throws');
    expect(statusOf(answer)).toBe(503);
    expect(errorCodeOf(answer)).toBe('processor_unavailable');
    expect(processor.logs.join('')).toContain('decoder exploded');
  });

  it.each(['body', 'headers', 'upgrade'] as const)('a rewrite that throws: a %s request gets the processor’s 503', async (shape) => {
    processor = await startTestProcessor();
    faults.rewrite = true;
    const answer = await send(processor, shape, `rewrite-throws-${shape}`);
    expect(statusOf(answer)).toBe(503);
    expect(errorCodeOf(answer)).toBe('processor_unavailable');
    expect(routedCluster(answer)).toBeUndefined();
  });

  it('the error in the log names what failed, never the request’s values', async () => {
    processor = await startTestProcessor();
    faults.rewrite = true;
    await send(processor, 'body', 'secret-session-value-in-logs');
    const logs = processor.logs.join('');
    expect(logs).toContain('rewrite exploded');
    expect(logs).not.toContain('secret-session-value-in-logs');
    expect(logs).not.toContain('client-key-1');
  });
});

describe('fail closed through the Envoy stand-in', () => {
  it('a client whose request the processor cannot decide gets the 503 from Envoy, and no account sees the request, even when it names a cluster', async () => {
    const { store, state } = faultyStore(memoryStore());
    const stack = await startStack({ topology: 'affinity', accounts: [{ name: 'one', domain: 'org-1' }, { name: 'two', domain: 'org-2' }], store });
    try {
      for (const mode of ['down', 'hang'] as const) {
        state.mode = mode;
        const response = await fetch(new URL('/v1/responses', stack.url), {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: 'Bearer sk-client', 'session-id': `harness-${mode}`, 'x-codex-affinity-cluster': 'cluster-one' },
          body: JSON.stringify({ model: 'gpt-5.1', input: 'hi' }),
          signal: AbortSignal.timeout(10_000),
        });
        const body = (await response.json()) as { error: { code: string } };
        expect({ mode, status: response.status, code: body.error.code }).toEqual({ mode, status: 503, code: 'processor_unavailable' });
      }
      expect(stack.accounts.reduce((sum, account) => sum + account.requests.length, 0)).toBe(0);
      state.mode = 'up';
      const healthy = await fetch(new URL('/v1/responses', stack.url), {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer sk-client', 'session-id': 'harness-up' },
        body: JSON.stringify({ model: 'gpt-5.1', input: 'hi' }),
        signal: AbortSignal.timeout(10_000),
      });
      expect(healthy.status).toBe(200);
    } finally {
      await stack.close();
    }
  });
});
