import { afterEach, describe, expect, it } from 'vitest';
import type { WireProcessingResponse } from '../../src/extproc/wire-types.js';
import { codexRequest, metadataOf, routedCluster, ScriptedStream, setHeaders, startTestProcessor, type TestProcessor } from '../support/processor.js';
import { upstreamErrors } from '../support/upstream-errors.js';

let processor: TestProcessor | undefined;
afterEach(async () => {
  await processor?.close();
  processor = undefined;
});

interface Exchange {
  cluster: string | undefined;
  metadata: Record<string, unknown>;
  responseHeadersAnswer?: WireProcessingResponse;
  responseBodyAnswer?: WireProcessingResponse;
}

/** One request and the upstream's answer (status, headers, body) through the processor. */
async function exchange(
  target: TestProcessor,
  request: { headers: Record<string, string>; body: object },
  answer: { status: number; headers?: Record<string, string>; body?: string } = { status: 200 },
): Promise<Exchange> {
  const stream = new ScriptedStream(target);
  await stream.requestHeaders(request.headers);
  const routed = await stream.requestBody(request.body);
  const result: Exchange = { cluster: routedCluster(routed), metadata: metadataOf(routed) };
  result.responseHeadersAnswer = await stream.responseHeaders({ ':status': String(answer.status), 'content-type': 'application/json', ...answer.headers }, answer.body === undefined);
  if (answer.body !== undefined && result.responseHeadersAnswer.mode_override?.response_body_mode === 'BUFFERED') {
    result.responseBodyAnswer = await stream.responseBody(answer.body, true);
  }
  await stream.end();
  return result;
}

const SINGLE_DOMAIN_PAIR = [
  { name: 'a1', cluster: 'cluster-a1', domain: 'org-a' },
  { name: 'b1', cluster: 'cluster-b1', domain: 'org-b' },
];

