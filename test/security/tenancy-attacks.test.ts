// Attacks on tenancy found by an adversarial review of the security work: each test is an
// attack that must be refused (each failed before its fix).
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../src/config/schema.js';
import type { WireProcessingResponse } from '../../src/extproc/wire-types.js';
import { ScriptedStream, setHeaders, startTestProcessor, type TestProcessor } from '../support/processor.js';

const KEY_VARIABLE = 'CODEX_AFFINITY_REVIEW_KEY';
const POOL_KEY = 'sk-pool-credential-review';

const injecting = (extra: Partial<ConfigInput> = {}): Partial<ConfigInput> => ({
  accounts: [
    { name: 'acct-a', cluster: 'cluster-a', domain: 'org-a', profile: 'openai', credential: { apiKey: { env: KEY_VARIABLE } } },
    { name: 'acct-b', cluster: 'cluster-b', domain: 'org-b', profile: 'openai', credential: { apiKey: { env: KEY_VARIABLE } } },
  ],
  ...extra,
});

let processor: TestProcessor | undefined;
beforeAll(() => {
  process.env[KEY_VARIABLE] = POOL_KEY;
});
afterAll(() => {
  delete process.env[KEY_VARIABLE];
});
afterEach(async () => {
  await processor?.close();
  processor = undefined;
});

const statusOf = (answer: WireProcessingResponse): number | undefined => {
  const code = (answer.immediate_response?.status as { code?: unknown } | undefined)?.code;
  const names: Record<string, number> = { ServiceUnavailable: 503, NotFound: 404, Unauthorized: 401, BadRequest: 400, UnsupportedMediaType: 415 };
  return typeof code === 'number' ? code : typeof code === 'string' ? names[code] : undefined;
};

const BASE_HEADERS = { ':method': 'POST', ':path': '/v1/responses', ':scheme': 'http', ':authority': 'gateway', 'content-type': 'application/json', authorization: 'Bearer sk-tenant-b' };

async function post(target: TestProcessor, body: Buffer | string | object, headers: Record<string, string> = {}): Promise<WireProcessingResponse> {
  const stream = new ScriptedStream(target);
  const first = await stream.requestHeaders({ ...BASE_HEADERS, ...headers });
  if (first.immediate_response) {
    await stream.end();
    return first;
  }
  const answer = await stream.requestBody(body);
  await stream.end();
  return answer;
}

/** True when the processor let the request go upstream with the pool's credential. */
const borrowedCredential = (answer: WireProcessingResponse): boolean => setHeaders(answer).get('authorization') === `Bearer ${POOL_KEY}`;

describe('stored-reference tenancy bypasses (pool injects credentials, unknownStoredReferences: refuse by default)', () => {
  it('control: a foreign previous_response_id in a readable body is refused with 404', async () => {
    processor = await startTestProcessor(injecting());
    const answer = await post(processor, { model: 'gpt-5.1', input: 'hi', previous_response_id: 'resp_owned_by_tenant_a' });
    expect(statusOf(answer)).toBe(404);
  });

  // Defect 1: a body the processor cannot read is forwarded with the pool's credential, unchecked.
  it.each([
    ['content-encoding: gzip on a plain body (corrupt_encoding)', { 'content-encoding': 'gzip' }, (json: string) => Buffer.from(json)],
    ['stacked encodings "gzip, identity" (unknown_encoding)', { 'content-encoding': 'gzip, identity' }, (json: string) => gzipSync(json)],
    ['content-type text/plain (content_type)', { 'content-type': 'text/plain' }, (json: string) => Buffer.from(json)],
    ['NaN value, which Python json accepts (malformed_json)', {}, (json: string) => Buffer.from(json.replace('"temperature":1', '"temperature":NaN'))],
  ])('an unreadable body (%s) carrying a foreign previous_response_id is not sent upstream with the pool credential', async (_what, headers, encode) => {
    processor = await startTestProcessor(injecting());
    const json = JSON.stringify({ model: 'gpt-5.1', temperature: 1, input: 'hi', previous_response_id: 'resp_owned_by_tenant_a' });
    const answer = await post(processor, encode(json), headers);
    expect(borrowedCredential(answer)).toBe(false);
    expect(statusOf(answer)).toBeDefined();
  });

  // Defect 2: an item reference without "type" (the API's default type is item_reference).
  it.each([
    ['no type', { id: 'msg_owned_by_tenant_a' }],
    ['type null', { type: null, id: 'msg_owned_by_tenant_a' }],
  ])('an item reference with %s is refused like type item_reference', async (_what, item) => {
    processor = await startTestProcessor(injecting());
    const answer = await post(processor, { model: 'gpt-5.1', input: [item, { role: 'user', content: 'repeat it' }] });
    expect(statusOf(answer)).toBe(404);
  });
});

