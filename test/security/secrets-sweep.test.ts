// The secrets sweep: a whole-stack run (Envoy stand-in, processor with the Redis store,
// fake accounts that check the injected credentials) with known canary values for every
// secret the processor touches: account credentials, the Redis HMAC secret, client keys,
// session ids, prompt cache keys and turn-state tokens. Then every place the processor
// writes is searched for each canary: its logs at trace (every level's lines), /metrics,
// the dynamic metadata Envoy received, the error bodies it answered itself, and
// everything in Redis (key names, values, and the messages it published).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/logging/logger.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { affinityEnvoy } from '../e2e/stack.js';
import { startFakeAccount, type FakeAccount } from '../fake-upstream/index.js';
import { startEnvoy, type Envoy } from '../harness/index.js';
import { connectTestRedis, redisProcessorSuite, TEST_REDIS_URL } from '../support/redis.js';

const suite = redisProcessorSuite('sweep', { beforeAll, afterEach, afterAll });

const CANARY = {
  accountApiKey: 'sk-canary-account-key-7f3a19',
  accessToken: 'canary-access-token-91c2e0',
  chatgptAccountId: 'canary-account-id-55d1b7',
  hmacSecret: 'canary-hmac-secret-3c8e42',
  clientKey: 'sk-canary-client-key-0b9e61',
  otherClientKey: 'sk-canary-other-client-2d4f08',
  sessionId: 'canary-session-id-4e7d93',
  promptCacheKey: 'canary-prompt-cache-key-88aa17',
};

const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
});

interface ClientAnswer {
  status: number;
  body: string;
  headers: Headers;
}