describe('error classes and what the processor does', () => {
  const fixtures = upstreamErrors(1_800_000_000_000);
  const fixture = (name: string) => fixtures.find((entry) => entry.name === name)!;

  it.each([['openai invalid_encrypted_content'], ['chatgpt backend invalid_encrypted_content with code null'], ['openai previous_response_not_found'], ['chatgpt backend invalid previous_response_id']])(
    '%s: body read through mode_override, binding kept and never hardened by an error, account stays healthy, status untouched, header says account-bound',
    async (name) => {
      processor = await startTestProcessor();
      const error = fixture(name);
      const first = await exchange(processor, codexRequest({ session: 'bound', turn: 1 }));
      const failed = await exchange(processor, codexRequest({ session: 'bound', turn: 1 }), { status: error.status, body: JSON.stringify(error.body) });
      expect(failed.responseHeadersAnswer!.mode_override).toMatchObject({ response_body_mode: 'BUFFERED' });
      const headers = setHeaders(failed.responseBodyAnswer!);
      expect(headers.get('x-codex-affinity-session')).toBe('account-bound');
      expect(headers.has(':status')).toBe(false);
      expect(metadataOf(failed.responseBodyAnswer!)).toMatchObject({ error_class: error.class });
      // The session stays where it was, and an error proves nothing: it is not made hard.
      const next = await exchange(processor, codexRequest({ session: 'bound', turn: 1 }));
      expect([next.cluster, next.metadata.strength, next.metadata.outcome]).toEqual([first.cluster, 'soft', 'bound']);
      const account = String(first.metadata.account);
      const view = processor.server.context.accountState.view(account, processor.clock.now);
      expect([view.recentFailures, view.coolingDownUntil, view.credentialFailedUntil]).toEqual([0, 0, 0]);
    },
  );

  it('rate_limit_exceeded: the account cools down for the time the message names, then serves again', async () => {
    processor = await startTestProcessor({ accounts: SINGLE_DOMAIN_PAIR });
    const error = fixture('openai rate_limit_exceeded with try again in');
    const first = await exchange(processor, codexRequest({ session: 'rl', turn: 1 }));
    await exchange(processor, codexRequest({ session: 'rl', turn: 1 }), { status: 429, body: JSON.stringify(error.body) });
    const account = String(first.metadata.account);
    expect(processor.server.context.accountState.view(account, processor.clock.now).coolingDownUntil).toBe(processor.clock.now + 20_000);
    for (let index = 0; index < 4; index++) expect((await exchange(processor, codexRequest({ session: `new-${index}`, turn: 1 }))).metadata.account).not.toBe(account);
    processor.clock.now += 21_000;
    const accounts = new Set<unknown>();
    for (let index = 0; index < 4; index++) accounts.add((await exchange(processor, codexRequest({ session: `later-${index}`, turn: 1 }))).metadata.account);
    expect(accounts.has(account)).toBe(true);
  });

  it('usage_limit_reached: cooldown until resets_at from the body (no retry-after header)', async () => {
    processor = await startTestProcessor({ accounts: SINGLE_DOMAIN_PAIR });
    const error = upstreamErrors(processor.clock.now).find((entry) => entry.class === 'usage_limit_reached')!;
    const first = await exchange(processor, codexRequest({ session: 'usage', turn: 1 }));
    await exchange(processor, codexRequest({ session: 'usage', turn: 1 }), { status: 429, body: JSON.stringify(error.body) });
    const until = processor.server.context.accountState.view(String(first.metadata.account), processor.clock.now).coolingDownUntil;
    expect(Math.round((until - processor.clock.now) / 1000)).toBe(3600);
  });

  it('insufficient_quota: a long cooldown (health.quotaCooldown)', async () => {
    processor = await startTestProcessor({ accounts: SINGLE_DOMAIN_PAIR, health: { quotaCooldown: '2h' } });
    const first = await exchange(processor, codexRequest({ session: 'quota', turn: 1 }));
    await exchange(processor, codexRequest({ session: 'quota', turn: 1 }), { status: 429, body: JSON.stringify(fixture('openai insufficient_quota').body) });
    expect(processor.server.context.accountState.view(String(first.metadata.account), processor.clock.now).coolingDownUntil).toBe(processor.clock.now + 7_200_000);
  });

  it('401 on an account whose credential the processor injects: marked failed, new sessions avoid it, logged once with the account name only', async () => {
    process.env.TEST_ACCOUNT_KEY = 'sk-account-key';
    processor = await startTestProcessor({ accounts: SINGLE_DOMAIN_PAIR.map((account) => ({ ...account, credential: { apiKey: { env: 'TEST_ACCOUNT_KEY' } } })) });
    // A hard session stays on its account (its domain has no other), so all three 401s hit one account.
    const first = await exchange(processor, codexRequest({ session: 'creds', turn: 2, principal: 'sk-client-secret' }));
    const account = String(first.metadata.account);
    for (let index = 0; index < 3; index++) {
      const again = await exchange(processor, codexRequest({ session: 'creds', turn: 2, principal: 'sk-client-secret' }), { status: 401, body: JSON.stringify(fixture('chatgpt unauthorized').body) });
      expect(again.metadata.account).toBe(account);
    }
    for (let index = 0; index < 4; index++) expect((await exchange(processor, codexRequest({ session: `fresh-${index}`, turn: 1 }))).metadata.account).not.toBe(account);
    const lines = processor.logs.filter((line) => line.includes('rejected the account credential'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`"account":"${account}"`);
    expect(processor.logs.join('')).not.toContain('sk-client-secret');
  });

  it('401 without an injected credential is the client key’s problem: one tenant cannot take the account from the others', async () => {
    processor = await startTestProcessor({ accounts: SINGLE_DOMAIN_PAIR });
    const victim = await exchange(processor, codexRequest({ session: 'tenant-1', turn: 1, principal: 'good-key' }));
    const account = String(victim.metadata.account);
    const hit = new Set<unknown>();
    for (let index = 0; index < 12; index++) {
      const rejected = await exchange(processor, codexRequest({ session: `tenant-2-${index}`, turn: 2, principal: 'revoked-key' }), { status: 401, body: JSON.stringify(fixture('openai invalid_api_key').body) });
      hit.add(rejected.metadata.account);
    }
    expect(hit.has(account)).toBe(true);
    const next = await exchange(processor, codexRequest({ session: 'tenant-1', turn: 1, principal: 'good-key' }));
    expect([next.metadata.account, next.metadata.outcome]).toEqual([account, 'bound']);
    expect(processor.server.context.accountState.view(account, processor.clock.now).credentialFailedUntil).toBe(0);
  });

  it('5xx: counted in a sliding window; past the threshold the account gets no new sessions and soft sessions move', async () => {
    // Only the failure window here: balancing's error-rate escape (which would move the
    // session after its second 5xx) is set out of reach; test/balance covers it.
    processor = await startTestProcessor({ accounts: SINGLE_DOMAIN_PAIR, health: { failureThreshold: 3, failureWindow: '60s' }, balance: { errorRate: 1 } });
    const first = await exchange(processor, codexRequest({ session: 'flaky', turn: 1 }));
    for (let index = 0; index < 3; index++) await exchange(processor, codexRequest({ session: 'flaky', turn: 1 }), { status: 503, body: JSON.stringify(fixture('server_is_overloaded').body) });
    const moved = await exchange(processor, codexRequest({ session: 'flaky', turn: 1 }));
    expect(moved.cluster).not.toBe(first.cluster);
    expect(moved.metadata.outcome).toBe('moved');
    processor.clock.now += 61_000;
    const view = processor.server.context.accountState.view(String(first.metadata.account), processor.clock.now);
    expect(view.recentFailures).toBe(0);
  });

  it('an SSE response.failed with invalid_encrypted_content is an error too: no proof, nothing hardened', async () => {
    processor = await startTestProcessor();
    const stream = new ScriptedStream(processor);
    const request = codexRequest({ session: 'sse-fail', turn: 1 });
    await stream.requestHeaders(request.headers);
    const routed = await stream.requestBody(request.body);
    await stream.responseHeaders({ ':status': '200', 'content-type': 'text/event-stream' });
    const failed = { type: 'response.failed', sequence_number: 1, response: { id: 'resp_f', status: 'failed', error: { code: 'invalid_encrypted_content', message: 'The encrypted content for item rs_1 could not be verified.' } } };
    await stream.responseBody(`event: response.failed\ndata: ${JSON.stringify(failed)}\n\n`, true);
    await stream.end();
    const next = await exchange(processor, codexRequest({ session: 'sse-fail', turn: 1 }));
    expect([next.cluster, next.metadata.strength]).toEqual([routedCluster(routed), 'soft']);
    const metrics = await processor.server.context.metrics.registry.getSingleMetricAsString('codex_affinity_upstream_errors_total');
    expect(metrics).toMatch(/error_class="invalid_encrypted_content"} 1/);
  });

  it('an account near its usage window gets fewer new sessions', async () => {
    processor = await startTestProcessor({ accounts: SINGLE_DOMAIN_PAIR });
    const first = await exchange(processor, codexRequest({ session: 'usage-probe', turn: 1 }), { status: 200, headers: { 'x-codex-primary-used-percent': '95' } });
    const nearAccount = String(first.metadata.account);
    const counts = new Map<string, number>();
    for (let index = 0; index < 20; index++) {
      // Keep one request in flight on each account so load decides, with the near-limit penalty.
      const account = String((await exchange(processor, codexRequest({ session: `spread-${index}`, turn: 1 }))).metadata.account);
      counts.set(account, (counts.get(account) ?? 0) + 1);
    }
    expect(counts.get(nearAccount) ?? 0).toBeLessThan(counts.get(nearAccount === 'a1' ? 'b1' : 'a1') ?? 0);
  });
});