describe('cache-key isolation', () => {
  // Defect 3: rewrite.enabled: false turns off tenant isolation of prompt_cache_key and session headers.
  it('with rewrite.enabled false the pool-shared credential still never carries a tenant-chosen prompt_cache_key / session_id', async () => {
    processor = await startTestProcessor(injecting({ rewrite: { enabled: false } }));
    const answer = await post(processor, { model: 'gpt-5.1', input: 'hi', prompt_cache_key: 'victim-session' }, { session_id: 'victim-session' });
    expect(borrowedCredential(answer)).toBe(true);
    const body = answer.request_body?.response?.body_mutation?.body;
    const sent = body ? JSON.parse(Buffer.from(body as Buffer).toString()) : undefined;
    expect(sent?.prompt_cache_key).toMatch(/^ca_/);
    expect(setHeaders(answer).get('session_id')).toMatch(/^ca_/);
  });
});

describe('principals', () => {
  // Defect 4 candidate: principal header configured (authn's job) but absent: an unverified Authorization becomes the principal.
  it('with routing.principalHeader configured, a request without it is anonymous in an injecting pool (401), whatever Authorization it sends', async () => {
    processor = await startTestProcessor(injecting({ routing: { principalHeader: 'x-codex-affinity-principal' } }));
    const answer = await post(processor, { model: 'gpt-5.1', input: 'hi' }, { authorization: 'Bearer anything-at-all' });
    expect(statusOf(answer)).toBe(401);
  });
});

import { parseConfig } from '../../src/config/load.js';
import { routesOf } from '../../src/envoy/routes.js';
import { EXT_PROC_FILTER } from '../../src/envoy/bootstrap.js';
import { routedCluster } from '../support/processor.js';
import { routeFor } from '../deploy/route-match.js';

describe('stored-object calls in the shipped Envoy config', () => {
  // Defect 5: the processor picks the account holding the object and injects ITS credential, but the
  // shipped route for /v1/responses/{id} and /v1/conversations/{id} is the fixed `default` route.
  it('a stored-object call is sent where the processor routed it (with that account\'s credential), not to the fixed default cluster', async () => {
    process.env.REVIEW_KEY_EU = 'sk-eu-account';
    process.env.REVIEW_KEY_US = 'sk-us-account';
    const accounts = [
      { name: 'us', cluster: 'cluster-us', domain: 'org-us', profile: 'openai' as const, credential: { apiKey: { env: 'REVIEW_KEY_US' } }, upstream: { host: 'us.llm-gateway.example', port: 443, tls: true } },
      { name: 'eu', cluster: 'cluster-eu', domain: 'org-eu', profile: 'openai' as const, credential: { apiKey: { env: 'REVIEW_KEY_EU' } }, upstream: { host: 'eu.llm-gateway.example', port: 443, tls: true } },
    ];
    processor = await startTestProcessor({ accounts });
    // A stored response learned on the eu account (try sessions until placement picks eu).
    let stored: string | undefined;
    for (let index = 0; index < 40 && stored === undefined; index++) {
      const stream = new ScriptedStream(processor);
      await stream.requestHeaders({ ...BASE_HEADERS, authorization: 'Bearer sk-tenant-a', 'session-id': `s-${index}` });
      const routed = await stream.requestBody({ model: 'gpt-5.1', input: 'hi', store: true });
      const answered = await stream.responseHeaders({ ':status': '200', 'content-type': 'application/json' });
      if (answered.mode_override?.response_body_mode === 'BUFFERED') await stream.responseBody(JSON.stringify({ id: `resp_${index}`, object: 'response', store: true, output: [] }), true);
      await stream.end();
      if (routedCluster(routed) === 'cluster-eu') stored = `resp_${index}`;
    }
    expect(stored).toBeDefined();
    const stream = new ScriptedStream(processor);
    const answer = await stream.requestHeaders({ ':method': 'GET', ':path': `/v1/responses/${stored}`, ':scheme': 'http', ':authority': 'gateway', authorization: 'Bearer sk-tenant-a' }, true);
    await stream.end();
    expect(routedCluster(answer)).toBe('cluster-eu');
    expect(setHeaders(answer).get('authorization')).toBe('Bearer sk-eu-account');
    // Envoy, with the shipped bootstrap, re-resolves the route after clear_route_cache:
    const routes = routesOf(parseConfig({ accounts }), EXT_PROC_FILTER);
    const route = routeFor(routes, { method: 'GET', path: `/v1/responses/${stored}` });
    expect(route.route.cluster_header ?? route.route.cluster).toBe('x-codex-affinity-cluster');
  });
});

