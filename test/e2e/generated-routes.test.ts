// The route table `codex-affinity envoy-config` generates, loaded into the Envoy stand-in, with
// two accounts on their own upstream hosts and their own keys: a call on a stored object must
// reach the account holding it, with that account's key, and never the default account's host
// (which is what the generated routes did before they had a stored-object route).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { envoyBootstrap } from '../../src/envoy/bootstrap.js';
import { createLogger } from '../../src/logging/logger.js';
import { startServer, type RunningServer } from '../../src/server.js';
import { startFakeAccount, type FakeAccount } from '../fake-upstream/index.js';
import { startEnvoy, type Envoy } from '../harness/index.js';
import { affinityEnvoy } from './stack.js';

type Json = any; // generated routes, walked freely
const KEYS = { eu: 'sk-account-eu', us: 'sk-account-us' } as const;
const ENV = { eu: 'GENERATED_ROUTES_KEY_EU', us: 'GENERATED_ROUTES_KEY_US' } as const;

/** The generated routes in the harness's shape: what it models (Envoy's default 503 for an unknown cluster; no Host rewrite or idle timeout). */
function harnessRoutes(config: Config): Json[] {
  const hcm = envoyBootstrap(config) as Json;
  const routes: Json[] = hcm.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes;
  return routes.map(({ name, match, route, typed_per_filter_config: perFilter }) => {
    const { cluster, cluster_header: clusterHeader, timeout, retry_policy: retryPolicy, upgrade_configs: upgrades } = route;
    expect(route.cluster_not_found_response_code ?? 'SERVICE_UNAVAILABLE').toBe('SERVICE_UNAVAILABLE'); // the harness's default
    return {
      name,
      match,
      route: { cluster, cluster_header: clusterHeader, timeout, retry_policy: retryPolicy, upgrade_configs: upgrades },
      ...(perFilter ? { typed_per_filter_config: { 'envoy.filters.http.ext_proc': { overrides: perFilter['envoy.filters.http.ext_proc'].overrides } } } : {}),
    };
  });
}