describe('forced streams', () => {
  it('a non-streaming client of a chatgpt-codex account gets JSON back, not the SSE the backend requires', async () => {
    processor = await startTestProcessor({ accounts: [{ name: 'codex', cluster: 'cluster-codex', profile: 'chatgpt-codex' }] });
    const stream = new ScriptedStream(processor);
    await stream.requestHeaders({ ':method': 'POST', ':path': '/v1/responses', 'content-type': 'application/json', 'session-id': 'sdk' });
    const routed = await stream.requestBody({ model: 'gpt-5', input: 'hi', instructions: 'x' });
    expect(JSON.parse(Buffer.from(routed.request_body!.response!.body_mutation!.body!).toString())).toMatchObject({ stream: true, store: false });
    const headersAnswer = await stream.responseHeaders({ ':status': '200', 'content-type': 'text/event-stream' });
    expect(headersAnswer.mode_override?.response_body_mode).toBe('BUFFERED');
    const completed = { id: 'resp_json', object: 'response', status: 'completed', output: [{ type: 'message', content: [{ type: 'output_text', text: 'hello' }] }] };
    const sse = [
      `event: response.created\ndata: ${JSON.stringify({ type: 'response.created', sequence_number: 0, response: { id: 'resp_json', status: 'in_progress' } })}\n\n`,
      `event: response.completed\ndata: ${JSON.stringify({ type: 'response.completed', sequence_number: 1, response: completed })}\n\n`,
    ].join('');
    const answer = await stream.responseBody(sse, true);
    await stream.end();
    const body = Buffer.from(answer.response_body!.response!.body_mutation!.body!);
    expect(JSON.parse(body.toString())).toEqual(completed);
    const headers = setHeaders(answer);
    expect(headers.get('content-type')).toBe('application/json');
    expect(headers.get('content-length')).toBe(String(body.length));
  });
});