describe('WebSocket upgrades in a pool that injects credentials', () => {
  // Defect 6: frames (response.create with previous_response_id / prompt_cache_key) are never seen,
  // yet the upgrade borrows the pool credential. Not mentioned in "Tenants and trust".
  it('an upgrade in an injecting pool with unknownStoredReferences: refuse is not handed the pool credential unseen', async () => {
    processor = await startTestProcessor(injecting());
    const stream = new ScriptedStream(processor);
    const answer = await stream.requestHeaders({ ...BASE_HEADERS, ':method': 'GET', upgrade: 'websocket', connection: 'Upgrade', 'session-id': 'ws-1' });
    await stream.end();
    expect(borrowedCredential(answer)).toBe(false);
  });
});

import { GuardedStore } from '../../src/bindings/guarded-store.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { createLogger } from '../../src/logging/logger.js';
import { faultyStore, memoryStore } from '../support/stores.js';

async function storeAs(target: TestProcessor, clientKey: string, id: string): Promise<void> {
  const stream = new ScriptedStream(target);
  await stream.requestHeaders({ ...BASE_HEADERS, authorization: `Bearer ${clientKey}`, 'session-id': `owner-${id}` });
  const routed = await stream.requestBody({ model: 'gpt-5.1', input: 'secret', store: true });
  expect(routed.immediate_response).toBeUndefined();
  const answered = await stream.responseHeaders({ ':status': '200', 'content-type': 'application/json' });
  if (answered.mode_override?.response_body_mode === 'BUFFERED') await stream.responseBody(JSON.stringify({ id, object: 'response', store: true, output: [] }), true);
  await stream.end();
}

describe('unknownStoredReferences: place, claims, and a degraded store', () => {
  // Defect 7: while the shared store is degraded, the claim read returns "none", so another
  // tenant's reference is placed with the pool credential instead of refused / 503.
  it('a foreign previous_response_id is not placed with the pool credential while the store is degraded', async () => {
    const { store: flaky, state } = faultyStore(memoryStore());
    const guarded = new GuardedStore(flaky, { deadline: 30, metrics: new Metrics({ defaultMetrics: false }), logger: createLogger('silent') });
    processor = await startTestProcessor(injecting({ tenancy: { unknownStoredReferences: 'place' } }), { store: guarded });
    await storeAs(processor, 'sk-tenant-a', 'resp_of_tenant_a');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const up = await post(processor, { model: 'gpt-5.1', input: 'hi', previous_response_id: 'resp_of_tenant_a' });
    expect(statusOf(up)).toBe(404); // claims work while the store answers
    state.mode = 'down';
    const down = await post(processor, { model: 'gpt-5.1', input: 'hi', previous_response_id: 'resp_of_tenant_a' });
    expect(borrowedCredential(down)).toBe(false);
    expect([404, 503]).toContain(statusOf(down));
  });

  it('(observation) existence oracle: a foreign id gets the processor\'s 404, an id nobody stored is placed upstream', async () => {
    processor = await startTestProcessor(injecting({ tenancy: { unknownStoredReferences: 'place' } }));
    await storeAs(processor, 'sk-tenant-a', 'resp_of_tenant_a');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const foreign = await post(processor, { model: 'gpt-5.1', input: 'hi', previous_response_id: 'resp_of_tenant_a' });
    const unknown = await post(processor, { model: 'gpt-5.1', input: 'hi', previous_response_id: 'resp_nobody_stored' });
    expect(statusOf(foreign)).toBe(404);
    expect(borrowedCredential(unknown)).toBe(true);
  });
});

describe('error classes from echoed client text', () => {
  // Defect 8: classifyError matches free text anywhere in the message, on any status. The
  // upstream echoes client values (the model name) in 4xx messages, so a tenant can make
  // a request-specific 404 look like an account's usage limit or overload, and cool down
  // every account of the pool, one request each.
  it.each([
    ['usage limit', (view: { coolingDownUntil: number }, now: number) => view.coolingDownUntil > now],
  ])('a 404 model_not_found echoing model "%s" leaves the account usable', async (model, hurt) => {
    processor = await startTestProcessor(injecting());
    const stream = new ScriptedStream(processor);
    await stream.requestHeaders({ ...BASE_HEADERS, 'session-id': 'dos-1' });
    const routed = await stream.requestBody({ model, input: 'hi' });
    const account = routedCluster(routed) === 'cluster-a' ? 'acct-a' : 'acct-b';
    const answered = await stream.responseHeaders({ ':status': '404', 'content-type': 'application/json' });
    expect(answered.mode_override?.response_body_mode).toBe('BUFFERED');
    const error = { error: { message: `The model \`${model}\` does not exist or you do not have access to it.`, type: 'invalid_request_error', param: null, code: 'model_not_found' } };
    await stream.responseBody(JSON.stringify(error), true);
    await stream.end();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const view = processor.server.context.accountState.view(account, processor.clock.now);
    expect(hurt(view, processor.clock.now)).toBe(false);
  });

  it('five 404s echoing model "overloaded" do not make the account unhealthy', async () => {
    processor = await startTestProcessor(injecting());
    const hits = new Map<string, number>();
    for (let index = 0; index < 10; index++) {
      const stream = new ScriptedStream(processor);
      await stream.requestHeaders({ ...BASE_HEADERS, 'session-id': 'dos-2' });
      const routed = await stream.requestBody({ model: 'overloaded', input: 'hi' });
      const account = routedCluster(routed) === 'cluster-a' ? 'acct-a' : 'acct-b';
      hits.set(account, (hits.get(account) ?? 0) + 1);
      await stream.responseHeaders({ ':status': '404', 'content-type': 'application/json' });
      await stream.responseBody(JSON.stringify({ error: { message: 'The model `overloaded` does not exist or you do not have access to it.', type: 'invalid_request_error', param: null, code: 'model_not_found' } }), true);
      await stream.end();
    }
    const worst = [...hits.keys()].map((account) => processor!.server.context.accountState.view(account, processor!.clock.now).recentFailures);
    expect(Math.max(...worst)).toBe(0);
  });
});