describe('the generated route table in the Envoy stand-in, per-account hosts and keys', () => {
  let accounts: Record<'eu' | 'us', FakeAccount>;
  let processor: RunningServer;
  let envoy: Envoy;
  let config: Config;

  beforeAll(async () => {
    process.env[ENV.eu] = KEYS.eu;
    process.env[ENV.us] = KEYS.us;
    accounts = {
      eu: await startFakeAccount({ name: 'eu', domain: 'org-eu', profile: 'openai', expectedAuthorization: `Bearer ${KEYS.eu}` }),
      us: await startFakeAccount({ name: 'us', domain: 'org-us', profile: 'openai', expectedAuthorization: `Bearer ${KEYS.us}` }),
    };
    config = parseConfig({
      grpc: { host: '127.0.0.1', port: 0 },
      http: { host: '127.0.0.1', port: 0 },
      logging: { level: 'warn' },
      // eu is the first openai account: the default cluster of everything the processor does not route.
      accounts: (['eu', 'us'] as const).map((name) => ({ name, cluster: `cluster-${name}`, domain: `org-${name}`, profile: 'openai', credential: { apiKey: { env: ENV[name] } } })),
    });
    processor = await startServer(config, { logger: createLogger('warn') });
    const base = affinityEnvoy(processor.grpcAddress, config.routing.clusterHeader, Object.values(accounts), undefined);
    envoy = await startEnvoy({ ...(base as Exclude<typeof base, string>), route_config: { routes: harnessRoutes(config) } });
  });

  afterAll(async () => {
    await envoy?.close();
    await processor?.stop(1000);
    for (const account of Object.values(accounts ?? {})) await account.close();
    delete process.env[ENV.eu];
    delete process.env[ENV.us];
  });

  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(new URL(path, envoy.url), {
      method,
      headers: { authorization: 'Bearer sk-client', 'content-type': 'application/json', 'session-id': `s-${Math.random()}` },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    let json: Json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = { text };
    }
    return { status: response.status, account: response.headers.get('x-fake-account'), json, record: envoy.log.at(-1)! };
  };

  it('GET and DELETE /v1/conversations/{id} and GET /v1/responses/{id} reach the account holding the object, with its key', { timeout: 60_000 }, async () => {
    // Conversations are created on either account; make sure one lives on us, not the default account.
    const created: Array<{ id: string; account: string }> = [];
    for (let i = 0; i < 24 && !created.some((c) => c.account === 'us'); i++) {
      const result = await call('POST', '/v1/conversations', { metadata: { n: String(i) } });
      expect(result.status, JSON.stringify([result.json, result.record])).toBe(200);
      expect(result.record.cluster).toBe(`cluster-${result.account}`);
      created.push({ id: result.json.id, account: result.account! });
    }
    const onUs = created.find((c) => c.account === 'us');
    expect(onUs, JSON.stringify(created)).toBeDefined();
    for (const { id, account } of created) {
      const read = await call('GET', `/v1/conversations/${id}`);
      expect([read.status, read.account, read.record.cluster]).toEqual([200, account, `cluster-${account}`]);
      expect(read.json.id).toBe(id);
    }
    const deleted = await call('DELETE', `/v1/conversations/${onUs!.id}`);
    expect([deleted.status, deleted.account]).toEqual([200, 'us']);

    // A stored response on us: GET /v1/responses/{id} goes to us with us's key. (The fake upstream
    // does not serve that path: what matters is the host it reached and the key it carried.)
    let stored: { id: string; account: string } | undefined;
    for (let i = 0; i < 24 && stored?.account !== 'us'; i++) {
      const result = await call('POST', '/v1/responses', { model: 'gpt-5.1', input: `hello ${i}`, store: true });
      expect(result.status).toBe(200);
      stored = { id: result.json.id, account: result.account! };
    }
    expect(stored?.account).toBe('us');
    const before = accounts.us.requests.length;
    const retrieve = await call('GET', `/v1/responses/${stored!.id}?include=x`);
    expect(retrieve.record.cluster).toBe('cluster-us');
    expect(retrieve.status).not.toBe(401); // us's key on us's host
    const seen = accounts.us.requests.slice(before);
    expect(seen.map((r) => [r.method, r.path, r.headers.authorization])).toEqual([['GET', `/v1/responses/${stored!.id}`, `Bearer ${KEYS.us}`]]);
    expect(accounts.eu.requests.some((r) => r.path.startsWith(`/v1/responses/${stored!.id}`))).toBe(false);
  });

  it('control: the route table without the stored-object routes (as before) sends us\'s key to eu\'s host', { timeout: 60_000 }, async () => {
    const before = parseConfig({ ...structuredClone(config), routing: { ...config.routing, storedObjectCalls: false } });
    const base = affinityEnvoy(processor.grpcAddress, config.routing.clusterHeader, Object.values(accounts), undefined);
    const old = await startEnvoy({ ...(base as Exclude<typeof base, string>), route_config: { routes: harnessRoutes(before) } });
    try {
      let conversation: { id: string; account: string } | undefined;
      for (let i = 0; i < 24 && conversation?.account !== 'us'; i++) {
        const response = await fetch(new URL('/v1/conversations', envoy.url), { method: 'POST', headers: { authorization: 'Bearer sk-client', 'content-type': 'application/json', 'session-id': `c-${i}` }, body: '{}' });
        conversation = { id: ((await response.json()) as Json).id, account: response.headers.get('x-fake-account')! };
      }
      expect(conversation?.account).toBe('us');
      const response = await fetch(new URL(`/v1/conversations/${conversation!.id}`, old.url), { headers: { authorization: 'Bearer sk-client' } });
      await response.text();
      const record = old.log.at(-1)!;
      // The processor chose us and injected us's key; the fixed default route sent it to eu.
      expect(record.dynamic_metadata.codex_affinity?.account).toBe('us');
      expect([record.cluster, record.upstream_request_headers?.authorization, response.status]).toEqual(['cluster-eu', `Bearer ${KEYS.us}`, 401]);
    } finally {
      await old.close();
    }
  });

  it('calls the processor does not route keep the default account, without the client\'s key where credentials are lent', async () => {
    const before = accounts.eu.requests.length;
    const models = await call('GET', '/v1/models');
    expect(models.record.cluster).toBe('cluster-eu');
    expect(accounts.eu.requests.slice(before).map((r) => [r.path, r.headers.authorization])).toEqual([['/v1/models', undefined]]);
    const compact = await call('GET', '/v1/responses/compact');
    expect(compact.record.cluster).toBe('cluster-eu');
  });
});