describe('errors about one request leave the account alone', () => {
  const SINGLE = [
    { name: 'a1', cluster: 'cluster-a1', domain: 'org-a' },
    { name: 'b1', cluster: 'cluster-b1', domain: 'org-b' },
  ];

  it('a 429 "Request too large … tokens per min" does not cool the account (on this replica or any other)', async () => {
    processor = await startTestProcessor({ accounts: SINGLE });
    const first = await exchange(processor, codexRequest({ session: 'huge', turn: 1 }));
    const tooLarge = {
      error: {
        message: 'Request too large for gpt-5.1 in organization org-xyz on tokens per min (TPM): Limit 30000, Requested 50000. The input or output tokens must be reduced in order to run successfully.',
        type: 'tokens',
        param: null,
        code: 'rate_limit_exceeded',
      },
    };
    await exchange(processor, codexRequest({ session: 'huge', turn: 1 }), { status: 429, headers: { 'retry-after': '60' }, body: JSON.stringify(tooLarge) });
    const view = processor.server.context.accountState.view(String(first.metadata.account), processor.clock.now);
    expect(view.coolingDownUntil).toBe(0);
    expect(await processor.server.context.metrics.registry.getSingleMetricAsString('codex_affinity_upstream_errors_total')).toMatch(/error_class="request_too_large"} 1/);
  });

  it('a 429 whose body never comes is judged by its headers: the account cools down', async () => {
    processor = await startTestProcessor({ accounts: SINGLE });
    const first = await exchange(processor, codexRequest({ session: 'bodiless', turn: 1 }));
    await exchange(processor, codexRequest({ session: 'bodiless', turn: 1 }), { status: 429, headers: { 'retry-after': '60' } });
    expect(processor.server.context.accountState.view(String(first.metadata.account), processor.clock.now).coolingDownUntil).toBe(processor.clock.now + 60_000);
  });

  it('a 403 about a model (injected credential) leaves the credential alone; a 403 saying the account is deactivated does not', async () => {
    process.env.TEST_ACCOUNT_KEY = 'sk-account-key';
    processor = await startTestProcessor({ accounts: SINGLE.map((account) => ({ ...account, credential: { apiKey: { env: 'TEST_ACCOUNT_KEY' } } })) });
    const first = await exchange(processor, codexRequest({ session: 'model', turn: 1 }));
    const account = String(first.metadata.account);
    const modelDenied = { error: { message: 'Project `proj_abc` does not have access to model `gpt-5.1-pro`', type: 'invalid_request_error', param: null, code: 'model_not_found' } };
    await exchange(processor, codexRequest({ session: 'model', turn: 1 }), { status: 403, body: JSON.stringify(modelDenied) });
    expect(processor.server.context.accountState.view(account, processor.clock.now).credentialFailedUntil).toBe(0);
    const deactivated = { error: { message: 'This account has been deactivated, please reach out to support.', type: 'invalid_request_error', param: null, code: null } };
    await exchange(processor, codexRequest({ session: 'model', turn: 1 }), { status: 403, body: JSON.stringify(deactivated) });
    expect(processor.server.context.accountState.view(account, processor.clock.now).credentialFailedUntil).toBeGreaterThan(processor.clock.now);
  });

  it('a 404 model_not_found quoting a model named "usage limit" leaves the account alone; a real 429 usage_limit_reached still cools it', async () => {
    processor = await startTestProcessor({ accounts: SINGLE });
    const first = await exchange(processor, codexRequest({ session: 'echo-usage', turn: 1 }));
    const account = String(first.metadata.account);
    const notFound = { error: { message: 'The model `usage limit` does not exist or you do not have access to it.', type: 'invalid_request_error', param: null, code: 'model_not_found' } };
    const failed = await exchange(processor, codexRequest({ session: 'echo-usage', turn: 1 }), { status: 404, body: JSON.stringify(notFound) });
    expect(metadataOf(failed.responseBodyAnswer!)).toMatchObject({ error_class: 'other' });
    expect(processor.server.context.accountState.view(account, processor.clock.now).coolingDownUntil).toBe(0);
    const usage = upstreamErrors(processor.clock.now).find((entry) => entry.class === 'usage_limit_reached')!;
    await exchange(processor, codexRequest({ session: 'echo-usage', turn: 1 }), { status: 429, body: JSON.stringify(usage.body) });
    expect(processor.server.context.accountState.view(account, processor.clock.now).coolingDownUntil).toBe(processor.clock.now + 3_600_000);
  });

  it('ten 404s quoting a model named "overloaded" count no failure; a 500 saying overloaded still does', async () => {
    processor = await startTestProcessor({ accounts: SINGLE, health: { failureThreshold: 5, failureWindow: '60s' } });
    const first = await exchange(processor, codexRequest({ session: 'echo-overloaded', turn: 1 }));
    const account = String(first.metadata.account);
    const notFound = { error: { message: 'The model `overloaded` does not exist or you do not have access to it.', type: 'invalid_request_error', param: null, code: 'model_not_found' } };
    for (let index = 0; index < 10; index++) {
      const failed = await exchange(processor, codexRequest({ session: 'echo-overloaded', turn: 1 }), { status: 404, body: JSON.stringify(notFound) });
      expect(failed.metadata.account).toBe(account);
    }
    expect(processor.server.context.accountState.view(account, processor.clock.now).recentFailures).toBe(0);
    const still = await exchange(processor, codexRequest({ session: 'echo-overloaded', turn: 1 }));
    expect([still.metadata.account, still.metadata.outcome]).toEqual([account, 'bound']);
    const overloaded = { error: { message: 'The server is overloaded. Please try again later.', type: 'server_error', param: null, code: null } };
    const failed = await exchange(processor, codexRequest({ session: 'echo-overloaded', turn: 1 }), { status: 500, body: JSON.stringify(overloaded) });
    expect(metadataOf(failed.responseBodyAnswer!)).toMatchObject({ error_class: 'server_is_overloaded' });
    expect(processor.server.context.accountState.view(account, processor.clock.now).recentFailures).toBe(1);
  });

  it('a 403 model_not_found quoting a project named "deactivated-project" (injected credential) leaves the credential alone', async () => {
    process.env.TEST_ACCOUNT_KEY = 'sk-account-key';
    processor = await startTestProcessor({ accounts: SINGLE.map((account) => ({ ...account, credential: { apiKey: { env: 'TEST_ACCOUNT_KEY' } } })) });
    const first = await exchange(processor, codexRequest({ session: 'echo-project', turn: 1 }));
    const account = String(first.metadata.account);
    const denied = { error: { message: 'Organization `org-abc` has no access to model `gpt-5` in project `deactivated-project`.', type: 'invalid_request_error', param: null, code: 'model_not_found' } };
    const failed = await exchange(processor, codexRequest({ session: 'echo-project', turn: 1 }), { status: 403, body: JSON.stringify(denied) });
    expect(metadataOf(failed.responseBodyAnswer!)).toMatchObject({ error_class: 'forbidden' });
    // Quoted names are not read without a code either.
    const quoted = { error: { message: 'Your organization does not have access to model `account revoked`.', type: 'invalid_request_error', param: null, code: null } };
    await exchange(processor, codexRequest({ session: 'echo-project', turn: 1 }), { status: 403, body: JSON.stringify(quoted) });
    expect(processor.server.context.accountState.view(account, processor.clock.now).credentialFailedUntil).toBe(0);
  });

  it('an error message of any size is read in bounded time: only its first 2 KB count', async () => {
    processor = await startTestProcessor({ accounts: SINGLE });
    const huge = { error: { message: `${'x'.repeat(256 * 1024)} The encrypted content could not be verified.`, type: 'invalid_request_error', code: null } };
    const failed = await exchange(processor, codexRequest({ session: 'long-message', turn: 1 }), { status: 400, body: JSON.stringify(huge) });
    // The phrase lies past the bound: not taken for an account-bound error.
    expect(metadataOf(failed.responseBodyAnswer!)).toMatchObject({ error_class: 'other' });
  });
});