describe('POST with Upgrade: websocket', () => {
  it('a POST /v1/responses carrying Upgrade: websocket and a body is not decided unread (its body is the request)', async () => {
    processor = await startTestProcessor(injecting());
    const stream = new ScriptedStream(processor);
    const answer = await stream.requestHeaders({ ...BASE_HEADERS, upgrade: 'websocket', connection: 'Upgrade', 'content-length': '80' });
    await stream.end();
    // Today: decided on headers, pool credential injected, request body processing turned off.
    expect(answer.mode_override?.request_body_mode).not.toBe('NONE');
  });
});

describe('principal header present but empty', () => {
  it('an empty principal header (authn set nothing) in an injecting pool is anonymous, not the hash of an unverified Authorization', async () => {
    processor = await startTestProcessor(injecting({ routing: { principalHeader: 'x-codex-affinity-principal' } }));
    const answer = await post(processor, { model: 'gpt-5.1', input: 'hi' }, { 'x-codex-affinity-principal': '  ', authorization: 'Bearer made-up' });
    expect(statusOf(answer)).toBe(401);
  });
});

describe('stored-object calls whose body carries item references', () => {
  // Defect: "A call on a stored object is routed by its path: its body is not read", but
  // POST /v1/conversations and POST /v1/conversations/{id}/items take `items` (ResponseInputItem,
  // item_reference included): another tenant's stored item goes in unchecked.
  async function objectCall(target: TestProcessor, path: string, body: object, answer?: object) {
    const stream = new ScriptedStream(target);
    await stream.requestHeaders({ ...BASE_HEADERS, ':path': path });
    const routed = await stream.requestBody(body);
    if (!routed.immediate_response && answer) {
      const headers = await stream.responseHeaders({ ':status': '200', 'content-type': 'application/json' });
      if (headers.mode_override?.response_body_mode === 'BUFFERED') await stream.responseBody(JSON.stringify(answer), true);
    }
    await stream.end();
    return routed;
  }

  it('POST /v1/conversations with items: [item_reference to a foreign item] is refused', async () => {
    processor = await startTestProcessor(injecting());
    const answer = await objectCall(processor, '/v1/conversations', { items: [{ type: 'item_reference', id: 'msg_owned_by_tenant_a' }] });
    expect(borrowedCredential(answer)).toBe(false);
    expect(statusOf(answer)).toBe(404);
  });

  it('POST /v1/conversations/{own}/items with a foreign item_reference is refused', async () => {
    processor = await startTestProcessor(injecting());
    await objectCall(processor, '/v1/conversations', { metadata: {} }, { id: 'conv_of_b', object: 'conversation', created_at: 1, metadata: {} });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const answer = await objectCall(processor, '/v1/conversations/conv_of_b/items', { items: [{ type: 'item_reference', id: 'msg_owned_by_tenant_a' }] });
    expect(statusOf(answer)).toBe(404);
  });
});

describe('pass-through in an injecting deployment', () => {
  it('a non-inference call (GET /v1/models) does not forward the client\'s gateway credential to the upstream', async () => {
    processor = await startTestProcessor(injecting());
    const stream = new ScriptedStream(processor);
    const answer = await stream.requestHeaders({ ...BASE_HEADERS, ':method': 'GET', ':path': '/v1/models', authorization: 'Bearer gateway-key-of-tenant-b' }, true);
    await stream.end();
    const removed = answer.request_headers?.response?.header_mutation?.remove_headers ?? [];
    expect(removed.includes('authorization') || setHeaders(answer).has('authorization')).toBe(true);
  });
});