async function call(envoy: Envoy, path: string, headers: Record<string, string>, body?: unknown, method = 'POST'): Promise<ClientAnswer> {
  const response = await fetch(new URL(path, envoy.url), {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: response.status, body: await response.text(), headers: response.headers };
}

/** Every key under the prefix with its value, as text. */
async function redisContents(admin: Redis, prefix: string): Promise<string> {
  const parts: string[] = [];
  for (const key of await admin.keys(`${prefix}*`)) {
    parts.push(key);
    const type = await admin.type(key);
    if (type === 'string') parts.push(String(await admin.get(key)));
    else if (type === 'hash') parts.push(JSON.stringify(await admin.hgetall(key)));
    else if (type === 'set') parts.push(JSON.stringify(await admin.smembers(key)));
    else if (type === 'zset') parts.push(JSON.stringify(await admin.call('zrange', key, '0', '-1', 'WITHSCORES')));
    else if (type === 'list') parts.push(JSON.stringify(await admin.lrange(key, 0, -1)));
    else parts.push(`(${type})`);
  }
  return parts.join('\n');
}

describe('secrets sweep', () => {
  it('no canary secret reaches logs (any level), /metrics, dynamic metadata, the processor’s error bodies or Redis', { timeout: 60_000 }, async () => {
    const directory = mkdtempSync(join(tmpdir(), 'codex-affinity-sweep-'));
    closers.push(async () => rmSync(directory, { recursive: true, force: true }));
    writeFileSync(join(directory, 'api-key'), `${CANARY.accountApiKey}\n`);
    process.env.CODEX_AFFINITY_SWEEP_TOKEN = CANARY.accessToken;
    process.env.CODEX_AFFINITY_SWEEP_ACCOUNT_ID = CANARY.chatgptAccountId;
    process.env[suite.secretVariable] = CANARY.hmacSecret;
    closers.push(async () => {
      delete process.env.CODEX_AFFINITY_SWEEP_TOKEN;
      delete process.env.CODEX_AFFINITY_SWEEP_ACCOUNT_ID;
    });

    const api = await startFakeAccount({ name: 'api', domain: 'org-api', profile: 'openai', expectedAuthorization: `Bearer ${CANARY.accountApiKey}` });
    const codex = await startFakeAccount({ name: 'codex', domain: 'ws-codex', profile: 'chatgpt-codex', issueTurnState: true, expectedAuthorization: `Bearer ${CANARY.accessToken}` });
    closers.push(() => api.close(), () => codex.close());
    const fakes: FakeAccount[] = [api, codex];

    // Everything Redis is told, including what the processor publishes to other replicas.
    const listener = await connectTestRedis();
    const published: string[] = [];
    listener.on('pmessage', (_pattern: string, channel: string, message: string) => published.push(`${channel} ${message}`));
    await listener.psubscribe(`${suite.prefix}*`);
    closers.push(() => listener.quit());

    const config = parseConfig({
      grpc: { host: '127.0.0.1', port: 0 },
      http: { host: '127.0.0.1', port: 0 },
      logging: { level: 'trace' },
      routing: { poolHeader: 'x-sweep-pool' },
      store: { kind: 'redis', url: TEST_REDIS_URL, keyPrefix: suite.prefix, hmacSecret: { env: suite.secretVariable } },
      accounts: [
        { name: 'api', cluster: 'cluster-api', domain: 'org-api', profile: 'openai', credential: { apiKey: { file: join(directory, 'api-key') } } },
        {
          name: 'codex',
          cluster: 'cluster-codex',
          domain: 'ws-codex',
          profile: 'chatgpt-codex',
          credential: { chatgpt: { accessToken: { env: 'CODEX_AFFINITY_SWEEP_TOKEN' }, accountId: { env: 'CODEX_AFFINITY_SWEEP_ACCOUNT_ID' } } },
        },
      ],
      pools: [
        { name: 'api', accounts: ['api'] },
        { name: 'codex', accounts: ['codex'] },
      ],
    });
    const logs: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, callback) {
        logs.push(String(chunk));
        callback();
      },
    });
    const processor: RunningServer = await startServer(config, { logger: createLogger('trace', sink) });
    closers.push(() => processor.stop(1000));
    const envoy = await startEnvoy(affinityEnvoy(processor.grpcAddress, config.routing.clusterHeader, fakes, undefined));
    closers.push(() => envoy.close());

    const client = (key: string, pool: string): Record<string, string> => ({ authorization: `Bearer ${key}`, 'x-sweep-pool': pool });
    const answers: ClientAnswer[] = [];

    // A Codex session over three turns, replaying the turn-state token it was given.
    let turnState: string | undefined;
    for (let turn = 1; turn <= 3; turn++) {
      const answer = await call(
        envoy,
        '/v1/responses',
        { ...client(CANARY.clientKey, 'codex'), accept: 'text/event-stream', 'session-id': CANARY.sessionId, 'thread-id': CANARY.sessionId, ...(turnState ? { 'x-codex-turn-state': turnState } : {}) },
        { model: 'gpt-5.1-codex', instructions: 'be brief', input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: `turn ${turn}` }] }], stream: true, store: false, prompt_cache_key: CANARY.promptCacheKey },
      );
      answers.push(answer);
      expect(answer.status).toBe(200);
      turnState = answer.headers.get('x-codex-turn-state') ?? turnState;
    }
    expect(codex.issuedTurnStates.size).toBeGreaterThan(0);

    // An API client that stores a response and continues it; another tenant tries it.
    const stored = await call(envoy, '/v1/responses', { ...client(CANARY.clientKey, 'api'), 'session-id': CANARY.sessionId }, { model: 'gpt-5.1', input: 'hello', store: true });
    expect(stored.status).toBe(200);
    const responseId = (JSON.parse(stored.body) as { id: string }).id;
    answers.push(stored, await call(envoy, '/v1/responses', client(CANARY.clientKey, 'api'), { model: 'gpt-5.1', input: 'more', previous_response_id: responseId, store: true }));
    const foreign = await call(envoy, '/v1/responses', { ...client(CANARY.otherClientKey, 'api'), 'session-id': CANARY.sessionId }, { model: 'gpt-5.1', input: 'x', previous_response_id: responseId });
    expect(foreign.status).toBe(404);
    // A caller who names no principal, and a rate-limited answer that cools the account.
    const anonymous = await call(envoy, '/v1/responses', { 'x-sweep-pool': 'api', 'session-id': CANARY.sessionId }, { model: 'gpt-5.1', input: 'x' });
    expect(anonymous.status).toBe(401);
    api.setFault({ kind: 'status', status: 429 });
    answers.push(foreign, anonymous, await call(envoy, '/v1/responses', { ...client(CANARY.clientKey, 'api'), 'session-id': CANARY.sessionId }, { model: 'gpt-5.1', input: 'x' }));
    // Give the last learned writes and published messages a moment to land.
    await new Promise((resolve) => setTimeout(resolve, 200));

    const metrics = await (await fetch(`${processor.httpAddress}/metrics`)).text();
    const places: Record<string, string> = {
      logs: logs.join(''),
      metrics,
      'dynamic metadata': JSON.stringify(envoy.log.map((record) => record.dynamic_metadata)),
      'error bodies': answers.filter((answer) => answer.headers.get('x-codex-affinity-error') !== null).map((answer) => answer.body).join('\n'),
      redis: await redisContents(listener.duplicate(), suite.prefix),
      'redis messages': published.join('\n'),
    };
    // Each place holds something, so an empty search cannot pass for a clean one.
    for (const [place, text] of Object.entries(places)) expect(text.length, place).toBeGreaterThan(0);
    expect(places.logs).toContain('"level":20'); // debug lines are in (the processor writes none at trace)
    expect(places['error bodies']).toContain('principal_required');
    expect(published.length).toBeGreaterThan(0);

    const canaries = { ...CANARY, ...Object.fromEntries([...codex.issuedTurnStates].map((token, index) => [`turnState${index}`, token])) };
    const found: string[] = [];
    for (const [place, text] of Object.entries(places)) {
      for (const [name, value] of Object.entries(canaries)) if (text.includes(value)) found.push(`${name} in ${place}`);
    }
    expect(found).toEqual([]);
  });
});
